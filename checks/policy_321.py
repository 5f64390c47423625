"""policy-321 (dataset level): the 3-2-1 rule on copies that actually verified.

Counting only copies whose checks all passed (the primary included): at least `copies` copies,
`media` distinct declared media, `offsite` copies at a location other than the primary's, and
optionally `immutable` copies proven immutable and zero errors (3-2-1-1-0)."""

from __future__ import annotations

from agent.config import Dataset
from agent.models import CheckResult, CopyResult, Status

ID = "policy-321"


def run_dataset(dataset: Dataset, copies: list[CopyResult]) -> CheckResult:
    policy = dataset.policy
    verified = [c for c in copies if c.verified]
    media = sorted({c.spec.target.medium for c in verified})
    primary_location = dataset.primary.target.location
    offsite = [c for c in verified if c.spec.target.location != primary_location]
    immutable = [c for c in verified if any(ch.name == "immutability" and ch.status == Status.PASS for ch in c.checks)]
    errors = [c for c in copies if not c.verified]
    shortfalls = []
    if len(verified) < policy.copies:
        shortfalls.append(f"{len(verified)} verified copies < {policy.copies}")
    if len(media) < policy.media:
        shortfalls.append(f"{len(media)} distinct media ({', '.join(media) or 'none'}) < {policy.media}")
    if len(offsite) < policy.offsite:
        shortfalls.append(f"{len(offsite)} copies away from {primary_location} < {policy.offsite}")
    if len(immutable) < policy.immutable:
        shortfalls.append(f"{len(immutable)} immutable copies < {policy.immutable}")
    if policy.zero_errors and errors:
        shortfalls.append(f"{len(errors)} copies in fail or error (zero required)")
    measured = {
        # A 3-2-1 verdict on every copy (agent.run sets it false when --target saw only some).
        "evaluated": True,
        "compliant": not shortfalls,
        "rule": policy.describe(),
        "verified_copies": len(verified),
        # Of those, counted from an earlier verification (another agent's, or an unplugged disk's last).
        "credited_copies": sum(1 for c in verified if c.credit is not None),
        "total_copies": len(copies),
        "distinct_media": len(media),
        "media": media,
        "offsite_copies": len(offsite),
        "immutable_copies": len(immutable),
        "required": {"copies": policy.copies, "media": policy.media, "offsite": policy.offsite,
                     "immutable": policy.immutable, "zero_errors": policy.zero_errors},
    }
    if shortfalls:
        return CheckResult(ID, Status.FAIL, f"{policy.describe()} not met: " + "; ".join(shortfalls), measured)
    return CheckResult(ID, Status.PASS,
                       f"{policy.describe()} met: {len(verified)} verified copies on {len(media)} media, "
                       f"{len(offsite)} offsite", measured)
