"""One `restic check` per repository per run, counted: a `restic` wrapper on the agent's path
(agent.restic.commands.RESTIC) writes down every command line before running the real restic.
restic-structure and restic-read-data share one `check --read-data-subset`, and a repository
holding two datasets is checked once, its result given to both — each keeping its own snapshot
freshness (a stale dataset in a sound repository still fails)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agent.models import Status
from agent.restic import commands
from tests.support.restic import (
    DATASET,
    FRESH_TAG,
    STALE_TAG,
    flip_bytes,
    pack_files,
    read_data_group,
    restic_layout,
)
from tests.support.sandbox import check_result, copy_result, dataset_result, statuses

pytestmark = pytest.mark.integration


@pytest.fixture
def restic_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every restic command line the agent runs, one per line, in tmp_path/restic-calls.log."""
    log = tmp_path / "restic-calls.log"
    wrapper = tmp_path / "bin" / "restic"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{shutil.which("restic")}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr(commands, "RESTIC", str(wrapper))
    return log


def checks_of(log: Path) -> list[str]:
    """The `restic check` commands run, each as "check --read-data-subset=n/t" (or "check")."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [line[line.index(" check"):].strip() for line in lines if " check" in line]


def two_datasets_one_repository(sandbox, template, repo: Path) -> None:
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("nas", "nas", "office")
    primary = sandbox.files_copy("droplet", template.data, stamp=None)
    sandbox.dataset(DATASET, primary=primary, policy={"copies": 2, "media": 2, "offsite": 1},
                    copies=[sandbox.restic_copy("nas", repo, snapshot_filter={"tags": [FRESH_TAG]})])
    sandbox.dataset("archive", primary=primary, policy={"copies": 2, "media": 2, "offsite": 1},
                    copies=[sandbox.restic_copy("nas", repo, snapshot_filter={"tags": [STALE_TAG]})])


def test_structure_and_read_data_share_one_restic_check(sandbox, restic_template, make_repo, restic_calls) -> None:
    restic_layout(sandbox, restic_template, make_repo())
    copy = copy_result(sandbox.verify(), DATASET, "nas")
    assert checks_of(restic_calls) == ["check --read-data-subset=1/3"]
    assert check_result(copy, "restic-structure").status == Status.PASS, statuses(copy)
    assert check_result(copy, "restic-read-data").measured["subset"] == "1/3"
    assert copy.status == Status.PASS, statuses(copy)


def test_a_repository_of_two_datasets_is_checked_once_each_keeping_its_freshness(
        sandbox, restic_template, make_repo, restic_calls) -> None:
    two_datasets_one_repository(sandbox, restic_template, make_repo())
    run = sandbox.verify()
    assert checks_of(restic_calls) == ["check --read-data-subset=1/3"], "one check for both datasets"
    fresh, stale = copy_result(run, DATASET, "nas"), copy_result(run, "archive", "nas")
    for copy in (fresh, stale):
        assert check_result(copy, "restic-structure").status == Status.PASS, statuses(copy)
        assert check_result(copy, "restic-read-data").status == Status.PASS, statuses(copy)
    # the shared result says whose check it was; each dataset's freshness is its own
    given = [c for c in (fresh, stale) if "made for" in check_result(c, "restic-read-data").detail]
    assert len(given) == 1 and check_result(given[0], "restic-read-data").measured["checked_for"]
    assert check_result(fresh, "freshness").status == Status.PASS
    assert check_result(stale, "freshness").status == Status.FAIL, statuses(stale)
    assert dataset_result(run, "archive").status != Status.PASS
    # the rotation advanced once, and both copies carry it
    state = json.loads((sandbox.root / "state" / "state.json").read_text())["read-data"]
    assert len(state) == 2 and len({json.dumps(v, sort_keys=True) for v in state.values()}) == 1
    assert next(iter(state.values()))["next"] == 2

    sandbox.verify()
    assert checks_of(restic_calls)[1:] == ["check --read-data-subset=2/3"], "the next night: the next group, once"


def test_flipped_bytes_in_a_shared_repository_fail_read_data_for_both_datasets(
        sandbox, restic_template, make_repo, restic_calls) -> None:
    repo = make_repo()
    data_pack = pack_files(repo)[0]
    sandbox.agent["read_data_cycle"] = "1d"  # t = 1: every pack read every night
    assert read_data_group(data_pack, 1) == 1
    flip_bytes(data_pack)
    two_datasets_one_repository(sandbox, restic_template, repo)
    run = sandbox.verify()
    assert checks_of(restic_calls) == ["check --read-data-subset=1/1"]
    for name in (DATASET, "archive"):
        copy = copy_result(run, name, "nas")
        read_data = check_result(copy, "restic-read-data")
        assert read_data.status == Status.FAIL and "data errors" in read_data.detail, statuses(copy)
        # only --read-data sees flipped bytes: the structure itself is sound, and said to be
        assert check_result(copy, "restic-structure").status == Status.PASS, statuses(copy)
        assert copy.status == Status.FAIL
