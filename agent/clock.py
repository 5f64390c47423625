"""The agent's notion of "now". Tests and the report's 30-day fixtures inject time through
BACKUP_AGENT_NOW (ISO 8601), so records are produced by the real pipeline at chosen times.

Times in the future. A file's mtime, a sync stamp, a restic snapshot or an S3 object may claim a
time after now: a host whose clock runs ahead, a stamp touched with a future date, a snapshot made
with `restic backup --time 2030-…`. Such a time proves nothing about freshness (a stale mirror
with a stamp dated tomorrow would look fresh, an old file dated ahead would look "changed since
the last sync" and never be compared), so anything beyond now + CLOCK_SKEW_SECONDS is reported,
never taken at its word, and an age is never negative."""

from __future__ import annotations

import os
from datetime import UTC, datetime

# Clocks of separate hosts disagree a little (NTP keeps them within seconds; a host without it
# drifts by minutes a month). Five minutes allows for that and for no backup schedule's worth.
CLOCK_SKEW_SECONDS = 300.0


def now() -> datetime:
    """Return the current time (UTC, aware), or the time pinned by $BACKUP_AGENT_NOW."""
    pinned = os.environ.get("BACKUP_AGENT_NOW")
    if pinned:
        moment = datetime.fromisoformat(pinned.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """Return an aware datetime as ISO 8601 in UTC with a Z, or None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def from_timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _epoch(moment: datetime | float) -> float:
    return moment.timestamp() if isinstance(moment, datetime) else float(moment)


def in_future(moment: datetime | float, reference: datetime | float) -> bool:
    """Whether a time (datetime or epoch seconds) lies beyond `reference` (the run's now) plus the skew."""
    return _epoch(moment) > _epoch(reference) + CLOCK_SKEW_SECONDS


def age_seconds(moment: datetime | float, reference: datetime | float) -> float | None:
    """Return how long before `reference` a time was: never negative (a time within the skew ahead
    is age 0), and None for a time in the future (its age cannot be known)."""
    if in_future(moment, reference):
        return None
    return max(0.0, _epoch(reference) - _epoch(moment))
