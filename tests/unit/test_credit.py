"""agent.credit: what a copy's latest verification counts for now, as a table; and how
agent.verifications picks the latest verification from records (credits never count as one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent import credit
from agent.credit import Verification
from agent.verifications import Verifications

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
DAY = 86400.0


def verification(days_ago: float, result: str = "pass", backup_days_ago: float | None = None) -> Verification:
    backup = None if backup_days_ago is None else NOW - timedelta(days=backup_days_ago)
    return Verification("kc-home", 12, NOW - timedelta(days=days_ago), result, backup)


CASES = {
    # name: (verification, options, status, words in the detail)
    "fresh pass": (verification(1, backup_days_ago=1.1), {}, "pass", ["credited: verified by kc-home", "kc-home#12"]),
    "offline within credit": (verification(2, backup_days_ago=2), {"offline": True}, "offline",
                              ["offline; credited", "credit 8d"]),
    "past credit": (verification(9, backup_days_ago=9), {"offline": True}, "error",
                    ["hdd not seen for 9d, credit 8d", "last verified by kc-home"]),
    "not verified past credit": (verification(9, backup_days_ago=1), {}, "error", ["not verified for 9d"]),
    "failed, however recent": (verification(0.01, "fail", backup_days_ago=0.01), {}, "error",
                               ["was fail", "never credited"]),
    "errored": (verification(0.5, "error", backup_days_ago=0.5), {}, "error", ["was error"]),
    "older than the RPO now": (verification(5, backup_days_ago=5), {}, "error", ["> RPO 4d", "not counted"]),
    "no verification": (None, {}, "error", ["never verified"]),
    "unplugged, never seen": (None, {"offline": True}, "error", ["hdd not seen"]),
    "store unreadable": (verification(1, backup_days_ago=1), {"unreadable": "connection refused"}, "error",
                         ["cannot be read", "connection refused"]),
    "dated in the future": (verification(-1, backup_days_ago=0), {}, "error", ["in the future"]),
    "no backup time": (verification(1), {}, "error", ["no last backup time"]),
    "live primary without a backup time": (verification(1), {"live_source": True}, "pass", ["the live source"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_judge(case: str) -> None:
    found, options, status, words = CASES[case]
    decided = credit.judge(found, now=NOW, credit_seconds=8 * DAY, rpo_seconds=4 * DAY, what="hdd", **options)
    assert decided.status == status, decided.detail
    assert decided.counted == (status in ("pass", "offline"))
    for word in words:
        assert word in decided.detail, (word, decided.detail)


def row(kind: str, agent: str, seq: int, at: str, result: str = "pass") -> dict:
    return {"kind": kind, "agent": agent, "seq": seq, "recorded_at": at, "result": result, "dataset": "db",
            "target": "hdd", "role": "backup", "form_of_copy": "restic", "last_backup_at": "2026-11-29T01:00:00Z",
            "run_id": f"r{seq}"}


def test_the_newest_verification_wins_whoever_made_it() -> None:
    found = Verifications()
    found.take([row("copy", "kc-home", 3, "2026-11-28T02:00:00Z"),
                row("copy", "office", 9, "2026-11-29T02:00:00Z", "fail"),
                row("copy", "kc-home", 2, "2026-11-27T02:00:00Z")])
    latest = found.latest[("db", "hdd", "backup", "restic")]
    assert (latest.agent, latest.seq, latest.result) == ("office", 9, "fail")
    assert latest.last_backup_at == datetime(2026, 11, 29, 1, 0, tzinfo=UTC)


def test_a_row_without_a_time_is_no_verification() -> None:
    found = Verifications()
    found.take([row("copy", "kc-home", 3, "")])
    assert not found.latest


def test_two_copies_on_one_target_never_take_each_others_verdict(tmp_path) -> None:
    import json as json_module

    from agent.config import load_config
    from tests.unit.test_config import base, write

    document = base()
    copies = document["datasets"]["finance-records"]["copies"]
    copies.append({**copies[0], "path": "nas/restic-2"})  # copies[0] and copies[3]: restic on nas
    dataset = load_config(write(tmp_path, document)).datasets["finance-records"]
    first, second = dataset.copies[0], dataset.copies[3]

    def named(spec, seq: int, result: str) -> dict:
        record = {**row("copy", "office", seq, "2026-11-29T02:00:00Z", result), "dataset": "finance-records",
                  "target": "nas", "measured": json_module.dumps({"copy": spec.key})}
        return record

    found = Verifications()
    found.take([named(first, 1, "fail"), named(second, 2, "pass")])
    assert found.latest_of(dataset, first).result == "fail"
    assert found.latest_of(dataset, second).result == "pass"
    legacy = Verifications()  # records that name no copy: ambiguous for these two, so none is taken
    legacy.take([{**row("copy", "office", 2, "2026-11-29T02:00:00Z"), "dataset": "finance-records", "target": "nas"}])
    assert legacy.latest_of(dataset, first) is None and legacy.latest_of(dataset, second) is None
