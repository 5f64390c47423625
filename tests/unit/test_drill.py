"""A drill's verdict as data: its status is an enum, its RTO and RPO are judged only when every
file came back proven, and its QEF-19-03 row says so in structured fields. The drill itself runs
against real restic in tests/integration/test_restore.py; here the judgement is fed by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.config import Dataset, parse_config
from agent.drill import DrillResult, judge_times
from agent.models import DrillStatus, Status
from agent.records import FORM_DRILL, drill_row

STARTED = datetime(2026, 11, 5, 3, tzinfo=UTC)


def dataset() -> Dataset:
    document = {
        "processes": {"p": {"rpo": "1d", "rto": "1h"}},
        "targets": {"droplet": {"kind": "local", "medium": "cloud-vm", "location": "sgp", "require_mount": False},
                    "hdd": {"kind": "local", "medium": "hdd", "location": "home", "require_mount": False}},
        "datasets": {"d": {"process": "p", "primary": {"target": "droplet", "form": "files", "path": "/srv/p"},
                           "copies": [{"target": "hdd", "form": "files", "path": "/srv/h"}]}},
    }
    return parse_config(document, Path("/nonexistent/targets.yaml")).datasets["d"]


def judged(status: DrillStatus, seconds: float, age: float | None, errors: list[str] | None = None) -> DrillResult:
    ds = dataset()
    result = DrillResult(ds, ds.copies[0], status, STARTED, STARTED + timedelta(seconds=seconds), seconds, age,
                         STARTED - timedelta(seconds=age) if age is not None else None, list(errors or []),
                         tool_versions={"backup-agent": "test"})
    judge_times(result, {"files": 3, "bytes_restored": 300})
    return result


@pytest.mark.parametrize(("restore", "drill"), [
    (Status.PASS, DrillStatus.PASS), (Status.FAIL, DrillStatus.FAIL), (Status.ERROR, DrillStatus.ERROR),
    (Status.SKIP, DrillStatus.ERROR),  # a restore that decided nothing is no drill verdict
])
def test_a_restore_status_becomes_a_drill_status(restore: Status, drill: DrillStatus) -> None:
    assert DrillStatus.of(restore) is drill


def test_a_proven_drill_is_judged_on_its_actual_times() -> None:
    met = judged(DrillStatus.PASS, 60.0, 3600.0)
    assert met.status is DrillStatus.PASS and met.measured["rto_met"] is True and met.measured["rpo_met"] is True
    slow = judged(DrillStatus.PASS, 7200.0, 2 * 86400.0)
    assert slow.status is DrillStatus.FAIL and slow.measured["content_proven"] is True
    assert (slow.measured["rto_met"], slow.measured["rpo_met"]) == (False, False)
    assert [e.split(":")[0] for e in slow.errors] == ["RTO missed", "RPO missed"]


def test_a_drill_that_proved_nothing_establishes_no_rto() -> None:
    stopped = judged(DrillStatus.INTERRUPTED, 1.5, None, ["interrupted by a signal"])
    assert stopped.status is DrillStatus.INTERRUPTED
    assert stopped.measured["content_proven"] is False
    assert stopped.measured["rto_met"] is None and stopped.measured["rto_actual_seconds"] is None
    assert "RTO not established" in stopped.detail


def test_the_drill_row_carries_its_verdict_in_fields() -> None:
    row = drill_row(judged(DrillStatus.PASS, 60.0, 3600.0), "host", "operator")
    assert (row["form"], row["kind"], row["result"]) == (FORM_DRILL, "drill", "pass")
    assert type(row["result"]) is str and row["bytes_verified"] == 300
    measured = json.loads(row["measured"])
    assert measured["content_proven"] is True and measured["rto_met"] is True
    assert json.loads(row["tool_versions"]) == {"backup-agent": "test"}
    failed = drill_row(judged(DrillStatus.ERROR, 2.0, None, ["reachable: not mounted"]), "host", "operator")
    assert failed["result"] == "error" and failed["bytes_verified"] is None
