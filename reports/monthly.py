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
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from agent import __version__
from agent.records import FORM_DRILL, FORM_VERIFICATION, ChainReport, RecordStore
from reports.credits import CreditEntry, credit_entry
from reports.exceptions import ExceptionEpisode, exception_episodes
from reports.restores import RestoreEntry, RtoAchievement, is_restore_test, restore_entry
from reports.rows import agent_version, is_compliant, is_verdict, measured, parse_time

MET, NOT_MET, NO_RECORD, NOT_YET = "met", "not-met", "no-record", "not-yet"


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
    # restic-packs (issue 18): the share of the repository's bytes hashed against their names
    # within the cycle, latest and lowest of the month; None where it did not run.
    packs_latest: float | None = None
    packs_lowest: float | None = None
    # Runs that did not verify this copy but credited it from an earlier verification (issue 15):
    # never counted in checks_run or runs, which are verifications performed.
    credits: tuple[CreditEntry, ...] = ()

    @property
    def credited(self) -> int:
        return sum(1 for c in self.credits if c.counted)

    @property
    def last_credit(self) -> CreditEntry | None:
        return self.credits[-1] if self.credits else None

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
    def chains(self) -> tuple[ChainReport, ...]:
        """Each agent's chain check, by agent name (a store of one agent: its one chain)."""
        per_agent = self.chain if isinstance(self.chain, dict) else {}
        return tuple(per_agent[agent] for agent in sorted(per_agent))

    @property
    def agents(self) -> tuple[str, ...]:
        """The agents whose records the month holds."""
        return tuple(sorted({r["agent"] for r in self.rows if r.get("agent")}))

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def chain_break_in_period(self) -> bool:
        """True when a chain's first broken record lies within the month's records of its agent
        (sequence numbers, which are record numbers in a store of one agent)."""
        for broken in (c for c in self.chains if not c.ok and c.broken_at is not None):
            seqs = [r["seq"] for r in self.rows if r.get("agent") == broken.agent and r.get("seq") is not None]
            if seqs and min(seqs) <= broken.broken_at <= max(seqs):
                return True
        if self.chains:
            return False
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
    drills = tuple(restore_entry(r, "drill") for r in drill_rows)
    restore_tests = tuple(restore_entry(r, "restore test") for r in verification if is_restore_test(r))
    recorded_days = sorted({parse_time(r["recorded_at"]).date() for r in rows})
    versions = sorted({agent_version(r) for r in rows} - {None})
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
        exceptions=tuple(exception_episodes(rows)),
        drills=drills,
        record_versions=tuple(versions),
        operators=tuple(sorted({r["operator"] for r in rows if r.get("operator")})),
        hosts=tuple(sorted({r["agent_host"] for r in rows if r.get("agent_host")})),
        rows=tuple(rows),
    )


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
                        for r in rows if r.get("kind") in ("check", "copy", "credit") and r.get("target")},
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
    coverage = [measured(r).get("coverage_ratio") for r in checks if r["check_name"] == "restic-read-data"]
    coverage = [c for c in coverage if isinstance(c, int | float)]
    packs = [measured(r).get("pack_coverage_bytes_ratio") for r in checks if r["check_name"] == "restic-packs"]
    packs = [c for c in packs if isinstance(c, int | float)]
    restores = [r for r in rows if is_restore_test(r)]
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
        restore=restore_entry(restores[-1], "restore test") if restores else None,
        ages=tuple(AgePoint(parse_time(r["recorded_at"]), r.get("age_seconds")) for r in copy_rows) if ages else (),
        packs_latest=packs[-1] if packs else None,
        packs_lowest=min(packs) if packs else None,
        credits=tuple(credit_entry(r) for r in rows if r["kind"] == "credit"),
    )


__all__ = [
    "FORM_DRILL", "FORM_VERIFICATION", "MET", "NOT_MET", "NOT_YET", "NO_RECORD", "Completeness", "CopySummary",
    "CreditEntry", "DatasetSection", "DayStatus", "ExceptionEpisode", "MonthlyReport", "ReportError", "RestoreEntry",
    "RtoAchievement", "build_report", "is_compliant", "is_verdict", "parse_month", "parse_time",
]
