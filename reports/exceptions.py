"""The report's exceptions: consecutive failing records of one check on one copy (or of one
dataset verdict, one drill, one copy's credit, or runs), each episode closed by the next passing
record (a credit error also by the copy's next passing verification)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reports.rows import is_compliant, is_verdict, parse_time


@dataclass(frozen=True)
class ExceptionEpisode:
    """Consecutive failing records of one check on one copy (or one dataset verdict, or runs)."""

    kind: str
    dataset: str
    copy: str
    check: str
    result: str
    records: tuple[int, ...]
    first_at: datetime
    detail: str
    recovered_at: datetime | None
    recovered_record: int | None


def _exception_key(row: dict[str, Any]) -> tuple[str, ...] | None:
    """The identity of what failed, or None when the row is not a failure/recovery candidate."""
    kind = row.get("kind")
    if kind == "check":
        return (kind, row.get("dataset") or "", row.get("target") or "", row.get("role") or "",
                row.get("form_of_copy") or "", row.get("check_name") or "")
    if kind == "dataset" and is_verdict(row):
        return (kind, row.get("dataset") or "", "", "", "", row.get("check_name") or "")
    if kind == "run":
        return (kind, "", "", "", "", "run")
    if kind in ("drill", "credit"):
        return (kind, row.get("dataset") or "", row.get("target") or "", row.get("role") or "",
                row.get("form_of_copy") or "", kind)
    return None


def _credit_of(row: dict[str, Any]) -> tuple[str, ...]:
    """The key of the credit episode a passing verification of the same copy closes."""
    return ("credit", row.get("dataset") or "", row.get("target") or "", row.get("role") or "",
            row.get("form_of_copy") or "", "credit")


def _acceptance_of(row: dict[str, Any]) -> tuple[str, ...]:
    """The key of the check episode an acceptance record answers."""
    return ("check", row.get("dataset") or "", row.get("target") or "", row.get("role") or "",
            row.get("form_of_copy") or "", row.get("check_name") or "")


def _is_failure(row: dict[str, Any]) -> bool | None:
    """True failing, False passing (a recovery), None neither (a skipped check)."""
    if row["kind"] == "dataset":
        return not is_compliant(row)
    if row["kind"] == "run":
        return row["result"] == "interrupted"
    if row["result"] == "skip":
        return None
    return row["result"] != "pass"


def exception_episodes(rows: list[dict[str, Any]]) -> list[ExceptionEpisode]:
    """Group failing records into episodes per key, closed by the next passing record of the same key."""
    open_: dict[tuple[str, ...], dict[str, Any]] = {}
    done: list[ExceptionEpisode] = []

    def close(key: tuple[str, ...], recovered: dict[str, Any] | None) -> None:
        episode = open_.pop(key)
        first = episode["rows"][0]
        accepted = episode.get("accepted")
        done.append(ExceptionEpisode(
            kind=key[0], dataset=key[1],
            copy=f"{key[2]} ({key[3]}, {key[4]})" if key[2] else "—",
            check=key[5],
            result=first["result"] if key[0] != "dataset" else "fail",
            records=tuple(r["record_no"] for r in episode["rows"]),
            first_at=parse_time(first["recorded_at"]),
            detail=(first.get("detail") or "") + (f" — 已接受 / accepted (#{accepted['record_no']}): "
                                                  f"{accepted.get('detail') or ''}" if accepted else ""),
            recovered_at=parse_time(recovered["recorded_at"]) if recovered else None,
            recovered_record=recovered["record_no"] if recovered else None,
        ))

    for row in rows:
        if row.get("kind") == "acceptance":
            # An operator accepted the suspect backup (backup-agent anomaly accept): said on its episode.
            key = _acceptance_of(row)
            if key in open_:
                open_[key]["accepted"] = row
            continue
        if row.get("kind") == "copy" and row.get("result") == "pass" and _credit_of(row) in open_:
            # The copy verified again (the disk plugged back in): its credit error is over.
            close(_credit_of(row), row)
            continue
        key = _exception_key(row)
        if key is None:
            continue
        failing = _is_failure(row)
        if failing is None:
            continue
        if failing:
            open_.setdefault(key, {"rows": []})["rows"].append(row)
        elif key in open_:
            close(key, row)
    for key in list(open_):
        close(key, None)
    return sorted(done, key=lambda e: e.records[0])
