"""freshness on a fake target and a fake restic: the last good backup against the RPO. Stale or
absent fails; a time that cannot be read, or one ahead of the clock, is an error — never fresh.
The real tools: tests/integration/test_checks_files.py, test_checks_restic.py, test_future_times.py."""

from __future__ import annotations

import pytest

from agent.models import Status
from agent.restic import ResticError, ResticFailure
from tests.support.fake_site import FakeSite
from tests.support.fake_target import FAILURES

HOUR = 3600.0
FILES = {"a.txt": b"alpha", "sub/b.bin": b"\x00" * 100}


def files_site(tmp_path, stamp: str | None = ".last-sync", rpo: str = "4h", primary_stamp: str | None = None) -> FakeSite:
    site = FakeSite(tmp_path, rpo=rpo)
    site.target("droplet", medium="cloud-vm", location="sgp").tree("/srv/data", FILES, site.ago(48 * HOUR))
    site.target("hdd", medium="hdd", location="home").tree("/mnt/hdd/data", FILES, site.ago(48 * HOUR))
    site.primary("droplet", "/srv/data", **({"stamp": primary_stamp} if primary_stamp else {}))
    site.copy("hdd", "/mnt/hdd/data", **({"stamp": stamp} if stamp else {}))
    return site


def restic_site(tmp_path, rpo: str = "4h", **copy) -> FakeSite:
    site = FakeSite(tmp_path, rpo=rpo)
    site.target("droplet", medium="cloud-vm", location="sgp").tree("/srv/data", FILES, site.ago(48 * HOUR))
    site.target("nas", "ssh", medium="nas", location="office")
    site.primary("droplet", "/srv/data")
    site.copy("nas", "/volume1/restic", form="restic", **copy)
    return site


@pytest.mark.parametrize(("synced_hours_ago", "expected"), [
    (0.1, Status.PASS), (3.9, Status.PASS), (4.1, Status.FAIL), (48, Status.FAIL),
    (-0.05, Status.PASS),  # 3 minutes ahead: within the clock skew allowed
    (-1, Status.ERROR),  # an hour ahead of this host's clock: how old it is cannot be known
])
def test_stamp_age_against_the_rpo(tmp_path, synced_hours_ago: float, expected: Status) -> None:
    site = files_site(tmp_path)
    site.targets["hdd"].write("/mnt/hdd/data/.last-sync", b"synced", site.ago(synced_hours_ago * HOUR))
    result = site.run("freshness")
    assert result.status == expected, result.detail
    assert site.context().last_backup_at is not None  # kept even when ahead: files-checksum expects every file
    if expected == Status.FAIL:
        assert result.detail.startswith("stale: last backup")
    if expected == Status.ERROR:
        assert "ahead of this host's clock" in result.detail and result.measured["future_by_seconds"] > 0


def test_a_missing_stamp_fails(tmp_path) -> None:
    site = files_site(tmp_path)
    result = site.run("freshness")
    assert result.status == Status.FAIL
    assert result.detail == "stamp .last-sync is missing"
    assert site.context().last_backup_at is None


def test_without_a_stamp_the_newest_file_dates_the_copy(tmp_path) -> None:
    site = files_site(tmp_path, stamp=None)
    hdd = site.targets["hdd"]
    assert site.run("freshness").status == Status.FAIL  # every file two days old, RPO 4h
    site.next_night(0)
    hdd.write("/mnt/hdd/data/sub/new.txt", b"new", site.ago(HOUR))
    result = site.run("freshness")
    assert result.status == Status.PASS and "newest file sub/new.txt" in result.detail


def test_an_empty_copy_without_a_stamp_fails(tmp_path) -> None:
    site = files_site(tmp_path, stamp=None)
    for relpath in FILES:
        site.targets["hdd"].remove(f"/mnt/hdd/data/{relpath}")
    result = site.run("freshness")
    assert result.status == Status.FAIL and result.detail == "the copy holds no files"


def test_a_newest_file_ahead_of_the_clock_is_an_error_naming_the_newest_credible_one(tmp_path) -> None:
    site = files_site(tmp_path, stamp=None)
    site.targets["hdd"].touch("/mnt/hdd/data/a.txt", site.ago(HOUR))
    site.targets["hdd"].write("/mnt/hdd/data/ahead.txt", b"x", site.ago(-5 * HOUR))
    result = site.run("freshness")
    assert result.status == Status.ERROR
    assert "newest file not in the future: a.txt, 1h ago (RPO 4h)" in result.detail


@pytest.mark.parametrize("how", sorted(FAILURES))
def test_a_target_that_cannot_answer_is_an_error(tmp_path, how: str) -> None:
    site = files_site(tmp_path)
    site.targets["hdd"].write("/mnt/hdd/data/.last-sync", b"synced", site.ago(60))
    site.targets["hdd"].break_(how, operations={"stat", "scan"})
    result = site.run("freshness")
    assert result.status == Status.ERROR
    assert result.detail.startswith("cannot read the last backup time: ")


def test_the_primary_without_a_stamp_is_skipped_with_one_it_is_checked(tmp_path) -> None:
    site = files_site(tmp_path)
    assert site.run("freshness", "primary").status == Status.SKIP
    site = files_site(tmp_path / "stamped", primary_stamp=".dumped")
    site.targets["droplet"].write("/srv/data/.dumped", b"", site.ago(48 * HOUR))
    assert site.run("freshness", "primary").status == Status.FAIL


# --- restic ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("hours_ago", "expected"), [(1, Status.PASS), (5, Status.FAIL), (-2, Status.ERROR)])
def test_newest_snapshot_against_the_rpo(tmp_path, hours_ago: float, expected: Status) -> None:
    site = restic_site(tmp_path)
    site.restic().add_snapshot(FILES, time=site.at(30 * HOUR))
    newest = site.restic().add_snapshot(FILES, time=site.at(hours_ago * HOUR))
    result = site.run("freshness")
    assert result.status == expected, result.detail
    assert newest.short_id in result.detail


def test_only_the_datasets_own_snapshots_count(tmp_path) -> None:
    """A fresh snapshot of another dataset in the same repository does not make this one fresh."""
    site = restic_site(tmp_path, snapshot_filter={"tags": ["platform-db"]})
    site.restic().add_snapshot(FILES, time=site.at(30 * HOUR), tags=("platform-db",))
    site.restic().add_snapshot(FILES, time=site.at(HOUR), tags=("archive",))
    result = site.run("freshness")
    assert result.status == Status.FAIL and result.detail.startswith("stale")
    assert [s.tags for s in site.context().dataset_snapshots()] == [("platform-db",)]


def test_a_repository_without_a_snapshot_of_the_dataset_fails(tmp_path) -> None:
    site = restic_site(tmp_path, snapshot_filter={"tags": ["platform-db"]})
    site.restic().add_snapshot(FILES, time=site.at(HOUR), tags=("archive",))
    result = site.run("freshness")
    assert result.status == Status.FAIL
    assert result.detail == "no snapshot for this dataset matching {'tags': ['platform-db']} (1 in the repository)"


@pytest.mark.parametrize("kind", [k for k in ResticFailure if k is not ResticFailure.DATA_ERROR])
def test_snapshots_that_cannot_be_listed_are_an_error(tmp_path, kind: ResticFailure) -> None:
    site = restic_site(tmp_path)
    site.restic().add_snapshot(FILES, time=site.at(HOUR))
    site.restic().fail("snapshots", kind)
    result = site.run("freshness")
    assert result.status == Status.ERROR
    assert result.detail.startswith(f"cannot read the last backup time: {kind}")
    with pytest.raises(ResticError):  # restore-test then knows they are unknown
        site.context().dataset_snapshots()
