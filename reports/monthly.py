"""The month's QEF-19-05 records turned into the report's data model.

Reads only the records store (agent.records.RecordStore) — never targets.yaml, never a target —
so the report can be produced on any machine holding the store, and the same records always give
the same model. Days are UTC calendar days, the time base of the records.

KPI definitions (SOP-19 §11), stated on the report as well:
- 3-copy completeness (数据 3 处备份完整率) = met dataset-days / counted dataset-days. A dataset-day
  is *met* when the dataset has at least one 3-2-1 verdict record that day and every such record
  says compliant. A day with no verdict record counts as *not met* (an unverified day is not a
  proven day), so a month with gaps can never show 100 %. Counted days are the month's days, up
  to the "generated at" day when the report is made during the month. Datasets are those named
  in the month's records.
- RTO achievement = restore tests and drills whose (projected) restore time is within the RTO and
  whose restored data was proven / all restore tests and drills of the month; none → "no data",
  never 100 %. A restore test (kind "check", check_name "restore-test") counts with its projected
  full restore time and only when it passed; a drill (form QEF-19-03, kind "drill") with its
  actual time, when every file came back proven (pass, or fail on the RPO alone); a drill that
  errored or was interrupted never counts, however short it took.
"""

from __future__ import annotations

import calendar
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from agent import __version__
from agent.records import FORM_DRILL, FORM_VERIFICATION, ChainReport, RecordStore

MET, NOT_MET, NO_RECORD, NOT_YET = "met", "not-met", "no-record", "not-yet"
# A dataset record whose policy was skipped (a `verify --target` run saw only some copies) is
# not a 3-2-1 verdict; rows_for_run keeps the policy detail, which says so.
NOT_EVALUATED_PREFIX = "not evaluated"


class ReportError(Exception):
    """The report cannot be produced (bad month, missing font, unwritable directory)."""


def parse_month(text: str, today: date | None = None) -> tuple[date, date]:
    """Given "YYYY-MM" (or "previous" for the month before today), return (first day, first day of next month).

    Raise ReportError on anything else.
    """
    if text in ("previous", "last"):
        today = today or datetime.now(UTC).date()
        first_this = today.replace(day=1)
        start = (first_this - timedelta(days=1)).replace(day=1)
    else:
        match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise ReportError(f"--month {text!r}: expected YYYY-MM (e.g. 2026-10) or 'previous'")
        start = date(int(match.group(1)), int(match.group(2)), 1)
    days = calendar.monthrange(start.year, start.month)[1]
    return start, start + timedelta(days=days)


def parse_time(text: str | None) -> datetime | None:
    """Return an aware datetime from a record's ISO 8601 time, or None."""
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _agent_version(row: dict[str, Any]) -> str | None:
    try:
        versions = json.loads(row.get("tool_versions") or "{}")
    except (TypeError, ValueError):
        return None
    return versions.get("backup-agent") if isinstance(versions, dict) else None


def _measured(row: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(row.get("measured") or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class DayStatus:
    day: date
    status: str  # met / not-met / no-record / not-yet
    records: tuple[int, ...] = ()  # the dataset verdict records of that day


@dataclass(frozen=True)
class AgePoint:
    at: datetime
    age_seconds: float | None  # None: that run measured no age (unreachable, no snapshot) — a gap


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
class CopySummary:
    target: str
    role: str
    form: str
    medium: str
    location: str
    checks_run: int
    checks_passed: int
    rpo_seconds: float | None
    rto_seconds: float | None
    worst_age_seconds: float | None
    worst_age_record: int | None
    runs_over_rpo: int
    runs: int
    read_data_latest: float | None
    read_data_lowest: float | None
    restore: RestoreEntry | None
    ages: tuple[AgePoint, ...]

    @property
    def label(self) -> str:
        return f"{self.target} ({self.role}, {self.form})"

    @property
    def pass_rate(self) -> float | None:
        return self.checks_passed / self.checks_run if self.checks_run else None


@dataclass(frozen=True)
class DatasetSection:
    name: str
    process: str
    rpo_seconds: float | None
    rto_seconds: float | None
    days: tuple[DayStatus, ...]
    copies: tuple[CopySummary, ...]

    def count(self, status: str) -> int:
        return sum(1 for d in self.days if d.status == status)


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


@dataclass(frozen=True)
class Completeness:
    met: int
    not_met: int
    no_record: int
    datasets: int
    days_counted: int
    target_ratio: float = 1.0

    @property
    def counted(self) -> int:
        return self.met + self.not_met + self.no_record

    @property
    def rate(self) -> float | None:
        return self.met / self.counted if self.counted else None

    @property
    def target_met(self) -> bool:
        return self.rate is not None and self.rate >= self.target_ratio


@dataclass(frozen=True)
class RtoAchievement:
    entries: tuple[RestoreEntry, ...]

    @property
    def met(self) -> int:
        return sum(1 for e in self.entries if e.within_rto)

    @property
    def rate(self) -> float | None:
        return self.met / len(self.entries) if self.entries else None


@dataclass(frozen=True)
class MonthlyReport:
    month: str
    start: date
    end: date  # exclusive
    generated_at: datetime
    agent_version: str
    chain: ChainReport
    record_count: int
    first_record: int | None
    last_record: int | None
    runs: int
    days_in_month: int
    days_counted: int
    days_with_records: tuple[date, ...]
    days_without_records: int  # counted days on which no record at all was written
    completeness: Completeness
    rto: RtoAchievement
    datasets: tuple[DatasetSection, ...]
    exceptions: tuple[ExceptionEpisode, ...]
    drills: tuple[RestoreEntry, ...]
    record_versions: tuple[str, ...]
    operators: tuple[str, ...]
    hosts: tuple[str, ...]
    rows: tuple[dict[str, Any], ...] = field(repr=False, default=())

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def chain_break_in_period(self) -> bool:
        """True when the first broken record lies within this month's record numbers."""
        return (not self.chain.ok and self.chain.broken_at is not None and self.first_record is not None
                and self.last_record is not None and self.first_record <= self.chain.broken_at <= self.last_record)


def build_report(store: RecordStore, month: str, generated_at: datetime, today: date | None = None) -> MonthlyReport:
    """Given the records store and "YYYY-MM", return the month's report model. Raise ReportError on a bad month."""
    start, end = parse_month(month, today or generated_at.date())
    rows = list(store.rows(since=start.isoformat(), until=end.isoformat()))
    chain = store.verify_chain()
    month_days = [start + timedelta(days=i) for i in range((end - start).days)]
    generated_day = generated_at.astimezone(UTC).date()
    counted_days = [d for d in month_days if d <= generated_day]
    verification = [r for r in rows if r.get("form") != FORM_DRILL]
    drill_rows = [r for r in rows if r.get("form") == FORM_DRILL]

    datasets = tuple(_dataset_section(name, [r for r in verification if r.get("dataset") == name], month_days,
                                      set(counted_days))
                     for name in sorted({r["dataset"] for r in verification if r.get("dataset")}))
    completeness = Completeness(
        met=sum(s.count(MET) for s in datasets),
        not_met=sum(s.count(NOT_MET) for s in datasets),
        no_record=sum(s.count(NO_RECORD) for s in datasets),
        datasets=len(datasets),
        days_counted=len(counted_days),
    )
    drills = tuple(_restore_entry(r, "drill") for r in drill_rows)
    restore_tests = tuple(_restore_entry(r, "restore test") for r in verification if _is_restore_test(r))
    recorded_days = sorted({parse_time(r["recorded_at"]).date() for r in rows})
    versions = sorted({_agent_version(r) for r in rows} - {None})
    return MonthlyReport(
        month=start.strftime("%Y-%m"),
        start=start,
        end=end,
        generated_at=generated_at.astimezone(UTC),
        agent_version=__version__,
        chain=chain,
        record_count=len(rows),
        first_record=rows[0]["record_no"] if rows else None,
        last_record=rows[-1]["record_no"] if rows else None,
        runs=sum(1 for r in verification if r.get("kind") == "run"),
        days_in_month=len(month_days),
        days_counted=len(counted_days),
        days_with_records=tuple(recorded_days),
        days_without_records=len(set(counted_days) - set(recorded_days)),
        completeness=completeness,
        rto=RtoAchievement(tuple(sorted(restore_tests + drills, key=lambda e: e.record_no))),
        datasets=datasets,
        exceptions=tuple(_exceptions(rows)),
        drills=drills,
        record_versions=tuple(versions),
        operators=tuple(sorted({r["operator"] for r in rows if r.get("operator")})),
        hosts=tuple(sorted({r["agent_host"] for r in rows if r.get("agent_host")})),
        rows=tuple(rows),
    )


def is_verdict(row: dict[str, Any]) -> bool:
    """A dataset record that carries a 3-2-1 verdict (not one from a run that saw only some copies)."""
    return row.get("kind") == "dataset" and not (row.get("detail") or "").startswith(NOT_EVALUATED_PREFIX)


def is_compliant(row: dict[str, Any]) -> bool:
    """The 3-2-1 verdict of a dataset record; unreadable measured values count as not compliant."""
    return _measured(row).get("compliant") is True


def _dataset_section(name: str, rows: list[dict[str, Any]], month_days: list[date], counted: set[date]) -> DatasetSection:
    verdicts: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if is_verdict(row):
            verdicts[parse_time(row["recorded_at"]).date()].append(row)
    days = []
    for day in month_days:
        day_rows = verdicts.get(day, [])
        if day not in counted:
            status = NOT_YET
        elif not day_rows:
            status = NO_RECORD
        else:
            status = MET if all(is_compliant(r) for r in day_rows) else NOT_MET
        days.append(DayStatus(day, status, tuple(r["record_no"] for r in day_rows)))
    latest = rows[-1]
    copy_keys = sorted({(r["target"], r.get("role") or "", r.get("form_of_copy") or "")
                        for r in rows if r.get("kind") in ("check", "copy") and r.get("target")},
                       key=lambda k: (k[1] != "primary", k[0], k[2]))
    copies = tuple(_copy_summary(key, [r for r in rows if (r.get("target"), r.get("role") or "",
                                                           r.get("form_of_copy") or "") == key])
                   for key in copy_keys)
    return DatasetSection(name, latest.get("process") or "", latest.get("rpo_seconds"), latest.get("rto_seconds"),
                          tuple(days), copies)


def _copy_summary(key: tuple[str, str, str], rows: list[dict[str, Any]]) -> CopySummary:
    checks = [r for r in rows if r["kind"] == "check" and r["result"] != "skip"]
    copy_rows = [r for r in rows if r["kind"] == "copy"]
    ages = [(r, r["age_seconds"]) for r in copy_rows if r.get("age_seconds") is not None]
    worst = max(ages, key=lambda item: item[1]) if ages else None
    rpo = rows[-1].get("rpo_seconds")
    coverage = [_measured(r).get("coverage_ratio") for r in checks if r["check_name"] == "restic-read-data"]
    coverage = [c for c in coverage if isinstance(c, int | float)]
    restores = [r for r in rows if _is_restore_test(r)]
    latest = rows[-1]
    return CopySummary(
        target=key[0], role=key[1], form=key[2],
        medium=latest.get("medium") or "", location=latest.get("location") or "",
        checks_run=len(checks),
        checks_passed=sum(1 for r in checks if r["result"] == "pass"),
        rpo_seconds=rpo, rto_seconds=latest.get("rto_seconds"),
        worst_age_seconds=worst[1] if worst else None,
        worst_age_record=worst[0]["record_no"] if worst else None,
        runs_over_rpo=sum(1 for _, age in ages if rpo is not None and age > rpo),
        runs=len(copy_rows),
        read_data_latest=coverage[-1] if coverage else None,
        read_data_lowest=min(coverage) if coverage else None,
        restore=_restore_entry(restores[-1], "restore test") if restores else None,
        ages=tuple(AgePoint(parse_time(r["recorded_at"]), r.get("age_seconds")) for r in copy_rows) if ages else (),
    )


def _is_restore_test(row: dict[str, Any]) -> bool:
    """A restore-test check record that ran (a skipped one is no test): named restore-… or with a projected time."""
    return row.get("kind") == "check" and row.get("result") != "skip" and (
        (row.get("check_name") or "").startswith("restore") or row.get("projected_restore_seconds") is not None)


# Before drills recorded `content_proven`, a drill whose every file came back proven was `pass`,
# or `fail` when only the actual times missed their targets (errors with these prefixes).
LEGACY_DRILL_TIME_ERRORS = ("RTO missed", "RPO missed")


def _proven(row: dict[str, Any]) -> bool:
    """Whether the restore on this record brought every file back proven, as the record says.

    restore-test (checks/restore_test.py): `pass` only — a `fail` is wrong content or a projection
    over the RTO, an `error` could not decide. Drill (QEF-19-03): its `content_proven` field; records
    written before that field: `pass`, or a `fail` whose only errors are the RTO/RPO judgements."""
    result = row.get("result")
    if row.get("kind") == "drill":
        measured = _measured(row)
        if "content_proven" in measured:
            return measured["content_proven"] is True and result in ("pass", "fail")
        errors = measured.get("errors")
        return result == "pass" or (result == "fail" and isinstance(errors, list) and bool(errors)
                                    and all(isinstance(e, str) and e.startswith(LEGACY_DRILL_TIME_ERRORS)
                                            for e in errors))
    return result == "pass"


def _restore_entry(row: dict[str, Any], kind: str) -> RestoreEntry:
    measured = _measured(row)
    projected = row.get("projected_restore_seconds")
    if projected is None and kind == "restore test":
        projected = measured.get("projected_restore_seconds")
    return RestoreEntry(
        record_no=row["record_no"], at=parse_time(row["recorded_at"]), kind=kind, dataset=row.get("dataset") or "",
        target=row.get("target") or "", result=row.get("result") or "",
        restore_seconds=row.get("restore_seconds"), projected_seconds=projected,
        # The record's column, else the RTO the restore itself was measured against.
        rto_seconds=row.get("rto_seconds") if row.get("rto_seconds") is not None else measured.get(
            "rto_seconds", measured.get("rto_target_seconds")),
        proven=_proven(row),
        rpo_actual_seconds=measured.get("rpo_actual_seconds", row.get("age_seconds")),
        rpo_seconds=row.get("rpo_seconds") if row.get("rpo_seconds") is not None else measured.get("rpo_target_seconds"),
        reason=_first_error(measured) if row.get("result") != "pass" else "",
    )


def _first_error(measured: dict[str, Any]) -> str:
    errors = measured.get("errors")
    return "; ".join(str(e) for e in errors) if isinstance(errors, list) else ""


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
    if kind == "drill":
        return (kind, row.get("dataset") or "", row.get("target") or "", row.get("role") or "",
                row.get("form_of_copy") or "", "drill")
    return None


def _is_failure(row: dict[str, Any]) -> bool | None:
    """True failing, False passing (a recovery), None neither (a skipped check)."""
    if row["kind"] == "dataset":
        return not is_compliant(row)
    if row["kind"] == "run":
        return row["result"] == "interrupted"
    if row["result"] == "skip":
        return None
    return row["result"] != "pass"


def _exceptions(rows: list[dict[str, Any]]) -> list[ExceptionEpisode]:
    """Group failing records into episodes per key, closed by the next passing record of the same key."""
    open_: dict[tuple[str, ...], dict[str, Any]] = {}
    done: list[ExceptionEpisode] = []

    def close(key: tuple[str, ...], recovered: dict[str, Any] | None) -> None:
        episode = open_.pop(key)
        first = episode["rows"][0]
        done.append(ExceptionEpisode(
            kind=key[0], dataset=key[1],
            copy=f"{key[2]} ({key[3]}, {key[4]})" if key[2] else "—",
            check=key[5],
            result=first["result"] if key[0] != "dataset" else "fail",
            records=tuple(r["record_no"] for r in episode["rows"]),
            first_at=parse_time(first["recorded_at"]),
            detail=first.get("detail") or "",
            recovered_at=parse_time(recovered["recorded_at"]) if recovered else None,
            recovered_record=recovered["record_no"] if recovered else None,
        ))

    for row in rows:
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


__all__ = [
    "FORM_DRILL", "FORM_VERIFICATION", "MET", "NOT_MET", "NOT_YET", "NO_RECORD", "Completeness", "CopySummary",
    "DatasetSection", "DayStatus", "ExceptionEpisode", "MonthlyReport", "ReportError", "RestoreEntry",
    "RtoAchievement", "build_report", "is_compliant", "is_verdict", "parse_month", "parse_time",
]
