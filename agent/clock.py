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
import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TIME_HINT = ("ISO 8601 with a UTC offset (2026-11-30T00:00:00+08:00, 2026-11-30T16:00Z), or a date "
             "(2026-11-30: that day from 00:00 in UTC, or in --tz)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?", re.I)
_OFFSET = re.compile(r"(UTC)?([+-])(\d{1,2})(?::?(\d{2}))?", re.I)

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


def parse_zone(text: str) -> tzinfo:
    """Given an IANA zone name (Asia/Shanghai), UTC, or an offset (+08:00, UTC+8), return it.
    Raise ValueError naming what is accepted."""
    if text.upper() in ("UTC", "Z"):
        return UTC
    offset = _OFFSET.fullmatch(text.strip())
    if offset:
        sign = -1 if offset.group(2) == "-" else 1
        delta = timedelta(hours=int(offset.group(3)), minutes=int(offset.group(4) or 0))
        if delta > timedelta(hours=14):
            raise ValueError(f"--tz {text!r}: an offset is at most 14 hours")
        return timezone(sign * delta)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"--tz {text!r}: expected an IANA zone name (Asia/Shanghai), UTC, or an offset "
                         "(+08:00)") from None


def parse_moment(text: str, zone: tzinfo | None = None) -> datetime:
    """Given a time an operator typed, return it as an aware UTC datetime; raise ValueError otherwise.

    ISO 8601 with an offset or Z; without one, the time is in `zone` (default UTC). A plain date is
    that day's start in `zone`. Anything else ("yesterday", "zzz", 2026-13-01) is refused, never
    read as "no bound": a filter that silently matches nothing hides records from an auditor."""
    text = text.strip()
    zone = zone or UTC
    try:
        if _DATE.fullmatch(text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        if _DATE_TIME.fullmatch(text):
            moment = datetime.fromisoformat(re.sub(r"z$", "+00:00", text, flags=re.I))
            return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC)
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not a time: expected {TIME_HINT}")


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
