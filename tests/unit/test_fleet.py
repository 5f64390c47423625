"""agent.fleet: the fleet view from the latest records alone (what `fleet status` prints)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent import fleet
from agent.config import load_config
from agent.credit import Verification
from agent.verifications import Verifications
from tests.unit.test_config import write
from tests.unit.test_config_fleet import fleet as fleet_document

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def seen(agent: str, hours_ago: float, result: str = "pass", backup_hours_ago: float | None = 1) -> Verification:
    backup = None if backup_hours_ago is None else NOW - timedelta(hours=backup_hours_ago)
    return Verification(agent, 7, NOW - timedelta(hours=hours_ago), result, backup)


def found(**runs: float) -> Verifications:
    store = Verifications(source="test")
    store.runs = {name.replace("_", "-"): seen(name.replace("_", "-"), hours) for name, hours in runs.items()}
    dataset = "finance-records"
    store.latest = {
        (dataset, "droplet", "primary", "files"): seen("cloud", 2, backup_hours_ago=None),
        (dataset, "nas", "backup", "restic"): seen("office", 3),
        (dataset, "ssd", "backup", "restic"): seen("office", 3),
        (dataset, "hdd", "backup", "restic"): seen("kc-home", 24 * 6),
    }
    return store


def test_every_agent_on_time_and_every_dataset_verdict(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, fleet_document()))
    document = fleet.status_document(config, found(cloud=2, office=3, kc_home=24 * 6), NOW)
    assert document["status"] == "pass"
    assert [(a["name"], a["overdue"]) for a in document["agents"]] == [
        ("cloud", False), ("kc-home", False), ("office", False)]
    (dataset,) = document["datasets"]
    assert dataset["status"] == "pass" and dataset["policy"]["credited_copies"] == 4
    assert {c["target"]: c["agent"] for c in dataset["copies"]} == {
        "droplet": "cloud", "nas": "office", "ssd": "office", "hdd": "kc-home"}
    table = fleet.status_table(document)
    assert "last verified by kc-home at 2026-11-24T02:00:00Z: pass" in table


def test_a_quiet_agent_and_one_never_heard_from_are_flagged(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, fleet_document()))
    document = fleet.status_document(config, found(cloud=33, office=3), NOW)  # cloud due 1d + 8h = 32h
    states = {a["name"]: a for a in document["agents"]}
    assert states["cloud"]["overdue"] and not states["office"]["overdue"]
    assert states["kc-home"]["overdue"] and states["kc-home"]["last_run_at"] is None
    assert document["status"] == "fail"
    table = fleet.status_table(document)
    assert "OVERDUE cloud" in table and "never reported" in table


def test_fleet_metrics_once_for_the_fleet(tmp_path: Path) -> None:
    from agent import fleet_metrics
    from tests.support.site import samples

    config = load_config(write(tmp_path, fleet_document()))
    document = fleet.status_document(config, found(cloud=33, office=3), NOW)
    exposed = samples(fleet_metrics.render(document).decode())
    last_run = "backup_agent_fleet_agent_last_run_timestamp_seconds"
    assert exposed[(last_run, (("agent", "cloud"),))] == (NOW - timedelta(hours=33)).timestamp()
    assert exposed[(last_run, (("agent", "kc-home"),))] == 0  # never heard from: the dead-agent alert fires
    assert exposed[("backup_agent_fleet_agent_due_seconds", (("agent", "cloud"),))] == 32 * 3600
    status = (("dataset", "finance-records"), ("process", "finance-payments"), ("status", "pass"))
    assert exposed[("backup_agent_fleet_dataset_status", status)] == 1
    verified = (("agent", "kc-home"), ("dataset", "finance-records"), ("role", "backup"), ("target", "hdd"))
    assert exposed[("backup_agent_fleet_copy_last_verified_timestamp_seconds", verified)] == (
        NOW - timedelta(days=6)).timestamp()
