"""Alert rules and the Grafana dashboard, checked with the real promtool (Debian `prometheus`).

- `promtool check rules` and `promtool test rules` pass on alerts/ (the unit tests in
  alerts/tests/ cover every alert firing and quiet at its boundary; a deliberately wrong
  expectation makes promtool fail, so the unit tests bite).
- Every PromQL expression of the dashboard parses: each is wrapped as a recording rule in a
  temporary rules file for `promtool check rules`.
- Rules and panels reference only metric names the agent emits: the names come from
  agent.metrics.build_registry on a real run of a small site (a registry declares every family,
  so the restore-test metrics are there even for a run without a restore test).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from agent import clock, fleet, fleet_metrics, metrics, recording, verifications
from agent.config import load_config
from agent.run import run_verification
from tests.support.site import write_site

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "alerts" / "backup-agent.rules.yml"
RULE_TESTS = sorted((ROOT / "alerts" / "tests").glob("*.yml"))
DASHBOARD = ROOT / "dashboards" / "backup-agent.json"
# Emitted by the restore test (verify --restore-test); the rules and the dashboard rely on them.
RESTORE_METRICS = {"backup_agent_restore_projected_seconds", "backup_agent_restore_throughput_bytes_per_second"}
# What Grafana replaces before a query reaches Prometheus.
DASHBOARD_VARIABLES = {"$dataset": ".*", "$instance": ".*"}
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset",
            "bool", "inf", "nan"}


def _promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return tool


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([_promtool(), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (a small lexer: strings, label matchers,
    ranges and label lists removed; then every identifier not called as a function and not a
    keyword is a metric name)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        token = match.group(0)
        before = text[match.start() - 1] if match.start() else " "
        if before.isdigit() or before == ".":
            continue  # a unit of a number or duration (1e3, 5m)
        if text[match.end():].lstrip().startswith("(") or token.lower() in KEYWORDS:
            continue
        names.add(token)
    return names


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Metric names from agent.metrics on a real run, recorded as `verify` records it (so the
    records head metrics are there)."""
    config = load_config(write_site(tmp_path_factory.mktemp("alerts-site")))
    run = run_verification(config, list(config.datasets.values()))
    recording.record_run(config, run)
    names = set()
    for family in metrics.build_registry(run).collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    assert "backup_agent_copy_age_seconds" in names and "backup_agent_last_run_timestamp_seconds" in names
    assert RESTORE_METRICS <= names, f"metrics.py no longer emits {sorted(RESTORE_METRICS - names)}"
    # The fleet's series (`metrics serve --fleet`), from the same site's records store.
    moment = clock.now()
    document = fleet.status_document(config, verifications.read(config, moment, kinds=("copy", "run")), moment)
    for family in fleet_metrics.build_registry(document).collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def _rules() -> list[dict]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def _panels() -> list[dict]:
    def walk(panels: list[dict]):
        for panel in panels:
            yield panel
            yield from walk(panel.get("panels", []))

    return list(walk(json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]))


def _panel_exprs() -> list[tuple[str, str]]:
    found = []
    for panel in _panels():
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in DASHBOARD_VARIABLES.items():
                expr = expr.replace(variable, value)
            found.append((f"{panel['title']} / {target['refId']}", expr))
    return found


# --- the rules --------------------------------------------------------------------------------


def test_promtool_check_rules() -> None:
    result = _run("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    assert RULE_TESTS, "alerts/tests/*.yml missing"
    result = _run("test", "rules", *(str(p) for p in RULE_TESTS))
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """Negative control: expecting an RPO alert at the boundary (age == RPO) must fail."""
    labels = 'dataset="d",process="p",target="t",role="backup",form="files",medium="ssd",location="x"'
    case = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": f"backup_agent_copy_age_seconds{{{labels}}}", "values": "3600x5"},
                             {"series": f"backup_agent_copy_rpo_seconds{{{labels}}}", "values": "3600x5"}],
            "alert_rule_test": [{"eval_time": "2m", "alertname": "BackupAgentRPOBreach",
                                 "exp_alerts": [{"exp_labels": {"severity": "warning", "dataset": "d"}}]}],
        }],
    }
    path = tmp_path / "wrong.yml"
    path.write_text(yaml.safe_dump(case))
    result = _run("test", "rules", str(path))
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "FAILED" in output and "got:[]" in output, output


def test_every_alert_is_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested quiet"


def test_alerts_have_severity_and_text() -> None:
    for rule in _rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], rule["alert"]
    expected = {"BackupAgentRPOBreach", "BackupAgentDatasetNotCompliant", "BackupAgentCheckError",
                "BackupAgentRestoreTestFailing", "BackupAgentRestoreOverRTO", "BackupAgentNotRun",
                "BackupAgentMetricsAbsent", "BackupAgentRecordsWentBackwards", "BackupAgentRecordsRewritten"}
    assert expected <= {rule["alert"] for rule in _rules()}


def test_rules_reference_emitted_metrics(emitted: set[str]) -> None:
    for rule in _rules():
        used = metric_names(rule["expr"])
        assert used, rule["alert"]
        assert used <= emitted, (rule["alert"], used - emitted)
        # Templates that query metrics name emitted ones too.
        for text in rule["annotations"].values():
            for name in re.findall(r"\b(backup_agent_[a-z_]+)\{", text):
                assert name in emitted, (rule["alert"], name)


def test_alerts_fire_on_what_the_agent_writes(tmp_path: Path) -> None:
    """The agent's real textfile as promtool input: a site whose hdd mirror is two days old (RPO
    24h) raises exactly the RPO breach on that copy and the 3-2-1 alert, with the real numbers."""
    config = load_config(write_site(tmp_path / "site", stale_hdd=True))
    run = run_verification(config, list(config.datasets.values()))
    series = _series(run)
    age = next(c.age_seconds for c in run.datasets[0].copies if c.spec.target.name == "hdd")
    copy = {"dataset": "finance-records", "process": "finance-payments", "target": "hdd", "role": "backup",
            "form": "files", "medium": "hdd", "location": "kc-home"}
    case = {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series,
        "alert_rule_test": [
            {"eval_time": "5m", "alertname": "BackupAgentRPOBreach", "exp_alerts": [{
                "exp_labels": {"severity": "warning", **copy},
                "exp_annotations": {
                    "runbook_url": "README.md#backupagentrpobreach",
                    "summary": "finance-records: backup copy on hdd is older than its RPO",
                    "description": "Dataset finance-records (finance-payments), backup copy on hdd (files, hdd at "
                                   f"kc-home): last good backup {_humanize(age)} old at the last run, RPO 1d 0h 0m 0s."}}]},
            {"eval_time": "5m", "alertname": "BackupAgentDatasetNotCompliant", "exp_alerts": [{
                "exp_labels": {"severity": "critical", "dataset": "finance-records", "process": "finance-payments"},
                "exp_annotations": {
                    "runbook_url": "README.md#backupagentdatasetnotcompliant",
                    "summary": "finance-records: 3-2-1 policy not met",
                    "description": "Dataset finance-records (finance-payments) does not meet its copy policy on "
                                   "verified copies: 2 verified of 3 required copies, 2 distinct media, 1 offsite. "
                                   "See `backup-agent verify --dataset finance-records`."}}]},
            {"eval_time": "5m", "alertname": "BackupAgentCheckError", "exp_alerts": []},
            {"eval_time": "5m", "alertname": "BackupAgentMetricsAbsent", "exp_alerts": []},
        ]}]}
    path = tmp_path / "real.yml"
    path.write_text(yaml.safe_dump(case, allow_unicode=True))
    result = _run("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def _series(run, **scrape: str) -> list[dict]:
    """The run's real series as promtool input; scrape: the labels a scrape adds (instance)."""
    series = []
    for family in metrics.build_registry(run).collect():
        for sample in family.samples:
            labels = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted({**sample.labels, **scrape}.items()))
            series.append({"series": f"{sample.name}{{{labels}}}", "values": f"{sample.value:.6f}x10"})
    return series


def test_two_agents_holding_a_dataset_raise_one_alert_for_it(tmp_path: Path) -> None:
    """With several agents declared, each holding agent's real textfile judges finance-records (label
    agent) and is scraped from its own host: the 3-2-1 alert fires once for the dataset, not once per
    agent. (One real run stands for both agents' runs: a second would verify the same copies again.)"""
    config = load_config(write_site(tmp_path / "site", stale_hdd=True))
    run = run_verification(config, list(config.datasets.values()))
    series = [*_series(dataclasses.replace(run, agent="office", fleet=True), instance="office"),
              *_series(dataclasses.replace(run, agent="kc-home", fleet=True), instance="kc-home")]
    assert any('agent="kc-home"' in s["series"] for s in series if "dataset_policy_compliant" in s["series"])
    case = {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series,
        "alert_rule_test": [
            {"eval_time": "5m", "alertname": "BackupAgentDatasetNotCompliant", "exp_alerts": [{
                "exp_labels": {"severity": "critical", "dataset": "finance-records", "process": "finance-payments"},
                "exp_annotations": {
                    "runbook_url": "README.md#backupagentdatasetnotcompliant",
                    "summary": "finance-records: 3-2-1 policy not met",
                    "description": "Dataset finance-records (finance-payments) does not meet its copy policy on "
                                   "verified copies: 2 verified of 3 required copies, 2 distinct media, 1 offsite. "
                                   "See `backup-agent verify --dataset finance-records`."}}]},
        ]}]}
    path = tmp_path / "fleet.yml"
    path.write_text(yaml.safe_dump(case, allow_unicode=True))
    result = _run("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def _humanize(seconds: float) -> str:
    """Prometheus's humanizeDuration for a day or more: whole seconds, the fraction truncated."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    assert days, "only the >= 1 day form is reproduced here"
    return f"{days}d {hours}h {minutes}m {secs}s"


# --- the dashboard ----------------------------------------------------------------------------


def test_dashboard_shape() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    ids = [panel["id"] for panel in _panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in _panels():
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
        if panel["type"] != "row":
            assert panel["targets"] and panel.get("description"), panel["title"]


def test_dashboard_exprs_parse(tmp_path: Path) -> None:
    exprs = _panel_exprs()
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{index}", "expr": expr} for index, (_, expr) in enumerate(exprs)]}]}
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True))
    result = _run("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_the_parse_check_catches_a_bad_expr(tmp_path: Path) -> None:
    path = tmp_path / "bad.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"record": "x:y", "expr": "sum(backup_agent_copy_age_seconds{dataset=~\".*\"}"}]}]}))
    assert _run("check", "rules", str(path)).returncode != 0


def test_dashboard_references_emitted_metrics(emitted: set[str]) -> None:
    used: set[str] = set()
    for where, expr in _panel_exprs():
        names = metric_names(expr)
        assert names, where
        assert names <= emitted, (where, names - emitted)
        used |= names
    for variable in json.loads(DASHBOARD.read_text(encoding="utf-8"))["templating"]["list"]:
        for name in re.findall(r"label_values\((\w+)", variable.get("definition", "")):
            assert name in emitted, (variable["name"], name)
    # What the issue asks the dashboard to show.
    assert {"backup_agent_copy_status", "backup_agent_copy_age_seconds", "backup_agent_copy_rpo_seconds",
            "backup_agent_dataset_policy_compliant", "backup_agent_restore_projected_seconds",
            "backup_agent_dataset_rto_seconds", "backup_agent_restore_throughput_bytes_per_second",
            "backup_agent_copy_read_data_coverage_ratio", "backup_agent_last_run_timestamp_seconds"} <= used


def test_metric_names_lexer() -> None:
    assert metric_names('sum by (dataset) (rate(foo_total{a="b"}[5m])) / on(x) group_left() bar offset 1h') == \
        {"foo_total", "bar"}
    assert metric_names("time() - backup_agent_last_run_timestamp_seconds > 24 * 3600 + 1e3") == \
        {"backup_agent_last_run_timestamp_seconds"}
    assert metric_names('count(x{status="error"} == 1) or vector(0)') == {"x"}


def test_every_alert_has_a_runbook_section_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    anchors = {re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
               for line in readme.splitlines() if line.startswith("#")}
    for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            url = rule["annotations"].get("runbook_url", "")
            assert url.startswith("README.md#"), rule["alert"]
            assert url.split("#", 1)[1] in anchors, (rule["alert"], url)


def test_dashboard_asks_for_its_data_source_and_every_panel_follows_the_instance() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    (source,) = dashboard["__inputs"]
    assert source["type"] == "datasource" and source["pluginId"] == "prometheus"
    for panel in _panels():
        for target in panel.get("targets", []):
            for selector in re.findall(r"backup_agent_\w+(\{[^}]*\})?", target["expr"]):
                assert 'instance=~"$instance"' in selector, (panel["title"], target["expr"])
