"""Times in the future through the real checks on local copies: a primary file dated days ahead
(never compared before: "changed since the last sync"), a sync stamp or a newest file dated ahead
on a stale mirror, a restic snapshot made with `backup --time` ahead of the clock, and the agent's
own rotation state written under a clock that ran ahead.

Anything beyond now + agent.clock.CLOCK_SKEW_SECONDS is reported; a copy whose comparison it
would have hidden is not `pass`; an age is never negative; an honest copy still passes."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.clock import CLOCK_SKEW_SECONDS
from agent.models import Status
from tests.support.names import corrupt_in_place
from tests.support.restic import FRESH_TAG, STALE_DAYS, STALE_TAG, pack_files, read_data_group
from tests.support.restore import leftover_scratch, restore_test, restore_verify
from tests.support.sandbox import Sandbox, check_result, copy_result, dataset_result, mirror, statuses

pytestmark = pytest.mark.integration

DATASET = "finance-records"
DAY = 86400
AHEAD = 3 * DAY
VICTIM = "docs/readme.txt"


def files_layout(sandbox: Sandbox, sample_tree: Path, *, stamp: str | None = ".last-sync") -> tuple[Path, Path]:
    """A primary and an rsync-style mirror of it (mtimes kept, stamp touched now). Return (primary, copy)."""
    primary = mirror(sample_tree, sandbox.root / "droplet" / "finance", stamp=None)
    copy = mirror(sample_tree, sandbox.root / "hdd" / "finance", stamp=stamp)
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("hdd", "hdd", "kc-home")
    sandbox.dataset(DATASET, Sandbox.files_copy("droplet", primary, stamp=None),
                    [Sandbox.files_copy("hdd", copy, stamp=stamp)], policy={"copies": 2, "media": 2, "offsite": 1})
    return primary, copy


def date_ahead(*paths: Path, seconds: float = AHEAD) -> None:
    """Date files `seconds` ahead of now, as a host whose clock runs ahead (or a hand with touch) would."""
    when = time.time() + seconds
    for path in paths:
        os.utime(path, (when, when))


def hdd(run):
    return copy_result(run, DATASET, "hdd")


# --- a primary file dated in the future --------------------------------------------------------


def test_future_dated_primary_file_corrupted_on_the_copy_fails_files_checksum(files_sandbox, sample_tree):
    primary, copy = files_layout(files_sandbox, sample_tree)
    date_ahead(primary / VICTIM, copy / VICTIM)  # rsync -a carries the date to the copy
    corrupt_in_place(copy / VICTIM)
    checksum = check_result(hdd(files_sandbox.verify()), "files-checksum")
    assert checksum.status == Status.FAIL, checksum.detail
    assert f"1 mismatched ({VICTIM})" in checksum.detail
    assert "1 primary files dated in the future" in checksum.detail
    assert checksum.measured["files_future_dated"] == 1 and checksum.measured["files_pending"] == 0


def test_future_dated_primary_file_missing_from_the_copy_fails(files_sandbox, sample_tree):
    primary, copy = files_layout(files_sandbox, sample_tree)
    date_ahead(primary / VICTIM)
    (copy / VICTIM).unlink()
    checksum = check_result(hdd(files_sandbox.verify()), "files-checksum")
    assert checksum.status == Status.FAIL and f"1 missing ({VICTIM})" in checksum.detail


def test_future_dated_primary_file_with_an_honest_copy_passes_and_is_reported(files_sandbox, sample_tree):
    primary, copy = files_layout(files_sandbox, sample_tree)
    date_ahead(primary / VICTIM, copy / VICTIM)
    result = hdd(files_sandbox.verify())
    checksum = check_result(result, "files-checksum")
    assert result.status == Status.PASS, statuses(result)
    assert checksum.measured["files_future_dated"] == 1 and checksum.measured["copy_files_future_dated"] == 1
    assert f"dated in the future (beyond now + 5m), compared all the same: {VICTIM}" in checksum.detail


def test_future_dated_primary_file_corrupted_on_the_copy_fails_the_restore_test(files_sandbox, sample_tree):
    primary, copy = files_layout(files_sandbox, sample_tree)
    date_ahead(primary / VICTIM, copy / VICTIM)
    corrupt_in_place(copy / VICTIM)
    restore = restore_test(files_sandbox, DATASET, "hdd")
    assert restore.status == Status.FAIL, restore.detail
    assert VICTIM in restore.detail
    assert leftover_scratch(files_sandbox) == []


def test_future_dated_primary_file_with_an_honest_copy_passes_the_restore_test(files_sandbox, sample_tree):
    primary, copy = files_layout(files_sandbox, sample_tree)
    date_ahead(primary / VICTIM, copy / VICTIM)
    restore = restore_test(files_sandbox, DATASET, "hdd")
    assert restore.status == Status.PASS, restore.detail
    assert restore.measured["primary_files_future_dated"] == 1
    assert restore.measured["compared_with_primary"] == restore.measured["files"]


# --- a stamp or newest file dated in the future on a stale mirror -------------------------------


def assert_future_is_error_with_unknown_age(result, source: str) -> None:
    freshness = check_result(result, "freshness")
    assert freshness.status == Status.ERROR, statuses(result)
    assert "ahead of this host's clock" in freshness.detail and source in freshness.detail
    assert freshness.measured["age_seconds"] is None and freshness.measured["future_by_seconds"] > AHEAD - 60
    assert result.age_seconds is None  # never negative, never shown as fresh
    assert result.status != Status.PASS


def test_future_stamp_on_a_stale_mirror_is_an_error_never_fresh(files_sandbox, sample_tree):
    _, copy = files_layout(files_sandbox, sample_tree)
    stale = time.time() - 10 * DAY
    for path in copy.rglob("*"):
        os.utime(path, (stale, stale))
    date_ahead(copy / ".last-sync")
    run = files_sandbox.verify()
    assert_future_is_error_with_unknown_age(hdd(run), "stamp .last-sync")
    assert dataset_result(run, DATASET).policy.measured["compliant"] is False


def test_without_a_stamp_one_future_dated_file_does_not_make_a_stale_mirror_fresh(files_sandbox, sample_tree):
    _, copy = files_layout(files_sandbox, sample_tree, stamp=None)
    stale = time.time() - 10 * DAY
    for path in copy.rglob("*"):
        os.utime(path, (stale, stale))
    date_ahead(copy / "empty.txt")
    result = hdd(files_sandbox.verify())
    assert_future_is_error_with_unknown_age(result, "newest file empty.txt")
    assert "newest file not in the future: " in check_result(result, "freshness").detail
    assert "10d ago" in check_result(result, "freshness").detail


def test_a_stamp_ahead_within_the_skew_is_fresh_with_age_zero(files_sandbox, sample_tree):
    _, copy = files_layout(files_sandbox, sample_tree)
    date_ahead(copy / ".last-sync", seconds=CLOCK_SKEW_SECONDS - 60)
    result = hdd(files_sandbox.verify())
    freshness = check_result(result, "freshness")
    assert freshness.status == Status.PASS, freshness.detail
    assert freshness.measured["age_seconds"] == 0 and result.age_seconds == 0


# --- a restic snapshot dated in the future ------------------------------------------------------


def restic_layout(sandbox: Sandbox, restic_template, repo: Path, tag: str) -> Path:
    primary = Path(shutil.copytree(restic_template.data, sandbox.root / "droplet" / "data"))
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("nas", "nas", "office")
    sandbox.dataset(DATASET, Sandbox.files_copy("droplet", primary, stamp=None),
                    [sandbox.restic_copy("nas", repo, snapshot_filter={"tags": [tag]})],
                    policy={"copies": 2, "media": 2, "offsite": 1})
    return primary


def backup_dated(restic_template, repo: Path, tag: str, moment: datetime) -> None:
    restic_template.restic(repo, "backup", "--tag", tag, "--time", moment.strftime("%Y-%m-%d %H:%M:%S"),
                           str(restic_template.data))


def test_future_snapshot_on_a_stale_repository_is_an_error_never_fresh(sandbox, restic_template, make_repo):
    """The dataset's real snapshots are STALE_DAYS old; one more made with `--time` a year ahead."""
    repo = make_repo()
    restic_layout(sandbox, restic_template, repo, STALE_TAG)
    backup_dated(restic_template, repo, STALE_TAG, datetime.now() + timedelta(days=365))
    run = restore_verify(sandbox)
    result = copy_result(run, DATASET, "nas")
    freshness = check_result(result, "freshness")
    assert freshness.status == Status.ERROR, statuses(result)
    assert freshness.measured["age_seconds"] is None and result.age_seconds is None
    assert "newest snapshot not in the future" in freshness.detail and f"{STALE_DAYS}d ago" in freshness.detail
    restore = check_result(result, "restore-test")
    assert restore.status == Status.ERROR and "in the future" in restore.detail, restore.detail
    assert result.status != Status.PASS
    assert dataset_result(run, DATASET).policy.measured["compliant"] is False
    assert leftover_scratch(sandbox) == []


def test_future_dated_primary_file_in_a_restic_backup_is_compared_and_an_honest_copy_passes(
        sandbox, restic_template, make_repo):
    """The backup recorded the same future mtime as the primary: held against the primary, reported."""
    repo = make_repo()
    primary = restic_layout(sandbox, restic_template, repo, "ahead")
    date_ahead(primary / "docs" / "readme.txt")
    restic_template.restic(repo, "backup", "--tag", "ahead", str(primary))
    restore = restore_test(sandbox, DATASET, "nas", "full")
    assert restore.status == Status.PASS, restore.detail
    assert restore.measured["primary_files_future_dated"] == 1
    assert restore.measured["compared_with_primary"] == restore.measured["files"]


# --- the agent's own state written under a clock that ran ahead ---------------------------------


def test_restore_test_stamped_in_the_future_is_due_again(sandbox, restic_template, make_repo, monkeypatch):
    """One night the agent's clock ran 30 days ahead; the next night's scheduled test must not wait 30 days."""
    restic_layout(sandbox, restic_template, make_repo(), FRESH_TAG)
    sandbox.datasets[DATASET]["restore_test"] = {"every": "7d"}
    monkeypatch.setenv("BACKUP_AGENT_NOW", (datetime.now(UTC) + timedelta(days=30)).isoformat())
    ahead = restore_test(sandbox, DATASET, "nas")
    assert ahead.status != Status.SKIP, ahead.detail
    monkeypatch.delenv("BACKUP_AGENT_NOW")
    scheduled = restore_test(sandbox, DATASET, "nas", None)
    assert scheduled.status == Status.PASS, scheduled.detail
    assert scheduled.measured["sample_coverage_ratio"] > 0


def test_read_data_group_stamped_in_the_future_is_not_counted_as_read(sandbox, restic_template, make_repo,
                                                                     monkeypatch):
    repo = make_repo()
    restic_layout(sandbox, restic_template, repo, FRESH_TAG)
    monkeypatch.setenv("BACKUP_AGENT_NOW", (datetime.now(UTC) + timedelta(days=40)).isoformat())
    sandbox.verify()  # reads group 1/3, stamped 40 days ahead
    monkeypatch.delenv("BACKUP_AGENT_NOW")
    read_data = check_result(copy_result(sandbox.verify(), DATASET, "nas"), "restic-read-data")
    assert read_data.status == Status.PASS, read_data.detail
    # Only group 2/3, read now, counts; (issue 18) counted in its packs, not as 1/3 of the groups.
    assert read_data.measured["subset"] == "2/3" and read_data.measured["groups_read"] == 1
    assert read_data.measured["packs_read"] == sum(1 for p in pack_files(repo) if read_data_group(p, 3) == 2)
