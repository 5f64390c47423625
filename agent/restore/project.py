"""The full restore time, projected from a measured restore and held against the process RTO.

Restore time and bytes give a throughput; the fixed overhead is what the restore spent before its
first file appeared in scratch, else one metadata round trip on the same copy. Projected full
restore = overhead + full size / throughput. When the fixed cost swamps the data time (a tiny
sample) the whole restore time counts as data time, so the projection errs long, never short. A
projection from the listing's size (never short) that would fail the RTO is first recomputed with
restic's own restore size, so the verdict is the one restic's figure gives."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.restic import ResticError, ResticRepository
from agent.restore.model import BackupListing
from agent.units import format_duration, format_size

MEASURABLE_SHARE = 0.2  # data time below this share of the restore time is not a usable rate
STATS_SIZE_SOURCE = "restic stats --mode restore-size"


@dataclass(frozen=True)
class Projection:
    """A measured restore and the full restore time it projects (None: nothing to project from)."""

    bytes_restored: int
    restore_seconds: float
    overhead_seconds: float
    throughput: float | None  # bytes per second
    conservative: bool  # the whole restore time was taken as data time
    full_size: int
    size_source: str
    size_confirmed: bool  # restic's own restore size replaced the listing's
    seconds: float | None
    rto: float

    @property
    def exceeds_rto(self) -> bool:
        return self.seconds is not None and self.seconds > self.rto

    def measured(self) -> dict[str, Any]:
        """The figures recorded on the check, in the order they have always been."""
        figures: dict[str, Any] = {}
        if self.conservative:
            figures["throughput_conservative"] = True
        if self.size_confirmed:
            figures.update({"full_size_bytes": self.full_size, "full_size_source": self.size_source})
        return figures

    def timing_text(self) -> str:
        return (f"{format_size(self.bytes_restored)} in {self.restore_seconds:.2f}s"
                + (f" ({format_size(self.throughput)}/s, overhead {self.overhead_seconds:.2f}s)"
                   if self.throughput else ""))

    def projection_text(self) -> str:
        if self.seconds is None:
            return "full restore time cannot be projected: no bytes were restored"
        return (f"projected full restore of {format_size(self.full_size)}: {format_duration(self.seconds)} "
                f"({self.seconds:.1f}s) against RTO {format_duration(self.rto)} ({self.rto:g}s)")

    def problem(self) -> str | None:
        """What a projection that misses the RTO says; None when it meets it (or there is none)."""
        if not self.exceeds_rto:
            return None
        return (f"projected full restore {self.seconds:.1f}s ({format_duration(self.seconds)}) exceeds the RTO "
                f"{self.rto:g}s ({format_duration(self.rto)}) at the measured {format_size(self.throughput or 0)}/s")


def throughput(bytes_restored: int, restore_seconds: float, overhead_seconds: float) -> tuple[float | None, bool]:
    """Return (bytes per second or None when nothing was restored, whether the whole restore time
    was taken as data time because the fixed cost swamps it)."""
    transfer_seconds = restore_seconds - overhead_seconds
    conservative = transfer_seconds < MEASURABLE_SHARE * restore_seconds
    if conservative:
        # The throughput cannot be told apart from the fixed cost: a slower rate, a longer
        # projection, never an optimistic one.
        transfer_seconds = restore_seconds
    transfer_seconds = max(transfer_seconds, 1e-3)
    return (bytes_restored / transfer_seconds if bytes_restored else None), conservative


def projected_seconds(overhead_seconds: float, full_size: int, rate: float | None) -> float | None:
    """overhead + full size / throughput; the overhead alone for an empty backup; None without a rate."""
    if rate:
        return overhead_seconds + full_size / rate
    return overhead_seconds if full_size == 0 else None


def project(listing: BackupListing, bytes_restored: int, restore_seconds: float, rto: float,
            restore_size: Callable[[], int | None] = lambda: None) -> Projection:
    """Project the full restore of the listing from a measured restore. `restore_size` is restic's
    own figure, asked for only when the listing's would fail the RTO."""
    rate, conservative = throughput(bytes_restored, restore_seconds, listing.overhead_seconds)
    full_size, size_source, confirmed = listing.full_size, listing.size_source, False
    seconds = projected_seconds(listing.overhead_seconds, full_size, rate)
    if seconds is not None and seconds > rto and listing.size_source != STATS_SIZE_SOURCE:
        confirmed_size = restore_size()
        if confirmed_size is not None:
            full_size, size_source, confirmed = confirmed_size, STATS_SIZE_SOURCE, True
            seconds = projected_seconds(listing.overhead_seconds, full_size, rate)
    if seconds is not None:
        # The message and the record carry the same figure, rounded up to the millisecond so the
        # projection never comes out shorter than measured.
        seconds = math.ceil(seconds * 1000) / 1000
    return Projection(bytes_restored, restore_seconds, listing.overhead_seconds, rate, conservative, full_size,
                      size_source, confirmed, seconds, rto)


def restic_restore_size(restic: ResticRepository, listing: BackupListing) -> int | None:
    """restic's own restore size of the listing's snapshot (hard links counted once), or None when
    there is none to be had: without it the listing's (never smaller) stands."""
    if listing.snapshot is None:
        return None
    try:
        size = restic.stats(listing.snapshot.id, "restore-size").get("total_size")
    except (ResticError, ValueError):
        return None
    return size if isinstance(size, int) else None
