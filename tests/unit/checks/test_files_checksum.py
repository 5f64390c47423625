"""files-checksum on fake targets: SHA-256 of every file of a plain copy against the primary.
A changed, missing or extra file fails, a byte changed under an unchanged size and mtime is silent
corruption, a file that cannot be read (or a target that cannot answer) is an error, and nothing
compared is never a pass. Real trees, SSH and S3: tests/integration/test_checks_files.py,
ssh/test_ssh_verify.py, s3/test_s3_objects.py."""

from __future__ import annotations

import pytest

from agent.models import Status
from tests.support.fake_site import FakeSite
from tests.support.fake_target import FAILURES

HOUR = 3600.0
FILES = {"a.txt": b"alpha\n", "db/dump.sql": b"INSERT 1;\n" * 50, "docs/出货单 11月.txt": "出货\n".encode()}
PRIMARY, COPY = "/srv/data", "/mnt/hdd/data"


def mirrored(tmp_path, files: dict[str, bytes] = FILES) -> FakeSite:
    """A primary and a mirror of it synced an hour ago (files two days old, stamp an hour old)."""
    site = FakeSite(tmp_path, rpo="1d")
    site.target("droplet", medium="cloud-vm", location="sgp").tree(PRIMARY, files, site.ago(48 * HOUR))
    hdd = site.target("hdd", medium="hdd", location="home")
    hdd.tree(COPY, files, site.ago(48 * HOUR))
    hdd.write(f"{COPY}/.last-sync", b"synced\n", site.ago(HOUR))
    site.primary("droplet", PRIMARY)
    site.copy("hdd", COPY, stamp=".last-sync")
    return site


def checksum(site: FakeSite):
    assert site.run("freshness").status == Status.PASS
    return site.run("files-checksum")


def test_an_identical_mirror_passes(tmp_path) -> None:
    result = checksum(mirrored(tmp_path))
    assert result.status == Status.PASS, result.detail
    assert result.measured["files_verified"] == 3 and result.measured["mismatched"] == 0
    assert result.measured["bytes_verified"] == sum(len(v) for v in FILES.values())
    assert result.detail.startswith("3 files match the primary")


@pytest.mark.parametrize(("damage", "words", "counter"), [
    (lambda hdd: hdd.corrupt(f"{COPY}/db/dump.sql"), "1 mismatched (db/dump.sql)", "mismatched"),
    (lambda hdd: hdd.write(f"{COPY}/a.txt", b"alpha, longer\n", hdd.now - 48 * HOUR), "1 mismatched (a.txt)",
     "mismatched"),
    (lambda hdd: hdd.remove(f"{COPY}/docs/出货单 11月.txt"), "1 missing (docs/出货单 11月.txt)", "missing"),
    (lambda hdd: hdd.write(f"{COPY}/stray.tmp", b"?"), "1 extra (stray.tmp)", "extra"),
], ids=["flipped-byte", "other-size", "missing", "extra"])
def test_a_damaged_copy_fails_naming_the_file(tmp_path, damage, words: str, counter: str) -> None:
    site = mirrored(tmp_path)
    damage(site.targets["hdd"])
    result = checksum(site)
    assert result.status == Status.FAIL
    assert words in result.detail
    assert result.measured[counter] == 1


def test_a_primary_file_changed_since_the_sync_is_pending_not_failed(tmp_path) -> None:
    site = mirrored(tmp_path)
    site.targets["droplet"].write(f"{PRIMARY}/a.txt", b"edited after the sync\n", site.ago(60))
    result = checksum(site)
    assert result.status == Status.PASS
    assert result.measured["files_pending"] == 1 and result.measured["files_verified"] == 2


def test_a_primary_file_dated_in_the_future_is_compared_all_the_same(tmp_path) -> None:
    site = mirrored(tmp_path)
    site.targets["droplet"].write(f"{PRIMARY}/a.txt", b"not what the copy holds\n", site.ago(-10 * HOUR))
    result = checksum(site)
    assert result.status == Status.FAIL
    assert "1 mismatched (a.txt)" in result.detail and result.measured["files_future_dated"] == 1


def test_silent_corruption_of_the_copy_is_named_as_such(tmp_path) -> None:
    site = mirrored(tmp_path)
    assert checksum(site).status == Status.PASS  # hashed and remembered
    site.next_night(1)
    site.targets["hdd"].corrupt(f"{COPY}/a.txt")
    result = checksum(site)
    assert result.status == Status.FAIL
    assert "silent corruption on the copy: content changed with size and mtime unchanged (a.txt)" in result.detail


def test_a_primary_changed_under_an_unchanged_size_and_mtime_is_suspected_at_the_source(tmp_path) -> None:
    site = mirrored(tmp_path)
    assert checksum(site).status == Status.PASS
    site.next_night(1)
    site.targets["droplet"].corrupt(f"{PRIMARY}/a.txt")
    result = checksum(site)
    assert result.status == Status.FAIL
    assert "suspected corruption at the source" in result.detail


def test_an_unreadable_file_is_an_error(tmp_path) -> None:
    site = mirrored(tmp_path)
    site.targets["hdd"].deny(f"{COPY}/db/dump.sql")
    result = checksum(site)
    assert result.status == Status.ERROR
    assert result.detail == "1 unreadable (db/dump.sql)"


@pytest.mark.parametrize("side", ["droplet", "hdd"])
@pytest.mark.parametrize("how", sorted(FAILURES))
def test_a_target_that_cannot_answer_is_an_error(tmp_path, side: str, how: str) -> None:
    site = mirrored(tmp_path)
    site.targets[side].break_(how, operations={"scan", "hash"})
    result = checksum(site)
    assert result.status == Status.ERROR
    assert result.detail == f"cannot read the files: {FAILURES[how].format(name=side)}"


def test_without_a_last_sync_time_nothing_is_decided(tmp_path) -> None:
    site = mirrored(tmp_path)
    result = site.run("files-checksum")  # freshness did not run: the sync time is unknown
    assert result.status == Status.ERROR and "last sync time is unknown" in result.detail


def test_a_copy_holding_none_of_the_primary_fails(tmp_path) -> None:
    site = mirrored(tmp_path)
    for relpath in FILES:
        site.targets["hdd"].remove(f"{COPY}/{relpath}")
    result = checksum(site)
    assert result.status == Status.FAIL and result.measured["missing"] == 3


def test_nothing_old_enough_to_compare_is_an_error(tmp_path) -> None:
    site = mirrored(tmp_path)
    for relpath in FILES:
        site.targets["droplet"].touch(f"{PRIMARY}/{relpath}", site.ago(60))
    result = checksum(site)
    assert result.status == Status.ERROR
    assert result.detail.startswith("no primary file is old enough to have been synced")


def test_the_stamp_is_not_data(tmp_path) -> None:
    result = checksum(mirrored(tmp_path))
    assert result.measured["extra"] == 0 and result.measured["files_compared"] == 3
