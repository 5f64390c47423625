"""immutability (3-2-1-1-0): the copy's bucket keeps what is written to it.

Runs for copies on targets whose handle can prove it (REQUIRES: s3) that claim to be immutable
(`immutable: true` on the copy) or whose dataset policy requires at least one immutable copy;
elsewhere it is skipped and the copy does not count as immutable. It passes when bucket versioning
is Enabled and object lock has a default retention rule (GOVERNANCE or COMPLIANCE) of at least the
target's `min_retention` (default 30d); any of these missing or shorter fails. GOVERNANCE
retention can be lifted by a user holding s3:BypassGovernanceRetention, so the detail names the
mode. A bucket that cannot be asked is an error.
policy-321 counts a copy as immutable only when this check passed."""

from __future__ import annotations

from agent.checking import CopyContext
from agent.errors import TargetUnavailable
from agent.models import CheckResult, Status
from agent.units import format_duration

ID = "immutability"
FORMS = ("objects", "restic")
ROLES = ("primary", "backup")
REQUIRES = ("can_prove_immutability",)  # TargetHandle capabilities: s3 is the kind with object lock to ask about


def run(context: CopyContext) -> CheckResult:
    spec = context.spec
    required = context.dataset.policy.immutable >= 1
    if not spec.immutable and not required:
        return CheckResult(ID, Status.SKIP, "not required: the copy is not marked immutable and the policy needs none")
    if not context.handle.can_prove_immutability:
        return CheckResult(ID, Status.SKIP, f"immutability is verified only on s3 targets; this {spec.target.kind} "
                                            "copy does not count as immutable")
    try:
        state = context.handle.immutability()
    except TargetUnavailable as error:
        return CheckResult(ID, Status.ERROR, f"cannot read the bucket's versioning and object lock: {error}")
    minimum = state.min_retention_seconds
    measured = {
        "versioning": state.versioning or "never enabled",
        "object_lock": state.object_lock,
        "retention_mode": state.mode,
        "retention_seconds": state.retention_seconds,
        "min_retention_seconds": minimum,
    }
    problems = []
    if state.versioning != "Enabled":
        problems.append(f"versioning is {state.versioning or 'not enabled'}")
    if not state.object_lock:
        problems.append("object lock is not enabled")
    elif not state.mode or not state.retention_seconds:
        problems.append("object lock has no default retention rule")
    elif state.retention_seconds < minimum:
        problems.append(f"default retention {format_duration(state.retention_seconds)} < minimum "
                        f"{format_duration(minimum)}")
    if problems:
        return CheckResult(ID, Status.FAIL, f"bucket {state.bucket} is not immutable: " + "; ".join(problems), measured)
    note = " (bypassable by s3:BypassGovernanceRetention)" if state.mode == "GOVERNANCE" else ""
    return CheckResult(ID, Status.PASS,
                       f"bucket {state.bucket}: versioning enabled, object lock {state.mode}{note} "
                       f"{format_duration(state.retention_seconds)} ≥ {format_duration(minimum)}", measured)
