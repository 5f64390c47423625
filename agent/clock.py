"""The agent's notion of "now". Tests and the report's 30-day fixtures inject time through
BACKUP_AGENT_NOW (ISO 8601), so records are produced by the real pipeline at chosen times."""

from __future__ import annotations

import os
from datetime import UTC, datetime


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
