"""restore-validate with real pg_dump files, real restic and a real throwaway PostgreSQL 15.

A source database is dumped once per module (tests/support/pgdump.py): a good custom and plain
dump, one whose `shipments` is empty, one cut short by a SIGKILLed pg_dump. They are backed up
with restic; each test restore-tests (or drills) that backup and runs validators on what came
back. The sample is two files and the dumps are the oldest files of the tree, so only the rule
"the files the validators read are always restored" brings them back.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import psutil
import pytest

from agent.drill import run_drill
from agent.models import DrillStatus, Status
from tests.support import pgdump
from tests.support.restic import ResticTemplate
from tests.support.restore import restore_verify
from tests.support.sandbox import Sandbox, check_result, copy_result

DATASET = "platform-db"
QUERIES = ["SELECT count(*) > 0 FROM shipments", {"sql": "SELECT count(*) FROM shipments", "expect": 3}]


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory, restic_template: ResticTemplate):
    """(data tree, restic repository with one snapshot of it, marker a plain dump's `\\!` would create)."""
    root = tmp_path_factory.mktemp("pg-validate")
    data = root / "data"
    pgdump.make_dumps(data / "db")
    marker = root / "shell-ran"
    plain = data / "db" / "good.sql"
    # A hostile line in a plain dump: psql would run it as a shell command if it were allowed to.
    plain.write_text(f"\\! touch {marker}\n" + plain.read_text())
    old = time.time() - 3 * 86400
    for dump in (data / "db").iterdir():
        os.utime(dump, (old, old))
    (data / "docs").mkdir()
    for number in range(4):
        (data / "docs" / f"note-{number}.txt").write_text(f"note {number}\n" * 50)
    repo = root / "repo"
    restic_template.restic(repo, "init")
    restic_template.restic(repo, "backup", str(data))
    return data, repo, marker


@pytest.fixture
def site(tmp_path: Path, backed_up, restic_template: ResticTemplate):
    data, repo, _ = backed_up
    with pgdump.open_directory() as scratch_parent:
        sandbox = Sandbox(tmp_path, restic_template.password_file)
        sandbox.agent["scratch_dir"] = str(scratch_parent / "scratch")
        sandbox.target("droplet", "cloud-vm", "do-sgp1")
        sandbox.target("nas", "nas", "office")
        own_repo = tmp_path / "repo"
        shutil.copytree(repo, own_repo)
        sandbox.dataset(DATASET, primary=sandbox.files_copy("droplet", data, stamp=None),
                        copies=[sandbox.restic_copy("nas", own_repo)], policy={"copies": 2, "media": 2, "offsite": 1})
        yield sandbox, scratch_parent
        scratch = scratch_parent / "scratch"
        assert not scratch.exists() or not list(scratch.iterdir()), "a scratch or cluster directory was left behind"
        assert not _servers_under(scratch_parent), "a throwaway PostgreSQL server was left running"


def _servers_under(directory: Path) -> list[int]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(directory) in part for part in process.info["cmdline"] or ()):
            found.append(process.pid)
    return found


def _validate(sandbox: Sandbox, *validators: dict) -> None:
    sandbox.datasets[DATASET]["restore_test"] = {"sample_files": 2, "validate": list(validators)}


def _pg(path: str, **extra) -> dict:
    return {"type": "postgres-dump", "path": path, "queries": QUERIES, "run_as": "nobody", "timeout": "2m",
            "bin_dir": pgdump.bin_dir(), **extra}


def _restore_validate(sandbox: Sandbox):
    run = restore_verify(sandbox, "sample")
    copy = copy_result(run, DATASET, "nas")
    return check_result(copy, "restore-test"), check_result(copy, "restore-validate")


def test_good_dumps_restore_and_their_queries_pass_and_a_plain_dump_cannot_run_a_shell(site, backed_up) -> None:
    sandbox, _ = site
    _validate(sandbox, _pg("db/good.dump"), _pg("db/good.sql"))
    restored, validated = _restore_validate(sandbox)
    assert restored.status == Status.PASS, restored.detail
    assert validated.status == Status.PASS, validated.detail
    assert "good.dump (custom format" in validated.detail and "good.sql (plain format" in validated.detail
    assert validated.detail.count("2 queries passed") == 2
    assert [v["status"] for v in validated.measured["validators"]] == ["pass", "pass"]
    assert not backed_up[2].exists(), "the dump's \\! line ran a shell"


def test_a_dump_cut_by_a_killed_pg_dump_and_one_with_an_empty_table_fail_naming_the_query(site) -> None:
    sandbox, _ = site
    _validate(sandbox, _pg("db/killed.dump"), _pg("db/empty.dump"))
    restored, validated = _restore_validate(sandbox)
    assert restored.status == Status.PASS, restored.detail  # the bytes are what was backed up
    assert validated.status == Status.FAIL, validated.detail
    killed, empty = validated.measured["validators"]
    assert killed["status"] == empty["status"] == "fail"
    assert "could not read from input file" in validated.detail
    assert validated.detail.count("query 1 `SELECT count(*) > 0 FROM shipments` returned 'f'") == 2
    assert "query 2 `SELECT count(*) FROM shipments` returned '0', expected '3'" in validated.detail


def test_without_pg_restore_the_validation_is_an_error_never_a_pass(site, tmp_path: Path) -> None:
    sandbox, _ = site
    partial = tmp_path / "pg-bin"
    partial.mkdir()
    for tool in ("initdb", "pg_ctl", "psql"):
        (partial / tool).symlink_to(Path(pgdump.bin_dir()) / tool)
    _validate(sandbox, _pg("db/good.dump", bin_dir=str(partial)))
    _, validated = _restore_validate(sandbox)
    assert validated.status == Status.ERROR, validated.detail
    assert "pg_restore is not installed" in validated.detail


def test_a_drill_is_back_only_once_validated(site) -> None:
    sandbox, _ = site
    _validate(sandbox, _pg("db/good.dump"))
    config = sandbox.config()
    dataset = config.datasets[DATASET]
    good = run_drill(config, dataset, dataset.copies[0])
    assert good.status == DrillStatus.PASS, good.errors
    assert good.measured["validation"] == "pass"
    assert good.measured["rto_actual_seconds"] >= good.measured["validation_seconds"] > 0
    _validate(sandbox, _pg("db/empty.dump"))
    config = sandbox.config()
    dataset = config.datasets[DATASET]
    empty = run_drill(config, dataset, dataset.copies[0])
    assert empty.status == DrillStatus.FAIL
    assert empty.measured["rto_actual_seconds"] is None and empty.measured["rto_met"] is None
    assert "restore-validate" in empty.errors[0] and "returned 'f'" in empty.errors[0]


def test_restore_validate_is_skipped_when_no_restore_test_ran(site) -> None:
    sandbox, _ = site
    _validate(sandbox, _pg("db/good.dump"))
    run = restore_verify(sandbox, None)
    validated = check_result(copy_result(run, DATASET, "nas"), "restore-validate")
    assert validated.status == Status.SKIP
