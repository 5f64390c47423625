"""restore-test on fake targets and a fake restic: a sample (or all) of the newest backup restored
into a real scratch directory, every restored file proven by SHA-256 against the primary or the
backup's own record, the scratch removed afterwards. A file that comes back different, damaged or
not at all fails; a backup that cannot be listed or read is an error; nothing restored is never a
pass. Real restic, sshd and S3, timing and the RTO projection: tests/integration/test_restore.py,
ssh/test_ssh_restore.py, s3/test_s3_restore.py."""

from __future__ import annotations

import pytest

from agent.checking import RunOptions
from agent.models import Status
from agent.restic import ResticFailure
from tests.support.fake_site import FakeSite
from tests.support.fake_target import FAILURES

HOUR = 3600.0
FILES = {"a.txt": b"alpha\n", "db/dump.sql": b"INSERT 1;\n" * 300, "docs/-rf": b"a hostile name\n"}
PRIMARY = "/srv/data"


def site_for(tmp_path, form: str, mode: str | None = "sample", **dataset) -> FakeSite:
    """A primary two days old; a plain mirror synced an hour ago, or a restic snapshot of the primary."""
    site = FakeSite(tmp_path, rpo="1d", **dataset)
    site.options = RunOptions(restore_test=mode)
    droplet = site.target("droplet", medium="cloud-vm", location="sgp")
    droplet.tree(PRIMARY, FILES, site.ago(48 * HOUR))
    site.primary("droplet", PRIMARY)
    if form == "files":
        hdd = site.target("hdd", medium="hdd", location="home")
        hdd.tree("/mnt/hdd/data", FILES, site.ago(48 * HOUR))
        hdd.write("/mnt/hdd/data/.last-sync", b"synced\n", site.ago(HOUR))
        site.copy("hdd", "/mnt/hdd/data", stamp=".last-sync")
    else:
        site.target("nas", "ssh", medium="nas", location="office")
        site.copy("nas", "/volume1/restic", form="restic")
        site.restic().backup(droplet, PRIMARY, time=site.at(HOUR))
    return site


def restore(site: FakeSite):
    assert site.run("reachable").status == Status.PASS
    site.run("freshness")
    result = site.run("restore-test")
    assert not list((site.root / "scratch").glob("restore-*")), "the scratch directory is removed afterwards"
    return result


@pytest.mark.parametrize("form", ["files", "restic"])
@pytest.mark.parametrize("mode", ["sample", "full"])
def test_a_healthy_copy_restores_and_every_file_is_proven(tmp_path, form: str, mode: str) -> None:
    result = restore(site_for(tmp_path, form, mode))
    assert result.status == Status.PASS, result.detail
    assert result.measured["files"] == result.measured["files_restored"] == 3
    assert result.measured["bytes_restored"] == sum(len(v) for v in FILES.values())
    assert "all 3 match (3 the primary, 0 the backup's own record)" in result.detail


def test_not_asked_and_not_scheduled_is_skipped(tmp_path) -> None:
    site = site_for(tmp_path, "files", mode=None)
    assert restore(site).status == Status.SKIP
    assert not any(op == "fetch" for op, _ in site.targets["hdd"].calls)


def test_scheduled_tests_run_when_due_and_again_after_a_failure(tmp_path) -> None:
    site = site_for(tmp_path, "files", mode=None, restore_test={"every": "7d", "sample_files": 5})
    first = restore(site)
    assert first.status == Status.PASS, "never restore-tested: due at once"
    site.next_night()
    assert restore(site).status == Status.SKIP
    site.next_night(7 * 24)
    site.targets["hdd"].corrupt("/mnt/hdd/data/a.txt")
    assert restore(site).status == Status.FAIL
    site.next_night()
    assert restore(site).status == Status.FAIL, "a test that did not pass is due again the next night"


def test_a_plain_copy_holding_other_bytes_than_the_primary_fails(tmp_path) -> None:
    site = site_for(tmp_path, "files")
    site.targets["hdd"].write("/mnt/hdd/data/a.txt", b"ALPHA\n", site.ago(48 * HOUR + 30))
    result = restore(site)
    assert result.status == Status.FAIL
    assert "1 restored files differ from the primary (a.txt)" in result.detail


def test_a_plain_copy_file_that_cannot_be_read_is_an_error(tmp_path) -> None:
    site = site_for(tmp_path, "files")
    site.targets["hdd"].deny("/mnt/hdd/data/db/dump.sql")
    result = restore(site)
    assert result.status == Status.ERROR
    assert result.detail.startswith("restore from the copy failed: cannot restore db/dump.sql")


@pytest.mark.parametrize("how", sorted(FAILURES))
def test_a_copy_that_stops_answering_is_an_error(tmp_path, how: str) -> None:
    site = site_for(tmp_path, "files")
    site.run("reachable")
    site.run("freshness")
    site.targets["hdd"].break_(how)
    result = site.run("restore-test")
    assert result.status == Status.ERROR
    assert FAILURES[how].format(name="hdd") in result.detail


def test_a_damaged_pack_fails_naming_the_files_it_took_down(tmp_path) -> None:
    site = site_for(tmp_path, "restic")
    site.restic().corrupt_pack(files=(f"{PRIMARY}/db/dump.sql",))
    result = restore(site)
    assert result.status == Status.FAIL
    assert "(1 files could not be restored: db/dump.sql)" in result.detail


def test_a_backup_holding_other_bytes_under_the_same_size_and_mtime_is_suspected_at_the_source(tmp_path) -> None:
    site = site_for(tmp_path, "restic")
    site.targets["droplet"].corrupt(f"{PRIMARY}/a.txt")  # the primary rotted after the backup
    result = restore(site)
    assert result.status == Status.FAIL
    assert "suspected corruption at the source" in result.detail
    assert result.measured["confirmed_with_restic_verify"] == 1
    assert any(call[0] == "restore" and "--verify" in call for call in site.restic().calls)


def test_a_repository_without_a_snapshot_of_the_dataset_fails(tmp_path) -> None:
    site = site_for(tmp_path, "restic")
    site.restic().snapshot_list.clear()
    result = restore(site)
    assert result.status == Status.FAIL and result.detail == "no snapshot of this dataset to restore"


def test_snapshots_that_could_not_be_listed_are_an_error(tmp_path) -> None:
    site = site_for(tmp_path, "restic")
    site.restic().fail("snapshots", ResticFailure.WRONG_PASSWORD)
    result = restore(site)
    assert result.status == Status.ERROR
    assert result.detail.startswith("cannot list the backup: wrong password")


@pytest.mark.parametrize(("operation", "kind", "expected"), [
    ("ls", ResticFailure.LOCKED, Status.ERROR),
    ("ls", ResticFailure.TIMEOUT, Status.ERROR),
    ("restore", ResticFailure.UNREACHABLE, Status.ERROR),
    ("restore", ResticFailure.DATA_ERROR, Status.FAIL),
])
def test_restic_failing_while_listing_or_restoring_is_never_a_pass(tmp_path, operation: str, kind: ResticFailure,
                                                                   expected: Status) -> None:
    site = site_for(tmp_path, "restic")
    site.restic().fail(operation, kind)
    result = restore(site)
    assert result.status == expected, result.detail
    assert str(kind) in result.detail
