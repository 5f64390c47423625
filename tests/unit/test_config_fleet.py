"""One targets.yaml for a fleet of agents: the `agents:` section, each target's `agent`, `credit_for`
and a local target's `removable`, as config check and verify see them (exit 2 naming the key path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from agent.config_show import effective_document
from tests.unit.test_config import assert_nothing_written, base, run_cli, write


def fleet() -> dict[str, Any]:
    document = base()
    document["agents"] = {
        "office": {"description": "office NAS host", "interval": "1d"},
        "kc-home": {"interval": "7d", "grace": "1d"},
        "cloud": {},
    }
    targets = document["targets"]
    targets["droplet"]["agent"] = "cloud"
    targets["nas"]["agent"] = "office"
    targets["ssd"]["agent"] = "office"
    targets["hdd"].update(agent="kc-home", removable=True, credit_for="9d")
    del targets["hdd"]["require_mount"]
    # The droplet is the cloud agent's local disk: a files copy elsewhere could not read its hashes.
    document["datasets"]["finance-records"]["copies"][2] = {"target": "hdd", "form": "restic", "path": "hdd/restic",
                                                            "password_file": "restic.pass"}
    return document


def _files_on_hdd(document: dict[str, Any]) -> None:
    document["datasets"]["finance-records"]["copies"][2] = {"target": "hdd", "form": "files", "path": "hdd/finance"}


def test_fleet_config_loads_typed(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, fleet()))
    assert sorted(config.agents) == ["cloud", "kc-home", "office"]
    assert config.agents["kc-home"].interval_seconds == 7 * 86400
    assert config.agents["cloud"].due_seconds == 86400 + 8 * 3600  # defaults: 1d + 8h grace
    hdd = config.targets["hdd"]
    assert (hdd.agent, hdd.removable, hdd.require_mount, hdd.credit_for_seconds) == ("kc-home", True, True, 9 * 86400)
    assert config.credit_seconds(hdd) == 9 * 86400
    assert config.credit_seconds(config.targets["ssd"]) == 86400 + 8 * 3600  # office's interval + grace
    assert config.owner(config.targets["droplet"]) == "cloud"


def test_single_agent_owns_every_target(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, base()))
    assert not config.agents
    assert all(config.is_mine(t) for t in config.targets.values())
    assert config.credit_seconds(config.targets["hdd"]) == config.agent.schedule_interval_seconds + 8 * 3600
    document = base()
    document["agents"] = {"solo": {"interval": "12h"}}
    config = load_config(write(tmp_path, document))
    assert {t.agent for t in config.targets.values()} == {"solo"}  # one agent declared: the default


def test_agent_name_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKUP_AGENT_NAME", "kc-home")
    config = load_config(write(tmp_path, fleet()))
    assert config.agent.name == "kc-home"
    assert [t for t in config.targets if config.is_mine(config.targets[t])] == ["hdd"]


def test_config_show_round_trips_fleet(tmp_path: Path) -> None:
    shown = effective_document(load_config(write(tmp_path, fleet())))
    assert shown["agents"]["kc-home"] == {"interval": "7d", "grace": "1d"}
    assert shown["targets"]["hdd"]["agent"] == "kc-home"
    assert shown["targets"]["hdd"]["credit_for"] == "9d"
    assert shown["targets"]["hdd"]["removable"] is True
    (tmp_path / "again").mkdir()
    again = load_config(write(tmp_path / "again", shown))
    assert again.targets["hdd"].credit_for_seconds == 9 * 86400


def _mutated(change) -> dict[str, Any]:
    document = fleet()
    change(document)
    return document


BAD = {
    "unknown-agent": (lambda d: d["targets"]["ssd"].update(agent="offce"),
                      ["targets.ssd.agent", "unknown agent", "offce", "cloud, kc-home, office"]),
    "agent-missing": (lambda d: d["targets"]["nas"].pop("agent"), ["targets.nas.agent", "required", "several"]),
    "agent-without-section": (lambda d: d.pop("agents"), ["targets.ssd.agent", "no agents: section"]),
    "bad-interval": (lambda d: d["agents"]["cloud"].update(interval="daily"), ["agents.cloud.interval"]),
    "bad-credit": (lambda d: d["targets"]["hdd"].update(credit_for="a week"), ["targets.hdd.credit_for"]),
    "removable-on-ssh": (lambda d: d["targets"].update(
        vm={"kind": "ssh", "host": "h", "user": "u", "key_file": "k", "known_hosts": "kh", "medium": "cloud-vm",
            "location": "x", "agent": "cloud", "removable": True}), ["targets.vm", "removable"]),
    "removable-unmounted": (lambda d: d["targets"]["hdd"].update(require_mount=False),
                            ["targets.hdd.require_mount", "removable"]),
    "unknown-agent-key": (lambda d: d["agents"]["cloud"].update(schedule="1d"), ["agents.cloud.schedule"]),
    "primary-out-of-reach": (_files_on_hdd, ["datasets.finance-records.copies[2]", "primary", "local target droplet",
                                             "agent kc-home cannot reach"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_fleet_config_errors(tmp_path: Path, case: str) -> None:
    change, expected = BAD[case]
    config = write(tmp_path, _mutated(change))
    result = run_cli(config, "config", "check", "--offline")
    assert result.returncode == 2, result.stdout + result.stderr
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    assert_nothing_written(tmp_path)


def test_verify_refuses_an_undeclared_agent_and_another_agents_target(tmp_path: Path) -> None:
    config = write(tmp_path, fleet())
    result = invoke_verify(config, {"BACKUP_AGENT_NAME": "laptop"})
    assert result.returncode == 2
    assert "'laptop'" in result.stderr and "agents:" in result.stderr
    result = invoke_verify(config, {"BACKUP_AGENT_NAME": "office"}, "--target", "hdd")
    assert result.returncode == 2
    assert "target hdd is reached by agent kc-home, not by office" in result.stderr
    assert_nothing_written(tmp_path)


def invoke_verify(config: Path, env: dict[str, str], *args: str):
    from tests.support.cli import invoke

    return invoke(["--config", str(config), "verify", *args], env=env, cwd=config.parent)


def test_inventory_lists_only_this_agents_copies(tmp_path: Path) -> None:
    from tests.support.cli import invoke

    config = write(tmp_path, fleet())
    result = invoke(["--config", str(config), "inventory", "--json"], env={"BACKUP_AGENT_NAME": "kc-home"},
                    cwd=tmp_path)
    assert [(e["dataset"], e["target"]) for e in result.json()] == [("finance-records", "hdd")], result.stderr
