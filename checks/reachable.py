"""reachable: the copy's target answers and its path is there. For local disks with
require_mount, the path must be on a mounted filesystem other than the root one, so an
unplugged disk reads `error: not mounted` rather than empty or stale. A detected medium that
disagrees with the declared one is a detail, never a failure (virtual disks lie)."""

from __future__ import annotations

from agent.checking import CopyContext
from agent.errors import TargetUnavailable
from agent.models import CheckResult, Status

ID = "reachable"
FORMS = ("files", "restic", "objects")
ROLES = ("primary", "backup")


def run(context: CopyContext) -> CheckResult:
    try:
        probe = context.handle.probe(context.spec.path, require_tree=context.spec.form == "files")
    except TargetUnavailable as error:
        return CheckResult(ID, Status.ERROR, str(error))
    context.probe = probe
    measured = {"detected_medium": probe.detected_medium} if probe.detected_medium else {}
    return CheckResult(ID, Status.PASS if probe.ok else Status.ERROR, probe.detail, measured)
