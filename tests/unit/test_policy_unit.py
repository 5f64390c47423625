"""policy-321 and the status arithmetic behind it, on results built in memory.

The copies' check results are constructed here (no targets are touched): what is under test is
the counting — only copies whose checks all passed count, the primary included, media and sites
distinct — and that "could not decide" never adds up to a pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.config import Dataset, parse_config
from agent.models import CheckResult, CopyResult, DatasetResult, RunResult, Status, worst
from checks import policy_321

TARGETS = {
    "droplet": ("cloud-vm", "do-sgp1"),
    "nas": ("nas", "office"),
    "ssd": ("ssd", "office"),
    "hdd": ("hdd", "kc-home"),
    "nas2": ("nas", "do-sgp1"),
    "vault": ("object-storage", "cloud-hk"),
}


def dataset(copies: list[str], policy: dict[str, Any] | None = None, primary: str = "droplet") -> Dataset:
    """Build a real Dataset through the config parser: primary plus plain copies on the named targets."""
    document = {
        "processes": {"p": {"rpo": "1h", "rto": "4h"}},
        "targets": {name: {"kind": "local", "medium": medium, "location": location, "require_mount": False}
                    for name, (medium, location) in TARGETS.items()},
        "datasets": {"d": {
            "process": "p",
            "primary": {"target": primary, "form": "files", "path": "/srv/primary"},
            "copies": [{"target": name, "form": "files", "path": f"/srv/{name}/{i}"} for i, name in enumerate(copies)],
            **({"policy": policy} if policy else {}),
        }},
    }
    return parse_config(document, Path("/nonexistent/targets.yaml")).datasets["d"]


def results(ds: Dataset, statuses: dict[int, Status] | None = None,
            extra: dict[int, list[CheckResult]] | None = None) -> list[CopyResult]:
    """One CopyResult per copy (index -1 = primary); every check passes unless statuses says otherwise."""
    statuses = statuses or {}
    extra = extra or {}
    out = []
    for spec in ds.all_copies:
        status = statuses.get(spec.index, Status.PASS)
        checks = [CheckResult("reachable", Status.PASS, "reachable"),
                  CheckResult("freshness", status, "as the test says"), *extra.get(spec.index, [])]
        out.append(CopyResult(spec, checks))
    return out


def test_three_copies_two_media_one_offsite_passes() -> None:
    ds = dataset(["nas", "hdd"])
    verdict = policy_321.run_dataset(ds, results(ds))
    assert verdict.status == Status.PASS
    assert verdict.measured["compliant"] is True
    assert verdict.measured["verified_copies"] == 3  # the primary counts
    assert verdict.measured["distinct_media"] == 3
    assert verdict.measured["offsite_copies"] == 2
    assert verdict.measured["rule"] == "3-2-1"


def test_two_copies_fail() -> None:
    ds = dataset(["nas"])
    verdict = policy_321.run_dataset(ds, results(ds))
    assert verdict.status == Status.FAIL
    assert "2 verified copies < 3" in verdict.detail


def test_copies_on_one_medium_fail() -> None:
    """Looks fine copy by copy, but the primary and both copies sit on one medium."""
    ds = dataset(["nas2", "nas"], primary="nas")
    verdict = policy_321.run_dataset(ds, results(ds))
    assert verdict.status == Status.FAIL
    assert verdict.measured["distinct_media"] == 1
    assert "distinct media (nas) < 2" in verdict.detail


def test_copies_at_one_site_fail() -> None:
    """Three copies on three media, all at the primary's site: no offsite copy."""
    ds = dataset(["ssd", "nas"], primary="nas")
    ds_site = dataset(["nas2"], primary="droplet")
    verdict = policy_321.run_dataset(ds, results(ds))
    assert verdict.status == Status.FAIL and verdict.measured["offsite_copies"] == 0
    assert "0 copies away from office < 1" in verdict.detail
    # A copy on another medium at the primary's location is not offsite either.
    verdict = policy_321.run_dataset(ds_site, results(ds_site))
    assert verdict.measured["offsite_copies"] == 0


@pytest.mark.parametrize("bad", [Status.FAIL, Status.ERROR])
def test_a_copy_that_did_not_verify_is_not_counted(bad: Status) -> None:
    ds = dataset(["nas", "hdd"])
    verdict = policy_321.run_dataset(ds, results(ds, {1: bad}))
    assert verdict.status == Status.FAIL
    assert verdict.measured["verified_copies"] == 2
    assert verdict.measured["total_copies"] == 3
    assert verdict.measured["media"] == ["cloud-vm", "nas"]


def test_a_primary_that_did_not_verify_is_not_counted() -> None:
    ds = dataset(["nas", "hdd"])
    verdict = policy_321.run_dataset(ds, results(ds, {-1: Status.ERROR}))
    assert verdict.status == Status.FAIL and verdict.measured["verified_copies"] == 2


def test_all_shortfalls_are_named() -> None:
    ds = dataset(["nas2"])
    verdict = policy_321.run_dataset(ds, results(ds, {0: Status.FAIL}))
    for fragment in ("1 verified copies < 3", "1 distinct media", "0 copies away from do-sgp1 < 1"):
        assert fragment in verdict.detail


def test_requirements_are_configurable() -> None:
    ds = dataset(["nas"], policy={"copies": 2, "media": 2, "offsite": 1})
    assert policy_321.run_dataset(ds, results(ds)).status == Status.PASS
    ds = dataset(["nas", "hdd", "ssd"], policy={"copies": 5})
    verdict = policy_321.run_dataset(ds, results(ds))
    assert verdict.status == Status.FAIL and "4 verified copies < 5" in verdict.detail


def test_3_2_1_1_0_needs_a_proven_immutable_copy_and_zero_errors() -> None:
    policy = {"immutable": 1, "zero_errors": True}
    ds = dataset(["nas", "hdd", "vault"], policy=policy)
    assert ds.policy.describe() == "3-2-1-1-0"
    verdict = policy_321.run_dataset(ds, results(ds))
    assert verdict.status == Status.FAIL and "0 immutable copies < 1" in verdict.detail
    proven = {2: [CheckResult("immutability", Status.PASS, "object lock, 30d retention")]}
    verdict = policy_321.run_dataset(ds, results(ds, extra=proven))
    assert verdict.status == Status.PASS and verdict.measured["immutable_copies"] == 1
    # Zero errors: one broken copy breaks the policy even though three others still verify.
    verdict = policy_321.run_dataset(ds, results(ds, {1: Status.ERROR}, extra=proven))
    assert verdict.status == Status.FAIL and "1 copies in fail or error" in verdict.detail


def test_an_immutability_check_that_failed_does_not_count() -> None:
    ds = dataset(["nas", "hdd", "vault"], policy={"immutable": 1})
    unproven = {2: [CheckResult("immutability", Status.ERROR, "cannot read the bucket's lock configuration")]}
    verdict = policy_321.run_dataset(ds, results(ds, extra=unproven))
    assert verdict.status == Status.FAIL and verdict.measured["immutable_copies"] == 0


# --- the status arithmetic the policy relies on


def test_worst_ranks_fail_above_error_above_pass_above_skip() -> None:
    assert worst([Status.PASS, Status.SKIP]) == Status.PASS
    assert worst([Status.PASS, Status.FAIL]) == Status.FAIL
    assert worst([Status.PASS, Status.ERROR]) == Status.ERROR
    assert worst([Status.FAIL, Status.ERROR, Status.PASS]) == Status.FAIL, "a proven failure outranks 'could not decide'"
    assert worst([]) == Status.ERROR, "nothing decided is not a pass"


def test_a_stale_copy_that_could_not_be_compared_reads_fail_not_error() -> None:
    ds = dataset(["hdd", "nas"])
    spec = ds.copies[0]
    stale = CopyResult(spec, [CheckResult("reachable", Status.PASS, ""),
                              CheckResult("freshness", Status.FAIL, "stale: 3d old > RPO 1d"),
                              CheckResult("files-checksum", Status.ERROR, "nothing could be compared")])
    assert stale.status == Status.FAIL
    unsure = CopyResult(spec, [CheckResult("reachable", Status.PASS, ""),
                               CheckResult("files-checksum", Status.ERROR, "unreadable")])
    assert unsure.status == Status.ERROR
    copies = [results(ds)[0], stale, results(ds)[2]]
    verdict = policy_321.run_dataset(ds, copies)
    assert DatasetResult(ds, copies, verdict).status == Status.FAIL


def test_copy_status_never_passes_without_a_passing_check() -> None:
    ds = dataset(["nas"])
    spec = ds.copies[0]
    assert CopyResult(spec, []).status == Status.ERROR
    assert CopyResult(spec, [CheckResult("freshness", Status.SKIP, "not run")]).status == Status.ERROR
    passed = CopyResult(spec, [CheckResult("reachable", Status.PASS, ""), CheckResult("x", Status.SKIP, "")])
    assert passed.status == Status.PASS and passed.verified


def test_dataset_status_passes_only_with_policy_and_every_copy() -> None:
    ds = dataset(["nas", "hdd", "ssd"])
    copies = results(ds, {2: Status.FAIL})
    verdict = policy_321.run_dataset(ds, copies)
    assert verdict.status == Status.PASS, "3 verified copies still meet 3-2-1"
    assert DatasetResult(ds, copies, verdict).status == Status.FAIL, "but one failing copy fails the dataset"
    copies = results(ds)
    assert DatasetResult(ds, copies, policy_321.run_dataset(ds, copies)).status == Status.PASS


def test_run_is_compliant_only_when_every_dataset_passes() -> None:
    from datetime import UTC, datetime

    ds = dataset(["nas", "hdd"])
    good = DatasetResult(ds, results(ds), policy_321.run_dataset(ds, results(ds)))
    bad = DatasetResult(ds, results(ds, {0: Status.ERROR}), policy_321.run_dataset(ds, results(ds, {0: Status.ERROR})))
    moment = datetime(2026, 11, 24, tzinfo=UTC)

    def run(datasets: list[DatasetResult]) -> RunResult:
        return RunResult("r", moment, moment, datasets, "host", "op", {})

    assert run([good]).compliant
    assert not run([good, bad]).compliant
    assert not run([]).compliant, "a run that verified nothing is not compliant"
