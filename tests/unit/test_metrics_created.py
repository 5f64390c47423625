"""The agent's metrics never carry `_created` series, and say so to prometheus_client itself:
nothing is put into the environment, which every restic and ssh process would inherit."""

from __future__ import annotations

import importlib
import os
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, generate_latest

import agent.metrics
from agent.models import RunResult

VARIABLE = "PROMETHEUS_DISABLE_CREATED_SERIES"


def test_importing_the_metrics_leaves_the_environment_alone(monkeypatch) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    importlib.reload(agent.metrics)
    assert VARIABLE not in os.environ


def test_a_run_built_into_metrics_turns_created_series_off() -> None:
    moment = datetime(2026, 11, 2, 2, tzinfo=UTC)
    text = agent.metrics.render(RunResult("r", moment, moment, [], "host", "operator", {})).decode()
    assert 'backup_agent_last_run_datasets{agent="host"} 0.0' in text and "_created" not in text
    registry = CollectorRegistry()
    Counter("later_added", "A counter a later change might add.", registry=registry).inc()
    assert "later_added_created" not in generate_latest(registry).decode()
