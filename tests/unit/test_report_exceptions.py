"""The report's exceptions and an operator's anomaly acceptance: the suspect backup's episode says
who accepted it and why (the acceptance record's number), and closes with the next passing run."""

from __future__ import annotations

from reports.exceptions import exception_episodes

COPY = {"dataset": "shared-docs", "target": "nas", "role": "backup", "form_of_copy": "restic", "check_name": "anomaly"}


def _row(number: int, kind: str, result: str, at: str, detail: str, **other) -> dict:
    return {**COPY, "record_no": number, "kind": kind, "result": result, "recorded_at": at, "detail": detail, **other}


def test_an_accepted_anomaly_names_the_acceptance_and_recovers_with_the_next_pass() -> None:
    (episode,) = exception_episodes([
        _row(10, "check", "fail", "2026-11-03T02:00:00Z", "suspect: 1,240 of 1,300 files changed"),
        _row(11, "check", "fail", "2026-11-04T02:00:00Z", "suspect: 1,240 of 1,300 files changed"),
        _row(12, "acceptance", "accepted", "2026-11-04T09:00:00Z", "mass change accepted by kc: archive moved"),
        _row(13, "check", "pass", "2026-11-05T02:00:00Z", "no new backup since … accepted by kc"),
    ])
    assert episode.records == (10, 11) and episode.recovered_record == 13
    assert episode.detail.endswith("— 已接受 / accepted (#12): mass change accepted by kc: archive moved")


def test_an_acceptance_of_another_copy_or_without_an_episode_changes_nothing() -> None:
    (episode,) = exception_episodes([
        _row(10, "check", "fail", "2026-11-03T02:00:00Z", "suspect"),
        _row(11, "acceptance", "accepted", "2026-11-03T09:00:00Z", "accepted", target="hdd"),
    ])
    assert episode.detail == "suspect" and episode.recovered_at is None
    assert exception_episodes([_row(5, "acceptance", "accepted", "2026-11-03T09:00:00Z", "accepted")]) == []
