"""policy-321 on real verified copies: 3 copies (the primary counts), 2 media, 1 offsite, counting
only copies whose checks all passed. Copies here are real mirrors on local stand-ins for the
droplet, NAS and disks; their declared medium and location are what the rule counts."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from agent.models import Status
from agent.records import rows_for_run
from agent.run import run_verification, select_datasets
from reports.rows import is_verdict
from tests.support.restic import flip_bytes
from tests.support.sandbox import Sandbox, copy_result, dataset_result, mirror, statuses

pytestmark = pytest.mark.integration

DATASET = "platform-files"


def layout(sandbox: Sandbox, sample_tree: Path, places: dict[str, tuple[str, str]],
           policy: dict | None = None) -> dict[str, Path]:
    """Given {target: (medium, location)} (the first is the primary's), mirror the sample tree onto
    each and declare the dataset. Return the copy directories by target."""
    directories = {}
    copies = []
    for index, (name, (medium, location)) in enumerate(places.items()):
        sandbox.target(name, medium, location)
        directory = mirror(sample_tree, sandbox.root / name / "platform", stamp=None if index == 0 else ".last-sync")
        directories[name] = directory
        if index:
            copies.append(sandbox.files_copy(name, directory))
    primary_name = next(iter(places))
    sandbox.dataset(DATASET, primary=sandbox.files_copy(primary_name, directories[primary_name], stamp=None),
                    copies=copies, policy=policy)
    return directories


def assert_all_copies_pass(run) -> None:
    for copy in dataset_result(run, DATASET).copies:
        assert copy.status == Status.PASS, statuses(copy)


def test_healthy_3_2_1_passes(files_sandbox, sample_tree):
    layout(files_sandbox, sample_tree, {
        "droplet": ("cloud-vm", "do-sgp1"), "nas": ("nas", "office"), "hdd": ("hdd", "kc-home"),
    })
    run = files_sandbox.verify()
    assert_all_copies_pass(run)
    policy = dataset_result(run, DATASET).policy
    assert policy.status == Status.PASS, policy.detail
    assert policy.measured["compliant"] is True
    assert policy.measured["rule"] == "3-2-1"
    assert (policy.measured["verified_copies"], policy.measured["distinct_media"], policy.measured["offsite_copies"]) == (3, 3, 2)
    assert dataset_result(run, DATASET).status == Status.PASS
    assert run.compliant


def test_copies_sharing_one_medium_fail(files_sandbox, sample_tree):
    layout(files_sandbox, sample_tree, {
        "hdd-a": ("hdd", "office"), "hdd-b": ("hdd", "kc-home"), "hdd-c": ("hdd", "cloud-hk"),
    })
    run = files_sandbox.verify()
    assert_all_copies_pass(run)  # every copy is fine; the dataset still is not
    policy = dataset_result(run, DATASET).policy
    assert policy.status == Status.FAIL
    assert "1 distinct media (hdd) < 2" in policy.detail
    assert policy.measured["compliant"] is False and policy.measured["media"] == ["hdd"]
    assert dataset_result(run, DATASET).status == Status.FAIL
    assert not run.compliant


def test_copies_all_on_the_primary_site_fail(files_sandbox, sample_tree):
    layout(files_sandbox, sample_tree, {
        "droplet": ("cloud-vm", "office"), "nas": ("nas", "office"), "ssd": ("ssd", "office"),
    })
    run = files_sandbox.verify()
    assert_all_copies_pass(run)
    policy = dataset_result(run, DATASET).policy
    assert policy.status == Status.FAIL
    assert "0 copies away from office < 1" in policy.detail
    assert policy.measured["offsite_copies"] == 0 and policy.measured["distinct_media"] == 3
    assert dataset_result(run, DATASET).status == Status.FAIL


def _break(directory: Path, how: str) -> None:
    if how == "flipped-byte":
        flip_bytes(directory / "db" / "blob.bin", count=1)
    elif how == "stale-stamp":
        old = time.time() - 10 * 86400
        os.utime(directory / ".last-sync", (old, old))
    elif how == "missing":
        os.rename(directory, directory.with_name("moved-away"))


@pytest.mark.parametrize("how", ["intact", "flipped-byte", "stale-stamp", "missing"])
def test_a_failed_copy_is_not_counted(files_sandbox, sample_tree, how):
    # Intact, this layout is 3-2-1: the hdd is the one copy away from the primary's site.
    directories = layout(files_sandbox, sample_tree, {
        "droplet": ("cloud-vm", "do-sgp1"), "nas": ("nas", "do-sgp1"), "hdd": ("hdd", "kc-home"),
    })
    _break(directories["hdd"], how)
    run = files_sandbox.verify()
    policy = dataset_result(run, DATASET).policy
    hdd = copy_result(run, DATASET, "hdd")
    if how == "intact":
        assert hdd.status == Status.PASS, statuses(hdd)
        assert policy.status == Status.PASS, policy.detail
        return
    assert hdd.status in (Status.FAIL, Status.ERROR), statuses(hdd)
    assert policy.status == Status.FAIL
    assert policy.measured["total_copies"] == 3
    assert policy.measured["verified_copies"] == 2
    assert policy.measured["offsite_copies"] == 0
    assert "2 verified copies < 3" in policy.detail and "away from do-sgp1" in policy.detail
    assert dataset_result(run, DATASET).status != Status.PASS


@pytest.mark.parametrize("zero_errors", [False, True])
def test_zero_errors_option_counts_a_dead_fourth_copy(files_sandbox, sample_tree, zero_errors):
    directories = layout(files_sandbox, sample_tree, {
        "droplet": ("cloud-vm", "do-sgp1"), "nas": ("nas", "office"), "hdd": ("hdd", "kc-home"),
        "ssd": ("ssd", "office"),
    }, policy={"copies": 3, "media": 2, "offsite": 1, "zero_errors": zero_errors})
    _break(directories["ssd"], "missing")
    run = files_sandbox.verify()
    policy = dataset_result(run, DATASET).policy
    assert policy.measured["verified_copies"] == 3
    if zero_errors:
        assert policy.status == Status.FAIL and "zero required" in policy.detail
    else:
        assert policy.status == Status.PASS, policy.detail
    # Either way the dataset is not a pass while one of its copies is dead: `fail` where the policy
    # proved a failure (a proven failure outranks "could not decide"), else `error`.
    assert dataset_result(run, DATASET).status == (Status.FAIL if zero_errors else Status.ERROR)


def test_immutable_requirement_is_not_met_by_local_copies(files_sandbox, sample_tree):
    layout(files_sandbox, sample_tree, {
        "droplet": ("cloud-vm", "do-sgp1"), "nas": ("nas", "office"), "hdd": ("hdd", "kc-home"),
    }, policy={"copies": 3, "media": 2, "offsite": 1, "immutable": 1})
    run = files_sandbox.verify()
    assert_all_copies_pass(run)
    policy = dataset_result(run, DATASET).policy
    assert policy.status == Status.FAIL
    assert "0 immutable copies < 1" in policy.detail


def test_a_run_on_some_copies_records_its_policy_as_not_evaluated(files_sandbox, sample_tree):
    """`verify --target` sees only some copies: its dataset record says so in a field
    (`measured.evaluated` false) that the monthly report reads; a full run's says true."""
    layout(files_sandbox, sample_tree, {
        "droplet": ("cloud-vm", "do-sgp1"), "nas": ("nas", "office"), "hdd": ("hdd", "kc-home"),
    })
    config = files_sandbox.config()
    full = run_verification(config, select_datasets(config, (), ()))
    partial = run_verification(config, select_datasets(config, (), ("nas",)), target_filter=("nas",))
    assert dataset_result(full, DATASET).policy.measured["evaluated"] is True
    policy = dataset_result(partial, DATASET).policy
    assert policy.status == Status.SKIP and policy.measured["evaluated"] is False
    verdicts = {run.run_id: [r for r in rows_for_run(run) if r["kind"] == "dataset"] for run in (full, partial)}
    assert [is_verdict(r) for r in verdicts[full.run_id]] == [True]
    assert [is_verdict(r) for r in verdicts[partial.run_id]] == [False]
