"""`backup-agent demo --fleet`: three agents (separate processes, own state directories, one
targets.yaml), a real throwaway PostgreSQL store and real restic; the HDD plugged in (a real tmpfs,
in a private mount namespace), unplugged and credited, then past its credit. Afterwards nothing
it started may still run or stay mounted."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import agent_env, run_cli
from tests.support.postgres import bin_dir

OWN_TARGETS = {"cloud": {"droplet", "offsite"}, "office": {"nas"}, "kc-home": {"hdd"}}


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory the server's unprivileged user can reach (pytest's tmp_path is root's only)."""
    if bin_dir() is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql): demo --fleet needs a real "
                    "server for the shared records store")
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) not found: the demo plugs the HDD in within a private mount namespace")
    parent = Path(tempfile.mkdtemp(prefix="fleet-demo-"))
    parent.chmod(0o755)
    yield parent / "sandbox"
    shutil.rmtree(parent, ignore_errors=True)


def copies(document: dict, dataset: str) -> dict[str, dict]:
    found = next(d for d in document["datasets"] if d["name"] == dataset)
    return {copy["target"]: copy for copy in found["copies"]}


def statuses(document: dict) -> dict[str, str]:
    return {d["name"]: d["status"] for d in document["datasets"]}


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that name text (the sandbox): servers, agents, restic."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in line:
                found.append(f"{entry.name}: {line}")
    return found


def test_demo_fleet_shows_three_agents_the_hdd_credited_then_past_its_credit(fleet_dir: Path, tmp_path: Path) -> None:
    done = run_cli(["demo", "--fleet", "--dir", str(fleet_dir), "--json"], agent_env(tmp_path), timeout=900)
    assert done.returncode == 0, done.stderr
    document = done.json()
    assert document["problems"] == []
    assert "THROWAWAY PostgreSQL cluster" in done.stderr and "BACKUP_AGENT_NAME=kc-home" in done.stderr
    plugged, unplugged, past = document["stages"]

    # Stage 1: each agent verified only its own copies; together they meet 3-2-1.
    for run in plugged["runs"]:
        assert run["exit_code"] in (0, 1) and run["verify"]["agent"] == run["agent"]
        mine = {c["target"] for d in run["verify"]["datasets"] for c in d["copies"] if c["verified"] == "run"}
        assert mine == OWN_TARGETS[run["agent"]], run["agent"]
    status = plugged["fleet_status"]
    assert status["exit_code"] == 0 and statuses(status["document"]) == {"platform-db": "pass",
                                                                         "finance-records": "pass"}
    assert {a["name"]: a["overdue"] for a in status["document"]["agents"]} == dict.fromkeys(OWN_TARGETS, False)

    # Stage 2: kc-home finds the HDD unplugged — offline, credited from its stage-1 verification.
    home = next(r["verify"] for r in unplugged["runs"] if r["agent"] == "kc-home")
    hdd = copies(home, "finance-records")["hdd"]
    assert hdd["status"] == "offline" and "not mounted" in hdd["checks"][0]["detail"]
    assert hdd["credit"]["from"]["agent"] == "kc-home" and hdd["credit"]["from"]["recorded_at"] < unplugged["at"]
    status = unplugged["fleet_status"]["document"]
    assert statuses(status)["finance-records"] == "pass"
    assert copies(status, "finance-records")["hdd"]["credit"]["status"] == "pass"

    # Stage 3: nine days on, past credit_for 8d: the HDD is an error and finance-records falls.
    status = past["fleet_status"]
    assert status["exit_code"] == 1
    assert statuses(status["document"]) == {"platform-db": "pass", "finance-records": "fail"}
    hdd = copies(status["document"], "finance-records")["hdd"]
    assert hdd["status"] == "error" and "credit 8d" in hdd["credit"]["detail"], hdd
    home = next(r["verify"] for r in past["runs"] if r["agent"] == "kc-home")
    assert "hdd not seen for 9d" in copies(home, "finance-records")["hdd"]["credit"]["detail"]

    # Everything it started is gone: the server stopped (data kept), nothing mounted, no process left.
    assert document["store"]["running"] is False
    assert not (fleet_dir / "postgres" / "data" / "postmaster.pid").exists()
    assert (fleet_dir / "postgres" / "data" / "PG_VERSION").exists()
    assert str(fleet_dir) not in Path("/proc/self/mounts").read_text()
    assert processes_mentioning(str(fleet_dir)) == []
    assert document["store"]["start"].endswith("-w start") and "pg_ctl" in document["store"]["start"]
    assert os.access(fleet_dir / "with-hdd-plugged-in", os.X_OK)
