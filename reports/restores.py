"""Restore tests and drills in the month's records, and the RTO achievement KPI they feed.

RTO achievement = restore tests and drills whose (projected) restore time is within the RTO and
whose restored data was proven / all restore tests and drills of the month (reports.monthly
states the definition on the report)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reports.rows import measured, parse_time


@dataclass(frozen=True)
class RestoreEntry:
    record_no: int
    at: datetime
    kind: str  # "restore test" or "drill"
    dataset: str
    target: str
    result: str
    restore_seconds: float | None
    projected_seconds: float | None
    rto_seconds: float | None
    # The data came back and was proven (every file hashed and matching). A quick restore of the
    # wrong bytes, or a drill that stopped early, is no RTO achievement however short it took.
    proven: bool = False
    # Drills: the age of the restored data against the RPO, and why a drill did not pass.
    rpo_actual_seconds: float | None = None
    rpo_seconds: float | None = None
    reason: str = ""

    @property
    def within_rto(self) -> bool | None:
        """True/False against the RTO; None when no time was measured (cannot decide, so not met).

        A restore test is judged on its projected full restore time, a drill on its actual time,
        and either only when the restore was proven: False otherwise."""
        seconds = self.projected_seconds if self.projected_seconds is not None else self.restore_seconds
        if seconds is None or self.rto_seconds is None:
            return None
        return self.proven and seconds <= self.rto_seconds


@dataclass(frozen=True)
class RtoAchievement:
    entries: tuple[RestoreEntry, ...]

    @property
    def met(self) -> int:
        return sum(1 for e in self.entries if e.within_rto)

    @property
    def rate(self) -> float | None:
        return self.met / len(self.entries) if self.entries else None


def is_restore_test(row: dict[str, Any]) -> bool:
    """A restore-test check record that ran (a skipped one is no test): named restore-… or with a projected time."""
    return row.get("kind") == "check" and row.get("result") != "skip" and (
        (row.get("check_name") or "").startswith("restore") or row.get("projected_restore_seconds") is not None)


# LEGACY (drill records before `content_proven`): a drill whose every file came back proven was
# `pass`, or `fail` when only the actual times missed their targets (errors with these prefixes).
LEGACY_DRILL_TIME_ERRORS = ("RTO missed", "RPO missed")


def _proven(row: dict[str, Any]) -> bool:
    """Whether the restore on this record brought every file back proven, as the record says.

    restore-test (checks/restore_test.py): `pass` with `content_proven` (records before that field:
    `pass`) — a `fail` is wrong content or a projection over the RTO, an `error` could not decide.
    Drill (QEF-19-03): its `content_proven` field, on a drill that ended pass or fail."""
    result = row.get("result")
    values = measured(row)
    if "content_proven" in values:
        proven = values["content_proven"] is True
        return proven and (result in ("pass", "fail") if row.get("kind") == "drill" else result == "pass")
    if row.get("kind") == "drill":
        return _legacy_drill_proven(result, values.get("errors"))
    return result == "pass"


def _legacy_drill_proven(result: Any, errors: Any) -> bool:
    """LEGACY: a drill record without `content_proven`, judged by its result and its error texts."""
    return result == "pass" or (result == "fail" and isinstance(errors, list) and bool(errors)
                                and all(isinstance(e, str) and e.startswith(LEGACY_DRILL_TIME_ERRORS)
                                        for e in errors))


def restore_entry(row: dict[str, Any], kind: str) -> RestoreEntry:
    values = measured(row)
    projected = row.get("projected_restore_seconds")
    if projected is None and kind == "restore test":
        projected = values.get("projected_restore_seconds")
    return RestoreEntry(
        record_no=row["record_no"], at=parse_time(row["recorded_at"]), kind=kind, dataset=row.get("dataset") or "",
        target=row.get("target") or "", result=row.get("result") or "",
        restore_seconds=row.get("restore_seconds"), projected_seconds=projected,
        # The record's column, else the RTO the restore itself was measured against.
        rto_seconds=row.get("rto_seconds") if row.get("rto_seconds") is not None else values.get(
            "rto_seconds", values.get("rto_target_seconds")),
        proven=_proven(row),
        rpo_actual_seconds=values.get("rpo_actual_seconds", row.get("age_seconds")),
        rpo_seconds=row.get("rpo_seconds") if row.get("rpo_seconds") is not None else values.get("rpo_target_seconds"),
        reason=_first_error(values) if row.get("result") != "pass" else "",
    )


def _first_error(values: dict[str, Any]) -> str:
    errors = values.get("errors")
    return "; ".join(str(e) for e in errors) if isinstance(errors, list) else ""
