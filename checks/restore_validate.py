"""restore-validate: the dataset's application checks (`restore_test.validate`) on what the
restore test brought back, run in its scratch directory before it is removed — a pg_dump restored
into a throwaway PostgreSQL and queried, SQLite's integrity_check and queries, archives read to
the end, a command of yours (agent/validate/).

pass: every validator passed. fail: one found the data unusable (the restore reported errors, a
query returned no rows or false, an archive member is cut short, the command exited non-zero),
naming it. error: a validator could not run (pg_restore missing, no unprivileged user to run the
server as, time out), or the restore test ran but did not bring the data back. skip: the dataset
has no validators, or no restore test ran this time."""

from __future__ import annotations

from agent.checking import CopyContext
from agent.models import CheckResult, Status
from agent.validate import Validation

ID = "restore-validate"
FORMS = ("files", "restic", "objects")
ROLES = ("backup",)


def run(context: CopyContext) -> CheckResult:
    if not context.dataset.restore_test.validate:
        return CheckResult(ID, Status.SKIP, "no restore_test.validate for this dataset")
    found = context.restore_validation
    if found is None:
        return CheckResult(ID, Status.SKIP, "no restore test ran this time (restore-test)")
    if isinstance(found, str):
        return CheckResult(ID, Status.ERROR, found)
    validation: Validation = found
    return CheckResult(ID, validation.status, validation.detail(), validation.measured())
