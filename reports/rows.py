"""Reading one QEF-19-05 / QEF-19-03 record row: its time, its measured values, and what kind of
verdict it carries. A record says what it is in structured fields (`measured.evaluated`,
`measured.content_proven`); records are kept five years, so those written before the fields
existed are read by a clearly marked legacy rule, never a new one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

# LEGACY (records before `measured.evaluated`): a dataset record whose policy was skipped (a
# `verify --target` run saw only some copies) said so only in its detail.
LEGACY_NOT_EVALUATED_PREFIX = "not evaluated"


def parse_time(text: str | None) -> datetime | None:
    """Return an aware datetime from a record's ISO 8601 time, or None."""
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def agent_version(row: dict[str, Any]) -> str | None:
    try:
        versions = json.loads(row.get("tool_versions") or "{}")
    except (TypeError, ValueError):
        return None
    return versions.get("backup-agent") if isinstance(versions, dict) else None


def measured(row: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(row.get("measured") or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def is_verdict(row: dict[str, Any]) -> bool:
    """A dataset record that carries a 3-2-1 verdict (not one from a run that saw only some copies)."""
    if row.get("kind") != "dataset":
        return False
    evaluated = measured(row).get("evaluated")
    if isinstance(evaluated, bool):
        return evaluated
    return not (row.get("detail") or "").startswith(LEGACY_NOT_EVALUATED_PREFIX)


def is_compliant(row: dict[str, Any]) -> bool:
    """The 3-2-1 verdict of a dataset record; unreadable measured values count as not compliant."""
    return measured(row).get("compliant") is True
