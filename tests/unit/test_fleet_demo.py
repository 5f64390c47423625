"""`demo --fleet`'s pure parts: its timeline, store URL, the targets.yaml it writes, what it
prints of a run, how it judges its own outcome, and the exit without PostgreSQL. (The demo
itself, with real PostgreSQL and restic: tests/e2e/test_demo_fleet.py.)"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent import fleet_demo
from agent.config import load_config
from agent.fleet_demo_run import Run, Stage, by_hand_lines, problems, run_lines
from agent.records_url import is_shared_url, url_problem
from tests.support.cli import invoke

NOW = datetime(2026, 11, 30, 2, 0, 0, 123456, tzinfo=UTC)


def test_stages_are_nine_days_ago_twelve_hours_later_and_now() -> None:
    first, second, third = fleet_demo.stage_times(NOW)
    assert third == NOW.replace(microsecond=0)
    assert third - first == timedelta(days=9, hours=2) and second - first == timedelta(hours=12)
    # Stage 3 is past the HDD's credit since stage 1; stage 2 is within it.
    assert third - first > fleet_demo.HDD_CREDIT > second - first


def test_store_url_reaches_the_socket_directory_without_a_password() -> None:
    url = fleet_demo.store_url(Path("/var/tmp/my demo/postgres"))
    assert url == "postgresql://agents@/qef?host=/var/tmp/my%20demo/postgres"
    assert is_shared_url(url) and url_problem(url) is None


@pytest.mark.parametrize("agent", fleet_demo.AGENTS)
def test_one_targets_yaml_for_every_agent_each_with_its_own_state(tmp_path: Path, agent: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKUP_AGENT_NAME", agent)  # the agent's name is read from the process environment
    sandbox = fleet_demo.Sandbox(tmp_path)
    sandbox.config.write_text(fleet_demo.CONFIG.format(url=fleet_demo.store_url(sandbox.cluster),
                                                       cluster=sandbox.cluster, hdd_mount=sandbox.hdd_mount),
                              encoding="utf-8")
    config = load_config(sandbox.config, environ={"BACKUP_AGENT_NAME": agent}, reads_targets=False)
    assert config.agent.name == agent and Path(config.agent.state_dir) == sandbox.state_dir(agent)
    assert config.agent.records_url == fleet_demo.store_url(sandbox.cluster)
    assert set(config.agents) == set(fleet_demo.AGENTS)
    hdd = config.targets["hdd"]
    assert hdd.settings.removable and config.owner(hdd) == "kc-home"
    assert config.credit_seconds(hdd) == fleet_demo.HDD_CREDIT.total_seconds()


def copy_doc(target: str, status: str, verified: str = "credit", detail: str = "", reach: str = "") -> dict:
    return {"target": target, "status": status, "verified": verified,
            "credit": {"status": "pass" if status in ("pass", "offline") else "error", "detail": detail},
            "checks": [{"name": "reachable", "detail": reach}]}


def document(**datasets: tuple[str, list[dict]]) -> dict:
    return {"status": "pass" if all(s == "pass" for s, _ in datasets.values()) else "fail",
            "datasets": [{"name": name.replace("_", "-"), "status": status, "copies": copies}
                         for name, (status, copies) in datasets.items()]}


def designed() -> list[Stage]:
    fine = document(platform_db=("pass", []), finance_records=("pass", [copy_doc("hdd", "pass")]))
    offline = copy_doc("hdd", "offline", detail="credited", reach="not mounted: …")
    past = document(platform_db=("pass", []), finance_records=("fail", [copy_doc(
        "hdd", "error", detail="hdd (agent kc-home) not verified for 9d2h, credit 8d (last verified by kc-home at …)")]))
    stages = []
    for name, status, home in (("plugged-in", fine, fine), ("unplugged", fine,
                                                           document(finance_records=("pass", [offline]))),
                               ("past-credit", past, past)):
        stage = Stage(name, name, None)
        stage.runs = [Run("cloud", 1, fine), Run("kc-home", 0, home)]
        stage.status = Run("office", 0, status)
        stages.append(stage)
    return stages


def test_the_designed_outcome_has_no_problems() -> None:
    assert problems(designed()) == []


def test_an_hdd_still_credited_past_its_credit_is_a_problem() -> None:
    stages = designed()
    past = copy.deepcopy(stages[1].status.document)
    stages[2].status = Run("office", 0, past)
    found = problems(stages)
    assert any("past-credit: the HDD is not an error" in p for p in found)
    assert any("finance-records should fall" in p for p in found)


def test_an_agent_that_printed_nothing_or_a_missing_stage_is_a_problem() -> None:
    stages = designed()
    stages[0].runs[0] = Run("cloud", 3, None, "Traceback …\nboom")
    assert problems(stages)[0].startswith("plugged-in: cloud printed no document (exit 3)")
    assert problems(designed()[:2]) == ["a stage did not finish, or fleet status printed no document"]


def test_a_run_shows_each_verdict_and_each_uncounted_or_offline_copy_once() -> None:
    detail = "hdd (agent kc-home) never verified: no verification of it in the records store; not counted"
    doc = document(platform_db=("fail", [copy_doc("droplet", "pass", "run"), copy_doc("hdd", "error", detail=detail)]),
                   finance_records=("fail", [copy_doc("hdd", "error", detail=detail + " (again)")]))
    lines = run_lines(Run("cloud", 1, doc))
    assert lines[0].split() == ["cloud", "verify", "exit", "1"]
    assert "verified here: droplet pass; credited: hdd error" in lines[1]
    assert [line.strip() for line in lines[3:]] == [f"hdd error: {detail}"]
    offline = run_lines(Run("kc-home", 0, document(finance_records=("pass", [
        copy_doc("hdd", "offline", detail="credited", reach="not mounted: x; credited: verified by kc-home")]))))
    assert offline[-1].strip() == "hdd offline: not mounted: x; credited: verified by kc-home"


def test_by_hand_commands_name_every_agent_the_plug_in_and_the_cluster(tmp_path: Path) -> None:
    sandbox = fleet_demo.Sandbox(tmp_path)
    lines = "\n".join(by_hand_lines(sandbox, "START-CMD", "STOP-CMD", kept=False))
    for agent in fleet_demo.AGENTS:
        assert f"BACKUP_AGENT_NAME={agent} " in lines
    assert "START-CMD" in lines and "STOP-CMD" in lines and str(sandbox.plug_in) in lines
    kept = "\n".join(by_hand_lines(sandbox, "START-CMD", "STOP-CMD", kept=True))
    assert "START-CMD" not in kept and "STOP-CMD" in kept


def test_without_postgresql_the_demo_names_the_package_exits_3_and_builds_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.validate.pg_cluster.DEBIAN_BINARIES", str(tmp_path / "none" / "*" / "bin"))
    directory = tmp_path / "sandbox"
    done = invoke(["demo", "--fleet", "--dir", str(directory)], env={"PATH": str(tmp_path)})
    assert done.returncode == 3, done.stderr
    assert "apt-get install postgresql" in done.stderr and "SQLite" in done.stderr
    assert not directory.exists()


def test_keep_cluster_goes_with_fleet(tmp_path: Path) -> None:
    done = invoke(["demo", "--keep-cluster", "--dir", str(tmp_path / "d")])
    assert done.returncode == 2 and "--keep-cluster goes with --fleet" in done.stderr
