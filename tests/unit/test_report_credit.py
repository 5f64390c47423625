"""The monthly report says, for each copy, whether it was verified in a run or credited from an
earlier verification — by which agent, when, and which record (issue 15 item 2). Credit records are
made by the real agent.credit.judge; rows go through the real RecordStore and the real renderer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from agent.credit import Verification, judge
from agent.records import FORM_VERIFICATION, RecordStore
from reports.exceptions import exception_episodes
from reports.monthly import build_report
from reports.render_html import render_html

GENERATED = datetime(2026, 12, 1, 8, tzinfo=UTC)
HOUR, DAY = 3600.0, 86400.0
HDD = {"form": FORM_VERIFICATION, "dataset": "finance-records", "process": "finance", "target": "hdd",
       "role": "backup", "form_of_copy": "restic", "medium": "hdd", "location": "kc-home",
       "rpo_seconds": 30 * DAY, "rto_seconds": 4 * HOUR}
VERIFIED_AT = datetime(2026, 11, 2, 2, tzinfo=UTC)


def _at(day: int) -> str:
    return f"2026-11-{day:02d}T02:00:00Z"


def _verified(day: int, result: str = "pass") -> list[dict]:
    """One run's verification of the HDD: its check and its copy record."""
    run = {**HDD, "run_id": f"kc-{day}", "recorded_at": _at(day), "last_backup_at": _at(day), "age_seconds": 60.0}
    return [{**run, "kind": "check", "check_name": "restic-check", "result": result, "detail": "ok"},
            {**run, "kind": "copy", "check_name": "copy", "result": result, "detail": f"restic-check: {result}"}]


def _credited(day: int, source_seq: int | None) -> dict:
    """The `credit` record a run writes for the unplugged HDD, judged by the real agent.credit."""
    found = Verification("kc-home", source_seq, VERIFIED_AT, "pass", VERIFIED_AT) if source_seq else None
    decided = judge(found, now=datetime(2026, 11, day, 2, tzinfo=UTC), credit_seconds=8 * DAY,
                    rpo_seconds=HDD["rpo_seconds"], what="hdd", offline=True)
    return {**HDD, "run_id": f"kc-{day}", "recorded_at": _at(day), "kind": "credit", "check_name": "credit",
            "result": "pass" if decided.counted else "error", "detail": decided.detail,
            "measured": json.dumps(decided.to_json(), sort_keys=True)}


def test_a_credited_copy_names_its_verification_and_is_no_verification_performed(tmp_path: Path) -> None:
    rows = [*_verified(2), _credited(3, source_seq=2), _credited(12, source_seq=2), *_verified(13)]
    with RecordStore(tmp_path / "records.sqlite") as store:
        store.append(rows)
        report = build_report(store, "2026-11", GENERATED)
    (hdd,) = report.datasets[0].copies
    assert (hdd.checks_run, hdd.runs) == (2, 2)  # the two credits are not verifications performed
    assert hdd.credited == 1 and len(hdd.credits) == 2
    first, last = hdd.credits
    assert first.record_no == 3 and first.counted and first.offline
    assert first.text == "credited from kc-home 2026-11-02T02:00:00Z (#2) (offline)"
    assert not last.counted and last.text == "not credited (last verified by kc-home 2026-11-02T02:00:00Z (#2), pass)"
    # The credit past credit_for is an exception naming its last verification, closed by the next one.
    (episode,) = [e for e in report.exceptions if e.check == "credit"]
    assert episode.records == (4,) and episode.recovered_record == 6
    assert "not seen for 10d, credit 8d (last verified by kc-home at 2026-11-02T02:00:00Z (kc-home#2))" in episode.detail
    html = render_html(report)
    assert "认可 / credited: 1 / 2" in html and "not credited (last verified by kc-home" in html


def test_a_copy_only_credited_in_the_month_is_still_a_row(tmp_path: Path) -> None:
    with RecordStore(tmp_path / "records.sqlite") as store:
        store.append([_credited(3, source_seq=7), _credited(4, source_seq=None)])
        report = build_report(store, "2026-11", GENERATED)
    (hdd,) = report.datasets[0].copies
    assert (hdd.target, hdd.checks_run, hdd.runs, hdd.credited) == ("hdd", 0, 0, 1)
    assert hdd.credits[0].text == "credited from kc-home 2026-11-02T02:00:00Z (#7) (offline)"
    assert hdd.last_credit.text == "not credited (no verification in the records store)"


def test_a_credit_error_episode_stays_open_until_credited_or_verified_again() -> None:
    rows = [{**row, "record_no": number} for number, row in
            enumerate([_credited(12, 2), _credited(13, 2), _credited(3, 2)], start=1)]
    (episode,) = exception_episodes(rows)
    assert (episode.kind, episode.records, episode.recovered_record) == ("credit", (1, 2), 3)
    (still_open,) = exception_episodes(rows[:2])
    assert still_open.recovered_at is None
