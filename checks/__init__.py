"""The checks, one module each, and the one table that registers them.

A copy check module has ID, FORMS, ROLES, a docstring (its user documentation) and
run(CopyContext) -> CheckResult. Copy checks run in table order; a later check may rely on
what an earlier one recorded on the context (reachable's probe, freshness's last backup time)
and shares what the context read once (the copy's files, the restic snapshots).
A dataset check has run_dataset(dataset, copies) and runs once every copy was verified, in table
order: independence returns one result per copy (appended to that copy's checks), policy-321 the
dataset's verdict.
"""

from __future__ import annotations

from types import ModuleType

from agent.targets import handle_class
from checks import (
    anomaly,
    files_checksum,
    freshness,
    immutability,
    independence,
    policy_321,
    reachable,
    restic_packs,
    restic_read_data,
    restic_structure,
    restore_test,
    restore_validate,
)

COPY_CHECKS: dict[str, ModuleType] = {
    reachable.ID: reachable,
    freshness.ID: freshness,
    restic_structure.ID: restic_structure,
    restic_read_data.ID: restic_read_data,
    restic_packs.ID: restic_packs,  # every repository file's SHA-256 against its name, hashed where it lies
    files_checksum.ID: files_checksum,
    immutability.ID: immutability,
    anomaly.ID: anomaly,  # the newest backup against the last clean one; before the long restore test
    restore_test.ID: restore_test,  # it uses freshness's snapshots and may take long
    restore_validate.ID: restore_validate,  # reports what restore-test's validators found
}
DATASET_CHECKS: dict[str, ModuleType] = {
    independence.ID: independence,  # first: a copy sharing storage fails and is not counted by policy-321
    policy_321.ID: policy_321,
}


def get(check_id: str) -> ModuleType:
    """Return the module of a registered check. Raise KeyError naming the known ones."""
    table = {**COPY_CHECKS, **DATASET_CHECKS}
    try:
        return table[check_id]
    except KeyError:
        raise KeyError(f"unknown check {check_id!r}; known: {', '.join(table)}") from None


def applicable(form: str, role: str, kind: str | None = None) -> list[ModuleType]:
    """Return the copy checks for a form and role, in table order; a module with REQUIRES (target
    capabilities it needs, agent.targets.base.CAPABILITIES, e.g. immutability: can_prove_immutability)
    is left out for kinds whose handle lacks one."""
    handle = None if kind is None else handle_class(kind)
    return [m for m in COPY_CHECKS.values() if form in m.FORMS and role in m.ROLES
            and (handle is None or handle.supports(getattr(m, "REQUIRES", ())))]
