"""restic-structure: `restic check` — the repository's structure (index, packs present, trees)
is consistent. Errors it finds fail the copy; a repository that cannot be opened (wrong password,
missing, locked, unreachable) is an error. Flipped bytes inside a pack are not seen here: that is
restic-read-data's job."""

from __future__ import annotations

from agent.checking import CopyContext
from agent.models import CheckResult, Status
from agent.restic import ResticError, ResticFailure

ID = "restic-structure"
FORMS = ("restic",)
ROLES = ("primary", "backup")


def run(context: CopyContext) -> CheckResult:
    try:
        with context.task("restic check"):
            context.restic.check()
    except ResticError as error:
        status = Status.FAIL if error.kind == ResticFailure.DATA_ERROR else Status.ERROR
        return CheckResult(ID, status, str(error))
    return CheckResult(ID, Status.PASS, "restic check: no errors were found")
