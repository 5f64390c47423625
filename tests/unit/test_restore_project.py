"""agent.restore.project as a table: a measured restore → the throughput and the projected full
restore time held against the RTO. Measured against real restores in tests/integration/test_restore.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.restic import Snapshot
from agent.restore.listing import LISTING_SIZE_SOURCE
from agent.restore.model import BackupListing
from agent.restore.project import STATS_SIZE_SOURCE, project, projected_seconds, throughput

MiB = 2**20
SNAPSHOT = Snapshot("a" * 64, "aaaaaaaa", datetime(2026, 11, 24, tzinfo=UTC), "vm", ("/data",), ())


@pytest.mark.parametrize("bytes_restored, restore_seconds, overhead, rate, conservative", [
    (10 * MiB, 2.0, 0.5, 10 * MiB / 1.5, False),
    (10 * MiB, 2.0, 1.6, 10 * MiB / 2.0, True),  # fixed cost swamps the data time: the whole time counts
    (10 * MiB, 2.0, 1.6000001, 10 * MiB / 2.0, True),
    (10 * MiB, 2.0, 1.5, 10 * MiB / 0.5, False),  # exactly a fifth is data time: a usable rate
    (0, 1.0, 0.1, None, False),  # nothing restored: no rate
    (100, 0.0, 0.0, 100 / 1e-3, False),  # never a division by zero
])
def test_throughput(bytes_restored, restore_seconds, overhead, rate, conservative):
    assert throughput(bytes_restored, restore_seconds, overhead) == (pytest.approx(rate) if rate else None,
                                                                     conservative)


@pytest.mark.parametrize("overhead, full_size, rate, seconds", [
    (0.5, 100 * MiB, 10 * MiB, 10.5),
    (0.5, 0, None, 0.5),  # an empty backup restores in its overhead
    (0.5, 100, None, None),  # bytes to restore but no rate: cannot be projected
    (0.0, 0, 5.0, 0.0),
])
def test_projected_seconds(overhead, full_size, rate, seconds):
    assert projected_seconds(overhead, full_size, rate) == seconds


def listing(full_size: int, overhead: float = 0.5, size_source: str = LISTING_SIZE_SOURCE) -> BackupListing:
    return BackupListing({}, full_size, overhead, "snapshot aaaaaaaa", SNAPSHOT, "/data/", size_source)


class RestoreSize:
    """restic's own restore size, as project() asks for it: counted, so a test sees when it was asked."""

    def __init__(self, size: int | None):
        self.size, self.asked = size, 0

    def __call__(self) -> int | None:
        self.asked += 1
        return self.size


@pytest.mark.parametrize("full_size, rto, stats, asked, seconds, size, source", [
    # within the RTO: restic's figure is not asked for
    (100 * MiB, 60.0, 50 * MiB, 0, 10.5, 100 * MiB, LISTING_SIZE_SOURCE),
    # over it: restic's own size (hard links counted once) decides
    (100 * MiB, 8.0, 50 * MiB, 1, 5.5, 50 * MiB, STATS_SIZE_SOURCE),
    (100 * MiB, 8.0, 90 * MiB, 1, 9.5, 90 * MiB, STATS_SIZE_SOURCE),
    # no figure from restic: the listing's (never smaller) stands
    (100 * MiB, 8.0, None, 1, 10.5, 100 * MiB, LISTING_SIZE_SOURCE),
])
def test_project_confirms_a_failing_projection_with_restics_restore_size(full_size, rto, stats, asked, seconds,
                                                                         size, source):
    restore_size = RestoreSize(stats)
    projection = project(listing(full_size), 20 * MiB, 2.5, rto, restore_size)  # 10 MiB/s after 0.5 s overhead
    assert restore_size.asked == asked
    assert (projection.seconds, projection.full_size, projection.size_source) == (seconds, size, source)
    assert projection.size_confirmed is (source == STATS_SIZE_SOURCE)
    assert projection.exceeds_rto is (seconds > rto)
    assert (projection.problem() is not None) is (seconds > rto)


def test_a_size_already_from_restic_is_not_asked_for_again():
    restore_size = RestoreSize(1)
    projection = project(listing(100 * MiB, size_source=STATS_SIZE_SOURCE), 20 * MiB, 2.5, 8.0, restore_size)
    assert restore_size.asked == 0 and projection.exceeds_rto and projection.measured() == {}


def test_the_projection_is_rounded_up_to_the_millisecond_never_down():
    projection = project(listing(1), 3, 1.5, 3600.0)  # 3 B/s after 0.5 s overhead
    assert projection.seconds == 0.834  # 0.8333…: rounded up, never down to 0.833
    assert project(listing(0, overhead=0.0), 0, 1.0, 1.0).seconds == 0.0


def test_what_a_projection_records_and_says():
    conservative = project(listing(100 * MiB, overhead=1.9), 20 * MiB, 2.0, 8.0, RestoreSize(50 * MiB))
    assert conservative.measured() == {"throughput_conservative": True, "full_size_bytes": 50 * MiB,
                                       "full_size_source": STATS_SIZE_SOURCE}
    # 1.9 s + 100 MiB at 10 MiB/s fails the 8 s RTO; restic's 50 MiB meets it
    assert conservative.seconds == pytest.approx(6.9) and conservative.problem() is None
    over = project(listing(100 * MiB), 20 * MiB, 2.5, 8.0)
    assert over.problem() == ("projected full restore 10.5s (10s) exceeds the RTO 8s (8s) at the measured "
                              "10.0 MiB/s")
    assert over.projection_text() == "projected full restore of 100.0 MiB: 10s (10.5s) against RTO 8s (8s)"
    assert over.timing_text() == "20.0 MiB in 2.50s (10.0 MiB/s, overhead 0.50s)"
    none = project(listing(100), 0, 1.0, 8.0)
    assert none.seconds is None and none.problem() is None
    assert none.projection_text() == "full restore time cannot be projected: no bytes were restored"
    assert none.timing_text() == "0 B in 1.00s"
