"""restic-structure: `restic check` — the repository's structure (index, packs present, trees)
is consistent. Errors it finds fail the copy; a repository that cannot be opened (wrong password,
missing, locked, unreachable) is an error. Flipped bytes inside a pack are not seen here: that is
restic-read-data's job.

In a run this check starts the repository's one `restic check --read-data-subset` that
restic-read-data reads too (checks/restic_read_data.py): the structure passes when it found no
error, or only errors in pack contents, which are restic-read-data's to report."""

from __future__ import annotations

from typing import Any

from agent.checking import CopyContext
from agent.models import CheckResult, Status
from agent.restic import ResticError, ResticFailure
from checks import restic_read_data

ID = "restic-structure"
FORMS = ("restic",)
ROLES = ("primary", "backup")


def run(context: CopyContext) -> CheckResult:
    if context.per_repository is not None:
        return _from_repository_check(context)
    try:
        with context.task("restic check"):
            context.restic.check()
    except ResticError as error:
        status = Status.FAIL if error.kind == ResticFailure.DATA_ERROR else Status.ERROR
        return CheckResult(ID, status, str(error))
    return CheckResult(ID, Status.PASS, "restic check: no errors were found")


def _from_repository_check(context: CopyContext) -> CheckResult:
    shared = restic_read_data.repository_check(context)
    measured: dict[str, Any] = {}
    note = restic_read_data.shared_note(context, shared, measured)
    if shared.error is None:
        return CheckResult(ID, Status.PASS, f"restic check: no errors were found{note}", measured)
    if shared.structure_sound:
        return CheckResult(ID, Status.PASS, "restic check: no errors in the structure (index, packs, trees); "
                           f"errors in the contents of packs read this run are restic-read-data's{note}", measured)
    status = Status.FAIL if shared.error.kind == ResticFailure.DATA_ERROR else Status.ERROR
    return CheckResult(ID, status, f"{shared.error}{note}", measured)
