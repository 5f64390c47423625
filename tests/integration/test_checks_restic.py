"""restic copies through the real checks: freshness, restic-structure, restic-read-data.

Each test breaks its own copy of a real repository (made once per session by restic itself) and
must see `fail` or `error`, never `pass`. The read-data rotation runs with t = 3 groups
(agent.read_data_cycle 3d / agent.schedule_interval 1d) so a whole cycle is three runs.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from agent.models import Status
from tests.support.restic import (
    DATASET,
    PASSWORD,
    STALE_DAYS,
    STALE_TAG,
    flip_bytes,
    pack_files,
    read_data_group,
    restic_layout,
)
from tests.support.sandbox import check_result, copy_result, dataset_result, mirror, statuses

pytestmark = pytest.mark.integration

GROUPS = 3


def assert_never_pass_beyond_reachable(copy) -> None:
    """A copy that cannot be read must not pass any check that looks at its content. (issue 18)
    restic-packs needs no password: its files' SHA-256 against their names is proven all the same."""
    for check in copy.checks:
        if check.name not in ("reachable", "restic-packs"):
            assert check.status != Status.PASS, statuses(copy)


def assert_no_secret(run) -> None:
    for dataset in run.datasets:
        for copy in dataset.copies:
            for check in copy.checks:
                assert PASSWORD not in check.detail
                assert "not-the-password" not in check.detail


def test_healthy_repository_passes(sandbox, restic_template, make_repo):
    restic_layout(sandbox, restic_template, make_repo())
    run = sandbox.verify()

    copy = copy_result(run, DATASET, "nas")
    ran = {c.name: c.status for c in copy.checks if c.status != Status.SKIP}  # restore-test is opt-in
    assert ran == {
        "reachable": Status.PASS, "freshness": Status.PASS,
        "restic-structure": Status.PASS, "restic-read-data": Status.PASS,
        "restic-packs": Status.PASS,  # (issue 18) every repository file's SHA-256 against its name
        "independence": Status.PASS,  # the dataset-level storage comparison, recorded on each copy
        "anomaly": Status.PASS,  # (issue 17) the two template snapshots hold the same tree: no change
    }, statuses(copy)
    assert copy.status == Status.PASS
    freshness = check_result(copy, "freshness")
    assert 0 <= freshness.measured["age_seconds"] < 3600  # the FRESH_TAG snapshot, not the stale one
    assert copy.last_backup_at is not None
    assert dataset_result(run, DATASET).status == Status.PASS
    assert run.compliant
    assert_no_secret(run)


def test_read_data_rotation_advances_and_records_coverage(sandbox, restic_template, make_repo):
    repo = make_repo()
    restic_layout(sandbox, restic_template, repo)
    packs = pack_files(repo)
    seen = []
    for _ in range(GROUPS + 1):
        run = sandbox.verify()
        read_data = check_result(copy_result(run, DATASET, "nas"), "restic-read-data")
        assert read_data.status == Status.PASS, read_data.detail
        seen.append((read_data.measured["subset"], read_data.measured["packs_read"], read_data.measured["bytes_read"]))

    # n advances every run and wraps after t; (issue 18) coverage counts the packs of the groups read,
    # and their bytes, growing to every pack within one cycle.
    expected, read = [], []
    for subset in ("1/3", "2/3", "3/3", "1/3"):
        read += [p for p in packs if read_data_group(p, GROUPS) == int(subset[0]) and p not in read]
        expected.append((subset, len(read), sum(p.stat().st_size for p in read)))
    assert seen == expected
    assert read_data.measured["coverage_ratio"] == read_data.measured["coverage_bytes_ratio"] == 1.0
    state = json.loads((sandbox.root / "state" / "state.json").read_text())
    (entry,) = state["read-data"].values()
    assert entry["t"] == GROUPS and entry["next"] == 2
    assert sorted(entry["read"]) == ["1", "2", "3"]


def test_flipped_bytes_in_a_pack_fail_read_data_once_the_rotation_reaches_them(sandbox, restic_template, make_repo):
    repo = make_repo()
    data_pack = pack_files(repo)[0]  # the largest pack holds file contents, not trees
    # Pack IDs are random: choose a small t that puts the pack past group 1, so the runs before
    # the rotation reaches it are seen to pass (t = 3 when none does, ≈ 2 % of sessions).
    groups = next((t for t in (3, 4, 5, 6) if read_data_group(data_pack, t) >= 2), GROUPS)
    sandbox.agent["read_data_cycle"] = f"{groups}d"
    group = read_data_group(data_pack, groups)
    flip_bytes(data_pack)
    restic_layout(sandbox, restic_template, repo)

    history = []
    for run_number in range(1, group + 2):
        copy = copy_result(sandbox.verify(), DATASET, "nas")
        structure = check_result(copy, "restic-structure")
        read_data = check_result(copy, "restic-read-data")
        history.append((run_number, read_data.measured["subset"], read_data.status))
        # Plain `restic check` never reads pack contents: the structure check alone cannot see this.
        assert structure.status == Status.PASS, structure.detail
        if run_number < group:
            assert read_data.status == Status.PASS, history
            # (issue 18) restic-packs hashes every pack against its name: the copy fails from the first run.
            assert check_result(copy, "restic-packs").status == Status.FAIL
            assert copy.status == Status.FAIL
        else:
            # Caught when the rotation reaches the pack's group, and read again until repaired.
            assert read_data.status == Status.FAIL, history
            assert read_data.measured["subset"] == f"{group}/{groups}"
            assert "data errors" in read_data.detail
            assert read_data.measured["coverage_ratio"] < 1.0
            assert copy.status == Status.FAIL
    # Always within one cycle: a fail among the first t runs, whichever group the pack fell in.
    assert any(status == Status.FAIL for number, _, status in history if number <= groups), history


def test_deleted_pack_fails_structure(sandbox, restic_template, make_repo):
    repo = make_repo()
    data_pack = pack_files(repo)[0]
    # Read-data must not land on the missing pack here: restic 0.14 retries a missing pack for
    # ≈ 40 s. Pick a group count that keeps it out of group 1 (the first run's group).
    groups = next(t for t in range(2, 10) if read_data_group(data_pack, t) != 1)
    sandbox.agent["read_data_cycle"] = f"{groups}d"
    data_pack.chmod(0o600)
    data_pack.unlink()
    restic_layout(sandbox, restic_template, repo)

    run = sandbox.verify()
    copy = copy_result(run, DATASET, "nas")
    structure = check_result(copy, "restic-structure")
    assert structure.status == Status.FAIL, statuses(copy)
    assert "data errors" in structure.detail
    assert check_result(copy, "restic-read-data").status != Status.PASS
    assert copy.status == Status.FAIL
    assert dataset_result(run, DATASET).status != Status.PASS


def test_stale_snapshot_fails_freshness(sandbox, restic_template, make_repo):
    # The repository also holds a fresh snapshot of another dataset: it must not hide the stale one.
    restic_layout(sandbox, restic_template, make_repo(), snapshot_filter={"tags": [STALE_TAG]})
    copy = copy_result(sandbox.verify(), DATASET, "nas")
    freshness = check_result(copy, "freshness")
    assert freshness.status == Status.FAIL, statuses(copy)
    assert "stale" in freshness.detail
    assert freshness.measured["age_seconds"] > (STALE_DAYS - 1) * 86400
    assert freshness.measured["age_seconds"] > freshness.measured["rpo_seconds"]
    assert copy.status == Status.FAIL


def test_stale_when_the_newest_snapshot_of_the_repository_is_old(sandbox, restic_template, make_repo):
    repo = make_repo()
    fresh = json.loads(restic_template.restic(repo, "snapshots", "--json", "--tag", "platform-db"))
    restic_template.restic(repo, "forget", *(s["id"] for s in fresh))
    restic_layout(sandbox, restic_template, repo)

    copy = copy_result(sandbox.verify(), DATASET, "nas")
    freshness = check_result(copy, "freshness")
    assert freshness.status == Status.FAIL, statuses(copy)
    assert freshness.measured["age_seconds"] > (STALE_DAYS - 1) * 86400
    assert copy.status == Status.FAIL


@pytest.mark.parametrize("snapshot_filter", [
    {"tags": ["no-such-dataset"]},
    {"host": "some-other-host"},
    {"path": "/nowhere/that/was/backed/up"},
], ids=["tag", "host", "path"])
def test_no_snapshot_for_the_dataset_fails_freshness(sandbox, restic_template, make_repo, snapshot_filter):
    restic_layout(sandbox, restic_template, make_repo(), snapshot_filter=snapshot_filter)
    copy = copy_result(sandbox.verify(), DATASET, "nas")
    freshness = check_result(copy, "freshness")
    assert freshness.status == Status.FAIL, statuses(copy)
    assert "no snapshot for this dataset" in freshness.detail
    assert copy.status == Status.FAIL


def test_after_an_inventory_freshness_counts_the_whole_repository(sandbox, restic_template, make_repo):
    """The inventory lists the dataset's snapshots and freshness reuses that listing: the snapshots
    "in the repository" it names are all of them (two here), not the dataset's (none)."""
    from agent.inventory import build_inventory
    from agent.run import select_datasets

    restic_layout(sandbox, restic_template, make_repo(), snapshot_filter={"tags": ["no-such-dataset"]})
    config = sandbox.config()
    (entry,) = [e for e in build_inventory(config, select_datasets(config, (), ())) if e["target"] == "nas"]
    assert entry["reachable"] and entry["snapshots"] == 0
    assert "no snapshot for this dataset" in entry["reason"] and "(2 in the repository)" in entry["reason"], entry


def test_wrong_password_is_an_error(sandbox, restic_template, make_repo):
    wrong = sandbox.root / "wrong.pass"
    wrong.write_text("not-the-password\n")
    restic_layout(sandbox, restic_template, make_repo(), password_file=str(wrong))
    run = sandbox.verify()

    copy = copy_result(run, DATASET, "nas")
    assert copy.status == Status.ERROR, statuses(copy)
    assert check_result(copy, "freshness").status == Status.ERROR
    assert "wrong password" in check_result(copy, "freshness").detail
    assert check_result(copy, "restic-structure").status == Status.ERROR
    assert check_result(copy, "restic-read-data").status == Status.ERROR
    assert_never_pass_beyond_reachable(copy)
    # 3-2-1 is proven unmet (the copy did not verify): a proven failure outranks the copy's error.
    assert dataset_result(run, DATASET).status == Status.FAIL
    assert_no_secret(run)
    # A group that could not be read is not counted as read, and is tried again next run.
    state = json.loads((sandbox.root / "state" / "state.json").read_text())
    (entry,) = state["read-data"].values()
    assert entry["next"] == 1 and entry["read"] == {}


@pytest.mark.parametrize("reference", [
    {"password_env": "BACKUP_AGENT_TEST_NO_SUCH_PASSWORD"},
    {"password_file": "/nonexistent/restic.pass"},
    {"password_command": "false"},
    {"password_command": "echo not-the-password"},
], ids=["env-unset", "file-missing", "command-fails", "command-prints-wrong"])
def test_unusable_password_reference_is_an_error(sandbox, restic_template, make_repo, monkeypatch, reference):
    monkeypatch.delenv("BACKUP_AGENT_TEST_NO_SUCH_PASSWORD", raising=False)
    restic_layout(sandbox, restic_template, make_repo(), **reference)
    run = sandbox.verify()
    copy = copy_result(run, DATASET, "nas")
    assert copy.status == Status.ERROR, statuses(copy)
    assert check_result(copy, "freshness").status == Status.ERROR
    assert not any(c.status == Status.FAIL for c in copy.checks), statuses(copy)
    assert_never_pass_beyond_reachable(copy)
    assert_no_secret(run)


@pytest.mark.parametrize("kind", ["absent", "empty-directory"])
def test_missing_repository_is_an_error(sandbox, restic_template, tmp_path, kind):
    repo = tmp_path / "repos" / "gone"
    if kind == "empty-directory":
        repo.mkdir(parents=True)
    restic_layout(sandbox, restic_template, repo)
    run = sandbox.verify()

    copy = copy_result(run, DATASET, "nas")
    assert copy.status == Status.ERROR, statuses(copy)
    assert not any(c.status == Status.FAIL for c in copy.checks), statuses(copy)
    assert_never_pass_beyond_reachable(copy)
    if kind == "absent":
        assert check_result(copy, "reachable").status == Status.ERROR
        assert "does not exist" in check_result(copy, "reachable").detail
    else:
        assert "no repository" in check_result(copy, "freshness").detail
    # 3-2-1 is proven unmet (the copy did not verify): a proven failure outranks the copy's error.
    assert dataset_result(run, DATASET).status == Status.FAIL


def test_one_dead_copy_does_not_stop_the_others(sandbox, restic_template, make_repo, sample_tree, tmp_path):
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("nas", "nas", "office")
    sandbox.target("vault", "object-storage", "cloud-hk")
    sandbox.target("hdd", "hdd", "kc-home")
    sandbox.dataset(DATASET, primary=sandbox.files_copy("droplet", sample_tree, stamp=None), copies=[
        sandbox.restic_copy("nas", make_repo()),
        sandbox.restic_copy("vault", tmp_path / "vault" / "never-created"),
        sandbox.files_copy("hdd", mirror(sample_tree, tmp_path / "hdd" / "db")),
    ])
    run = sandbox.verify()

    dead = copy_result(run, DATASET, "vault")
    assert dead.status == Status.ERROR, statuses(dead)
    for target in ("droplet", "nas", "hdd"):
        alive = copy_result(run, DATASET, target)
        assert alive.status == Status.PASS, statuses(alive)
    assert check_result(copy_result(run, DATASET, "nas"), "restic-read-data").status == Status.PASS
    assert check_result(copy_result(run, DATASET, "hdd"), "files-checksum").status == Status.PASS
    dataset = dataset_result(run, DATASET)
    # 3-2-1 is still met by the three verified copies, but the dataset is not a pass with a dead copy.
    assert dataset.policy.measured["verified_copies"] == 3
    assert dataset.policy.status == Status.PASS
    assert dataset.status == Status.ERROR


def test_repository_locked_by_a_running_backup_is_an_error(sandbox, restic_template, make_repo):
    """A backup in progress holds a lock; `restic check` needs an exclusive one. The structure and
    read-data checks cannot decide then: error, never pass, never fail."""
    repo = make_repo()
    backup = subprocess.Popen(
        ["restic", "--repo", str(repo), "backup", "--stdin", "--stdin-filename", "dump.sql"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=restic_template.env())
    try:
        backup.stdin.write(b"-- a dump still being written\n")
        backup.stdin.flush()
        deadline = time.monotonic() + 30
        while not any((repo / "locks").iterdir()):
            assert backup.poll() is None and time.monotonic() < deadline, "restic backup never took its lock"
            time.sleep(0.05)
        restic_layout(sandbox, restic_template, repo)
        copy = copy_result(sandbox.verify(), DATASET, "nas")
    finally:
        backup.stdin.close()
        try:
            backup.wait(timeout=60)
        except subprocess.TimeoutExpired:
            backup.kill()
            backup.wait()
    structure = check_result(copy, "restic-structure")
    assert structure.status == Status.ERROR, statuses(copy)
    assert "locked" in structure.detail
    assert check_result(copy, "restic-read-data").status == Status.ERROR
    assert check_result(copy, "freshness").status == Status.PASS  # snapshots are listed without a lock
    assert copy.status == Status.ERROR
