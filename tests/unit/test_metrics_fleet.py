"""The dataset's verdict series with several agents declared (issue 15 item 6): every agent holding
a copy judges the dataset, so its verdict series carry the agent label (the alert takes the worst,
once per dataset); a single agent's series are exactly as they were."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from agent.config import parse_config
from agent.metrics import VERDICT_SERIES, render
from agent.models import CheckResult, CopyResult, DatasetResult, RunResult, Status
from tests.support.configs import minimal

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def _run() -> RunResult:
    dataset = parse_config(minimal(), Path("/etc/backup-agent/targets.yaml")).datasets["d"]
    copies = [CopyResult(spec, [CheckResult("reachable", Status.PASS, "ok")]) for spec in dataset.copies]
    policy = CheckResult("policy-321", Status.FAIL, "2 of 3", {"compliant": False, "verified_copies": 2})
    return RunResult("r", NOW, NOW, [DatasetResult(dataset, copies, policy)], "host", "op", {}, agent="office")


def _labels(run: RunResult) -> dict[str, set[frozenset]]:
    found: dict[str, set[frozenset]] = {}
    for family in text_string_to_metric_families(render(run).decode()):
        for sample in family.samples:
            if sample.name.startswith("backup_agent_dataset_"):
                found.setdefault(sample.name.removeprefix("backup_agent_"), set()).add(
                    frozenset(k for k in sample.labels if k != "status"))
    return found


def test_a_single_agent_exports_its_dataset_series_without_an_agent_label() -> None:
    found = _labels(_run())
    assert set(VERDICT_SERIES) <= set(found)
    assert all(labels == {frozenset({"dataset", "process"})} for labels in found.values())


def test_with_several_agents_the_verdict_series_name_the_agent_that_judged() -> None:
    found = _labels(dataclasses.replace(_run(), fleet=True))
    for name, labels in found.items():
        expected = {"dataset", "process", "agent"} if name in VERDICT_SERIES else {"dataset", "process"}
        assert labels == {frozenset(expected)}, name
    text = render(dataclasses.replace(_run(), fleet=True)).decode()
    assert 'backup_agent_dataset_policy_compliant{agent="office",dataset="d",process=' in text
