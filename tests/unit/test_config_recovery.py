"""targets.yaml's restore_test.validate and anomaly keys: typed with their defaults, every mistake
named by key path, and `config show` printing them back as a valid targets.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import parse_config
from agent.config_model import AnomalySpec, Query
from agent.config_show import effective_document
from agent.errors import ConfigError
from tests.support.configs import assert_readable, minimal

PATH = Path("/etc/backup-agent/targets.yaml")


def _with(validate=None, anomaly=None, top=None) -> dict:
    document = minimal()
    dataset = document["datasets"]["d"]
    if validate is not None:
        dataset["restore_test"]["validate"] = validate
    if anomaly is not None:
        dataset["anomaly"] = anomaly
    if top is not None:
        document["anomaly"] = top
    return document


def test_validators_and_anomaly_are_typed_with_their_defaults() -> None:
    config = parse_config(_with(
        validate=[{"type": "postgres-dump", "path": "db/*.dump", "queries": ["SELECT 1", {"sql": "SELECT 2", "expect": 2}],
                   "run_as": "backup-agent", "timeout": "5m"},
                  {"type": "command", "command": "./check.sh --quick"},
                  {"type": "command", "command": ["bin/selftest", "-q"]}],
        anomaly={"canaries": ["docs/.canary/x.docx"], "min_files": 5}, top={"change_rate": 0.4}), PATH)
    dataset = config.datasets["d"]
    pg, shell, argv = dataset.restore_test.validate
    assert pg.queries == (Query("SELECT 1"), Query("SELECT 2", "2")) and pg.timeout_seconds == 300
    assert pg.run_as == "backup-agent" and pg.label == "postgres-dump db/*.dump"
    assert shell.command == ("/bin/sh", "-c", "./check.sh --quick") and shell.timeout_seconds == 600
    assert argv.command == ("bin/selftest", "-q")
    assert dataset.anomaly == AnomalySpec(canaries=("docs/.canary/x.docx",), min_files=5, change_rate=0.4)
    shown = effective_document(config)["datasets"]["d"]
    assert shown["restore_test"]["validate"][1]["command"] == "./check.sh --quick"
    assert shown["anomaly"]["canaries"] == ["docs/.canary/x.docx"] and shown["anomaly"]["change_rate"] == 0.4
    assert parse_config(minimal(), PATH).datasets["d"].anomaly == AnomalySpec()
    assert "anomaly" not in effective_document(parse_config(minimal(), PATH))["datasets"]["d"]


@pytest.mark.parametrize(("validate", "anomaly", "top", "problem"), [
    ([{"type": "postgres-dump"}], None, None, "restore_test.validate[0]: a postgres-dump validator needs path"),
    ([{"type": "command"}], None, None, "restore_test.validate[0]: a command validator needs command"),
    ([{"type": "sqlite", "path": "a.db", "command": "x"}], None, None, "validate[0].command: only a command validator"),
    ([{"type": "archive", "path": "a.zip", "queries": ["x"]}], None, None, "validate[0].queries: only postgres-dump"),
    ([{"type": "sqlite", "path": "a.db", "run_as": "x"}], None, None, "validate[0].run_as: only a postgres-dump"),
    ([{"type": "sqlite", "path": "/var/a.db"}], None, None, "validate[0].path: '/var/a.db' must be relative"),
    ([{"type": "archive", "path": "../a.zip"}], None, None, "validate[0].path: '../a.zip' must be relative"),
    ([{"type": "sqlite", "path": "a.db", "timeout": "soon"}], None, None, "validate[0].timeout:"),
    ([{"type": "mysql-dump", "path": "a"}], None, None, "validate[0].type: 'mysql-dump' is not allowed"),
    ([{"type": "sqlite", "path": "a.db", "password": "x"}], None, None, "secrets are never written inline"),
    (None, {"canaries": ["/etc/passwd"]}, None, "datasets.d.anomaly.canaries[0]: '/etc/passwd' must be relative"),
    (None, {"change_rate": 1.5}, None, "datasets.d.anomaly.change_rate: 1.5 is above the maximum of 1"),
    (None, {"min_baseline": 40, "baseline_runs": 30}, None, "min_baseline: 40 is more than baseline_runs (30)"),
    (None, {"sample_bytes": "lots"}, None, "datasets.d.anomaly.sample_bytes:"),
    (None, None, {"canaries": ["x"]}, "anomaly.canaries: canaries are files of one dataset"),
    (None, {"treshold": 3}, None, "datasets.d.anomaly.treshold: unknown key"),
])
def test_mistakes_are_named_by_key_path(validate, anomaly, top, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(_with(validate, anomaly, top), PATH)
    assert_readable(raised.value, PATH)
    assert any(problem in p for p in raised.value.problems), raised.value.problems
