"""The report model's rules on hand-made rows, for the cases the 30-day pipeline test cannot make
yet: a policy skipped by a `--target` run, an unreadable verdict, restore tests and drills that
failed or errored (tests/integration/test_report_restore.py feeds real ones), and the month
arithmetic. Rows go through the real RecordStore."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from agent.records import FORM_DRILL, FORM_VERIFICATION, RecordStore
from reports.monthly import MET, NO_RECORD, NOT_MET, ReportError, build_report, parse_month

GENERATED = datetime(2026, 12, 1, 8, tzinfo=UTC)


def _verdict(day: int, compliant: bool | None, detail: str = "3-2-1 met", dataset: str = "platform-db") -> dict:
    measured = "{not json" if compliant is None else json.dumps({"compliant": compliant})
    return {"form": FORM_VERIFICATION, "run_id": f"run-{day}", "recorded_at": f"2026-11-{day:02d}T02:00:00Z",
            "kind": "dataset", "dataset": dataset, "process": "lithera-platform", "check_name": "policy-321",
            "result": "pass" if compliant else "fail", "detail": detail, "measured": measured,
            "rpo_seconds": 3600, "rto_seconds": 14400}


def _store(tmp_path: Path, rows: list[dict]) -> RecordStore:
    store = RecordStore(tmp_path / "records.sqlite")
    store.append(rows)
    return store


def test_parse_month() -> None:
    assert parse_month("2026-02") == (date(2026, 2, 1), date(2026, 3, 1))
    assert parse_month("2024-02")[1] == date(2024, 3, 1)
    assert parse_month("previous", today=date(2026, 1, 15)) == (date(2025, 12, 1), date(2026, 1, 1))
    for bad in ("2026-13", "2026-1", "Oct", ""):
        with pytest.raises(ReportError):
            parse_month(bad)


def test_day_verdicts_skipped_policy_and_unreadable_measured(tmp_path: Path) -> None:
    rows = [
        _verdict(1, True),
        _verdict(2, True), _verdict(2, False),  # one breach in the day: not met
        _verdict(3, True, detail="not evaluated: --target selected only some copies"),  # not a verdict
        _verdict(4, None),  # unreadable: never a pass
    ]
    with _store(tmp_path, rows) as store:
        report = build_report(store, "2026-11", GENERATED)
    days = {d.day.day: d.status for d in report.datasets[0].days}
    assert (days[1], days[2], days[3], days[4], days[5]) == (MET, NOT_MET, NO_RECORD, NOT_MET, NO_RECORD)
    assert report.completeness.met == 1 and report.completeness.counted == 30
    assert report.completeness.rate == pytest.approx(1 / 30)


def test_restore_tests_and_drills_feed_the_rto_kpi(tmp_path: Path) -> None:
    check = {"form": FORM_VERIFICATION, "run_id": "r", "kind": "check", "dataset": "platform-db", "target": "nas",
             "role": "backup", "form_of_copy": "restic", "rto_seconds": 14400}
    rows = [
        {**check, "recorded_at": "2026-11-02T02:00:00Z", "check_name": "restore-test", "result": "pass",
         "restore_seconds": 30, "projected_restore_seconds": 3600},
        {**check, "recorded_at": "2026-11-03T02:00:00Z", "check_name": "restore-test", "result": "skip"},
        {**check, "recorded_at": "2026-11-04T02:00:00Z", "check_name": "restore-test", "result": "fail",
         "restore_seconds": 60, "projected_restore_seconds": 20000},
        {"form": FORM_DRILL, "run_id": "d", "recorded_at": "2026-11-05T03:00:00Z", "kind": "drill",
         "dataset": "platform-db", "target": "offsite", "check_name": "drill", "result": "pass",
         "restore_seconds": 7200, "rto_seconds": 14400},
    ]
    with _store(tmp_path, rows) as store:
        report = build_report(store, "2026-11", GENERATED)
    assert [e.kind for e in report.rto.entries] == ["restore test", "restore test", "drill"]  # the skip is no test
    assert report.rto.met == 2 and report.rto.rate == pytest.approx(2 / 3)
    assert len(report.drills) == 1 and report.drills[0].within_rto
    nas = report.datasets[0].copies[0]
    assert nas.restore.record_no == 3 and nas.restore.within_rto is False


def test_no_records_means_no_data(tmp_path: Path) -> None:
    with _store(tmp_path, []) as store:
        report = build_report(store, "2026-11", GENERATED)
    assert report.record_count == 0 and report.completeness.rate is None and report.rto.rate is None
    assert report.days_without_records == 30 and report.chain.ok


def test_a_quick_restore_that_proved_nothing_is_no_rto_achievement(tmp_path: Path) -> None:
    """Shapes as agent/drill.py and checks/restore_test.py write them: a drill that errored or was
    interrupted after a second, or a restore test of wrong bytes with a short projection, is within
    no RTO; a drill that brought everything back but missed only its RPO met the RTO."""
    check = {"form": FORM_VERIFICATION, "run_id": "r", "kind": "check", "dataset": "platform-db", "target": "nas",
             "role": "backup", "form_of_copy": "restic", "rto_seconds": 14400, "check_name": "restore-test"}
    drill = {"form": FORM_DRILL, "run_id": "d", "kind": "drill", "dataset": "platform-db", "target": "nas",
             "check_name": "drill", "rto_seconds": 14400, "projected_restore_seconds": None}

    def drill_row(day: int, result: str, seconds: float, errors: list[str]) -> dict:
        return {**drill, "recorded_at": f"2026-11-{day:02d}T03:00:00Z", "result": result, "restore_seconds": seconds,
                "measured": json.dumps({"rto_actual_seconds": seconds, "rto_met": True, "errors": errors})}

    rows = [
        {**check, "recorded_at": "2026-11-02T02:00:00Z", "result": "fail", "restore_seconds": 1.2,
         "projected_restore_seconds": 40.0},  # 1 restored file differs from the primary
        drill_row(3, "error", 0.8, ["reachable: repository not found"]),
        drill_row(4, "interrupted", 1.5, ["interrupted by a signal before the restore completed; scratch removed"]),
        drill_row(5, "fail", 90.0, ["restic: 1 restored files differ from the copy itself (a.bin)"]),
        drill_row(6, "fail", 120.0, ["RPO missed: restored data is 2 d old, target 1 d"]),
    ]
    with _store(tmp_path, rows) as store:
        report = build_report(store, "2026-11", GENERATED)
    assert [e.within_rto for e in report.rto.entries] == [False, False, False, False, True]
    assert report.rto.met == 1 and report.rto.rate == pytest.approx(1 / 5)


def test_drills_without_proven_content_have_no_rto_and_are_exceptions(tmp_path: Path) -> None:
    """Drills as agent/drill.py writes them now (`content_proven`, `rto_met` null when not shown):
    an interrupted or errored drill is not an RTO achievement, its reason and its RPO actual against
    target are in the drill table, and every drill that did not pass is listed among the exceptions."""
    drill = {"form": FORM_DRILL, "run_id": "d", "kind": "drill", "dataset": "platform-db", "target": "nas",
             "role": "backup", "form_of_copy": "restic", "check_name": "drill", "rto_seconds": 14400,
             "rpo_seconds": 86400, "projected_restore_seconds": None}

    def drill_row(day: int, result: str, proven: bool, seconds: float | None, errors: list[str]) -> dict:
        measured = {"rto_actual_seconds": seconds, "elapsed_seconds": 3.0, "content_proven": proven,
                    "rto_met": (seconds <= 14400) if proven else None, "rpo_actual_seconds": 7200.0,
                    "rpo_target_seconds": 86400, "errors": errors}
        return {**drill, "recorded_at": f"2026-11-{day:02d}T03:00:00Z", "result": result, "restore_seconds": seconds,
                "age_seconds": 7200.0, "detail": errors[0] if errors else "ok", "measured": json.dumps(measured)}

    rows = [
        drill_row(3, "interrupted", False, None, ["interrupted by a signal before the restore completed"]),
        drill_row(4, "error", False, None, ["reachable: not mounted"]),
        drill_row(5, "fail", False, None, ["1 restored file differs (a.bin)"]),
        drill_row(6, "fail", True, 60.0, ["RPO missed: restored data is 2 d old, target 1 d"]),
        drill_row(7, "pass", True, 60.0, []),
    ]
    with _store(tmp_path, rows) as store:
        report = build_report(store, "2026-11", GENERATED)
    assert [d.within_rto for d in report.drills] == [None, None, None, True, True]
    assert report.rto.met == 2 and report.rto.rate == pytest.approx(2 / 5)
    assert report.drills[0].reason.startswith("interrupted") and report.drills[4].reason == ""
    assert all(d.rpo_actual_seconds == 7200.0 and d.rpo_seconds == 86400 for d in report.drills)
    (episode,) = [e for e in report.exceptions if e.kind == "drill"]
    assert episode.records == (1, 2, 3, 4) and episode.recovered_record == 5


def test_new_records_are_read_by_their_structured_fields_not_their_sentences(tmp_path: Path) -> None:
    """`measured.evaluated` says whether a dataset record is a 3-2-1 verdict, whatever its detail
    reads; `measured.content_proven` on a restore test decides whether it can count for the RTO.
    (The detail text is read only on records written before those fields: the first test above.)"""
    def verdict(day: int, evaluated: bool, detail: str) -> dict:
        return {**_verdict(day, True, detail=detail), "measured": json.dumps({"compliant": True,
                                                                              "evaluated": evaluated})}

    check = {"form": FORM_VERIFICATION, "run_id": "r", "kind": "check", "dataset": "platform-db", "target": "nas",
             "role": "backup", "form_of_copy": "restic", "rto_seconds": 14400, "check_name": "restore-test",
             "result": "pass", "restore_seconds": 3, "projected_restore_seconds": 60}
    rows = [
        verdict(1, False, "3-2-1 met"),  # a partial run, whatever the sentence says
        verdict(2, True, "not evaluated as a sentence, evaluated as a field"),
        {**check, "recorded_at": "2026-11-03T02:00:00Z", "measured": json.dumps({"content_proven": False})},
        {**check, "recorded_at": "2026-11-04T02:00:00Z", "measured": json.dumps({"content_proven": True})},
    ]
    with _store(tmp_path, rows) as store:
        report = build_report(store, "2026-11", GENERATED)
    days = {d.day.day: d.status for d in report.datasets[0].days}
    assert (days[1], days[2]) == (NO_RECORD, MET)
    assert [e.within_rto for e in report.rto.entries] == [False, True]
