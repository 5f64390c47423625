"""The anomaly check's series: backup_agent_anomaly_score and the last clean backup's time, per
copy, from the check's measured values (absent when the check measured nothing)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from agent.config import parse_config
from agent.metrics import render
from agent.models import CheckResult, CopyResult, DatasetResult, RunResult, Status
from tests.support.configs import minimal


def _samples(run: RunResult) -> dict[tuple[str, str], float]:
    found = {}
    for family in text_string_to_metric_families(render(run).decode()):
        for sample in family.samples:
            if sample.name.startswith("backup_agent_anomaly"):
                found[(sample.name, sample.labels["target"])] = sample.value
    return found


def test_score_and_last_clean_time_per_copy() -> None:
    dataset = parse_config(minimal(), Path("/etc/backup-agent/targets.yaml")).datasets["d"]
    disk, nas, bucket = dataset.copies
    now = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    copies = [
        CopyResult(disk, [CheckResult("anomaly", Status.FAIL, "suspect",
                                      {"score": 2.5, "last_clean_backup_timestamp": 1795831200.0})]),
        CopyResult(nas, [CheckResult("anomaly", Status.PASS, "normal", {"score": 0.12,
                                                                        "last_clean_backup_timestamp": 1795917600.0})]),
        CopyResult(bucket, [CheckResult("anomaly", Status.ERROR, "cannot compare")]),
    ]
    run = RunResult("r", now, now, [DatasetResult(dataset, copies, CheckResult("policy-321", Status.FAIL, ""))],
                    "host", "op", {})
    assert _samples(run) == {
        ("backup_agent_anomaly_score", "disk"): 2.5,
        ("backup_agent_anomaly_last_clean_backup_timestamp_seconds", "disk"): 1795831200.0,
        ("backup_agent_anomaly_score", "nas"): 0.12,
        ("backup_agent_anomaly_last_clean_backup_timestamp_seconds", "nas"): 1795917600.0,
    }
