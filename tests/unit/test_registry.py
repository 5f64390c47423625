"""The registry table in checks/__init__.py, the modules in checks/ and their IDs agree.

A check module that exists but is not registered would silently never run; a registered one
without a docstring has no user documentation. Both are caught here."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest
import yaml

import checks
from agent import config as config_module
from agent.models import Status

MODULES = sorted(info.name for info in pkgutil.iter_modules(checks.__path__) if not info.name.startswith("_"))
TABLE = {**checks.COPY_CHECKS, **checks.DATASET_CHECKS}
SCHEMA_FORMS = set(yaml.safe_load(
    (config_module.Path(config_module.__file__).with_name("schema.yaml")).read_text(encoding="utf-8")
)["$defs"]["copy"]["properties"]["form"]["enum"])


def test_every_module_is_registered_once() -> None:
    registered = sorted(module.__name__.removeprefix("checks.") for module in TABLE.values())
    assert registered == MODULES
    assert not set(checks.COPY_CHECKS) & set(checks.DATASET_CHECKS)


@pytest.mark.parametrize("name", MODULES)
def test_module_shape(name: str) -> None:
    module = importlib.import_module(f"checks.{name}")
    assert isinstance(module.ID, str) and module.ID == name.replace("_", "-")
    assert TABLE[module.ID] is module, "the table key must be the module's ID"
    assert module.__doc__ and module.__doc__.strip().startswith(f"{module.ID}"), \
        "the docstring is the check's user documentation and starts with its ID"
    if module.ID in checks.DATASET_CHECKS:
        assert callable(module.run_dataset)
        assert list(inspect.signature(module.run_dataset).parameters)[:2] == ["dataset", "copies"]
    else:
        assert callable(module.run)
        assert len(inspect.signature(module.run).parameters) == 1
        assert module.FORMS and set(module.FORMS) <= SCHEMA_FORMS, "FORMS must be forms the schema knows"
        assert module.ROLES and set(module.ROLES) <= {"primary", "backup"}


def test_get_returns_registered_modules_and_refuses_unknown() -> None:
    for check_id, module in TABLE.items():
        assert checks.get(check_id) is module
    with pytest.raises(KeyError, match="unknown check 'no-such-check'"):
        checks.get("no-such-check")


def test_reachable_runs_first_for_every_form_and_role() -> None:
    """Later checks rely on reachable's probe, so it must lead every applicable list."""
    for form in SCHEMA_FORMS:
        for role in ("primary", "backup"):
            applicable: list[ModuleType] = checks.applicable(form, role)
            assert applicable and applicable[0].ID == "reachable"
            assert all(form in m.FORMS and role in m.ROLES for m in applicable)


def test_restic_and_files_checks_apply_where_expected() -> None:
    restic_ids = {m.ID for m in checks.applicable("restic", "backup")}
    assert {"reachable", "freshness", "restic-structure", "restic-read-data"} <= restic_ids
    assert "files-checksum" not in restic_ids
    assert "files-checksum" in {m.ID for m in checks.applicable("files", "backup")}
    # The primary is the source of truth for a plain tree: nothing to compare it with.
    assert "files-checksum" not in {m.ID for m in checks.applicable("files", "primary")}


def test_statuses_are_the_documented_four() -> None:
    # issue 15 added "offline": an unplugged removable disk still credited (a copy's status only).
    assert {str(s) for s in Status} == {"pass", "fail", "error", "skip", "offline"}
