"""Plain copies (an rsync-style mirror with a sync stamp) through the real checks: freshness and
files-checksum, SHA-256 of real files against the primary. Each test breaks its own mirror."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from agent.models import Status
from tests.support.restic import flip_bytes
from tests.support.sandbox import Sandbox, check_result, copy_result, dataset_result, mirror, statuses

pytestmark = pytest.mark.integration

DATASET = "finance-records"
TEN_DAYS = 10 * 86400


def files_layout(sandbox: Sandbox, sample_tree: Path, *, stamp: str | None = ".last-sync") -> tuple[Path, Path]:
    """A primary on the droplet stand-in and one mirror on the HDD stand-in. Return (primary, copy)."""
    primary = mirror(sample_tree, sandbox.root / "droplet" / "finance", stamp=None)
    copy = mirror(sample_tree, sandbox.root / "hdd" / "finance", stamp=stamp)
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("hdd", "hdd", "kc-home")
    sandbox.dataset(DATASET, primary=sandbox.files_copy("droplet", primary, stamp=None),
                    copies=[sandbox.files_copy("hdd", copy, stamp=stamp)],
                    policy={"copies": 2, "media": 2, "offsite": 1})
    return primary, copy


def checksum_of(run):
    copy = copy_result(run, DATASET, "hdd")
    return copy, check_result(copy, "files-checksum")


def test_healthy_mirror_passes(files_sandbox, sample_tree):
    files_layout(files_sandbox, sample_tree)
    run = files_sandbox.verify()
    copy, checksum = checksum_of(run)
    assert copy.status == Status.PASS, statuses(copy)
    assert checksum.status == Status.PASS
    expected = sum(1 for p in sample_tree.rglob("*") if p.is_file())
    assert checksum.measured["files_compared"] == expected  # the stamp is bookkeeping, not data
    assert checksum.measured["bytes_verified"] == sum(p.stat().st_size for p in sample_tree.rglob("*") if p.is_file())
    assert check_result(copy, "freshness").status == Status.PASS
    assert dataset_result(run, DATASET).status == Status.PASS


@pytest.mark.parametrize("relpath", ["db/blob.bin", "docs/2026/出货单 11月.txt"])
def test_flipped_byte_fails_and_names_the_file(files_sandbox, sample_tree, relpath):
    _, copy_dir = files_layout(files_sandbox, sample_tree)
    flip_bytes(copy_dir / relpath, count=1)
    copy, checksum = checksum_of(files_sandbox.verify())
    assert checksum.status == Status.FAIL, statuses(copy)
    assert "1 mismatched" in checksum.detail and relpath in checksum.detail
    assert checksum.measured["mismatched"] == 1
    assert copy.status == Status.FAIL


@pytest.mark.parametrize("warm_cache", [False, True], ids=["cold-cache", "warm-cache"])
def test_flipped_byte_with_mtime_restored_is_still_caught(files_sandbox, sample_tree, warm_cache):
    """Size and mtime unchanged: a check trusting them would pass. With a warm hash cache (a healthy
    run first) the write is still seen through ctime, and is named silent corruption."""
    _, copy_dir = files_layout(files_sandbox, sample_tree)
    victim = copy_dir / "db" / "lithera-2026-11-23.sql"
    if warm_cache:
        _, healthy = checksum_of(files_sandbox.verify())
        assert healthy.status == Status.PASS
    before = victim.stat()
    time.sleep(0.01)  # a distinct ctime even on coarse clocks
    flip_bytes(victim, count=1)
    os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert victim.stat().st_size == before.st_size and victim.stat().st_mtime_ns == before.st_mtime_ns

    copy, checksum = checksum_of(files_sandbox.verify())
    assert checksum.status == Status.FAIL, statuses(copy)
    assert "db/lithera-2026-11-23.sql" in checksum.detail
    if warm_cache:
        assert "silent corruption on the copy" in checksum.detail


def test_truncated_file_fails(files_sandbox, sample_tree):
    _, copy_dir = files_layout(files_sandbox, sample_tree)
    victim = copy_dir / "docs" / "2026" / "invoice-0007.pdf"
    victim.write_bytes(victim.read_bytes()[:100])
    copy, checksum = checksum_of(files_sandbox.verify())
    assert checksum.status == Status.FAIL, statuses(copy)
    assert "docs/2026/invoice-0007.pdf" in checksum.detail


def test_deleted_file_fails_as_missing(files_sandbox, sample_tree):
    _, copy_dir = files_layout(files_sandbox, sample_tree)
    (copy_dir / "docs" / "readme.txt").unlink()
    copy, checksum = checksum_of(files_sandbox.verify())
    assert checksum.status == Status.FAIL, statuses(copy)
    assert "1 missing" in checksum.detail and "docs/readme.txt" in checksum.detail
    assert checksum.measured["missing"] == 1
    assert copy.status == Status.FAIL


def test_extra_file_fails_as_extra(files_sandbox, sample_tree):
    _, copy_dir = files_layout(files_sandbox, sample_tree)
    (copy_dir / "docs" / "2026" / "stray.tmp").write_text("left over\n")
    copy, checksum = checksum_of(files_sandbox.verify())
    assert checksum.status == Status.FAIL, statuses(copy)
    assert "1 extra" in checksum.detail and "docs/2026/stray.tmp" in checksum.detail
    assert checksum.measured["extra"] == 1


def test_stale_stamp_fails_freshness(files_sandbox, sample_tree):
    _, copy_dir = files_layout(files_sandbox, sample_tree)
    old = time.time() - TEN_DAYS
    os.utime(copy_dir / ".last-sync", (old, old))
    copy = copy_result(files_sandbox.verify(), DATASET, "hdd")
    freshness = check_result(copy, "freshness")
    assert freshness.status == Status.FAIL, statuses(copy)
    assert "stale" in freshness.detail and "stamp .last-sync" in freshness.detail
    assert freshness.measured["age_seconds"] > TEN_DAYS - 60
    assert copy.status != Status.PASS


def test_stale_mirror_that_nothing_could_be_compared_on_reads_fail(files_sandbox, sample_tree):
    """Every primary file is newer than the 3-day-old stamp, so files-checksum can compare nothing
    (error); the copy and the dataset still read `fail`: the backup is stale, which was proven."""
    _, copy_dir = files_layout(files_sandbox, sample_tree)
    old = time.time() - 3 * 86400
    os.utime(copy_dir / ".last-sync", (old, old))
    run = files_sandbox.verify()
    copy = copy_result(run, DATASET, "hdd")
    assert check_result(copy, "freshness").status == Status.FAIL
    assert check_result(copy, "files-checksum").status == Status.ERROR
    assert copy.status == Status.FAIL, statuses(copy)
    assert dataset_result(run, DATASET).status == Status.FAIL


def test_missing_stamp_fails_freshness(files_sandbox, sample_tree):
    _, copy_dir = files_layout(files_sandbox, sample_tree)
    (copy_dir / ".last-sync").unlink()
    copy = copy_result(files_sandbox.verify(), DATASET, "hdd")
    freshness = check_result(copy, "freshness")
    assert freshness.status == Status.FAIL, statuses(copy)
    assert "missing" in freshness.detail
    assert copy.status != Status.PASS


def test_without_stamp_the_newest_mtime_decides(files_sandbox, sample_tree):
    _, copy_dir = files_layout(files_sandbox, sample_tree, stamp=None)
    old = time.time() - TEN_DAYS
    for path in copy_dir.rglob("*"):
        os.utime(path, (old, old))
    copy = copy_result(files_sandbox.verify(), DATASET, "hdd")
    freshness = check_result(copy, "freshness")
    assert freshness.status == Status.FAIL, statuses(copy)
    assert "newest file" in freshness.detail
    assert copy.status != Status.PASS


def test_missing_copy_directory_is_an_error(files_sandbox, sample_tree):
    _, copy_dir = files_layout(files_sandbox, sample_tree)
    os.rename(copy_dir, copy_dir.with_name("elsewhere"))
    copy = copy_result(files_sandbox.verify(), DATASET, "hdd")
    assert check_result(copy, "reachable").status == Status.ERROR, statuses(copy)
    assert copy.status == Status.ERROR
    assert not any(c.status == Status.PASS for c in copy.checks)


def test_primary_change_after_the_last_sync_is_pending_not_failed(files_sandbox, sample_tree):
    """A file edited on the primary after the mirror's last sync may differ: not a corruption."""
    primary_dir, copy_dir = files_layout(files_sandbox, sample_tree)
    edited = primary_dir / "docs" / "readme.txt"
    edited.write_text("finance records, edited after the sync\n")
    # After the sync, yet within the clock skew: a file dated further ahead is compared (agent.clock).
    later = (copy_dir / ".last-sync").stat().st_mtime + 200
    os.utime(edited, (later, later))
    copy, checksum = checksum_of(files_sandbox.verify())
    assert checksum.status == Status.PASS, statuses(copy)
    assert checksum.measured["files_pending"] == 1


@pytest.mark.parametrize("primary_state", ["gone", "emptied"])
def test_copy_is_not_passed_when_the_primary_cannot_vouch_for_it(files_sandbox, sample_tree, primary_state):
    """The comparison needs the primary: a vanished primary is an error, an emptied one (e.g. its
    volume not mounted) leaves every file on the copy unexplained. Neither may pass the copy."""
    primary_dir, _ = files_layout(files_sandbox, sample_tree)
    os.rename(primary_dir, primary_dir.with_name("moved-away"))
    if primary_state == "emptied":
        primary_dir.mkdir()
    copy, checksum = checksum_of(files_sandbox.verify())
    expected = Status.ERROR if primary_state == "gone" else Status.FAIL
    assert checksum.status == expected, statuses(copy)
    assert copy.status != Status.PASS
