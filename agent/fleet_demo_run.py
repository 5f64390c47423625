"""`backup-agent demo --fleet`: the three stages, each agent a separate `backup-agent verify`
process with its own state directory, then `fleet status` read from the shared store alone.

1. nine days ago, the HDD plugged in: cloud, office and kc-home each verify their own copies;
   the last of them, and the fleet view, combine all three: both datasets pass 3-2-1;
2. twelve hours later, the HDD unplugged: kc-home finds it `offline` and credits it from its
   verification of stage 1 (named); the fleet view counts it; finance-records still passes;
3. now, nine days on (past the HDD's credit_for of 8 days): the HDD is `error` ("not seen for
   9d…, credit 8d") and finance-records falls to two copies of three; platform-db, whose copies
   do not include the HDD, still passes.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agent import fleet_demo
from agent.clock import iso
from agent.demo import MARKER
from agent.execute import execute

RUN_TIMEOUT = 600.0
STAGES = (
    ("plugged-in", "nine days ago — the HDD plugged in at KC's home; each agent verifies its own copies"),
    ("unplugged", "twelve hours later — the HDD unplugged and put away; the agents run again"),
    ("past-credit", "now, nine days on — the HDD never came back (credit_for 8d); the agents run again"),
)


@dataclass
class Run:
    agent: str
    exit_code: int
    document: dict[str, Any] | None
    stderr: str = ""


@dataclass
class Stage:
    name: str
    title: str
    at: datetime | None  # None: the real clock
    backups: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    status: Run | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "at": iso(self.at) if self.at else "now",
                "nightly_backups": self.backups,
                "runs": [{"agent": r.agent, "exit_code": r.exit_code, "verify": r.document} for r in self.runs],
                "fleet_status": {"exit_code": self.status.exit_code, "document": self.status.document}
                if self.status else None}


def agent_command() -> list[str]:
    """How to start `backup-agent`: the script next to this Python, else the one on PATH."""
    beside = Path(sys.executable).with_name("backup-agent")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("backup-agent")
    return [found] if found else [sys.executable, "-c", "from agent.cli import main; main()"]


def run_agent(sandbox: fleet_demo.Sandbox, agent: str, at: datetime | None, *args: str,
              plugged: bool = False) -> Run:
    """Run `backup-agent --config CONFIG ARGS --json` as agent (its clock at `at`), the HDD plugged
    in for it alone when plugged. Return its exit code and JSON document (None if it printed none)."""
    env = {"BACKUP_AGENT_NAME": agent}
    if at is not None:
        env["BACKUP_AGENT_NOW"] = iso(at)
    argv = [*agent_command(), "--config", str(sandbox.config), *args, "--json"]
    if plugged:
        argv = [str(sandbox.plug_in), *argv]
    done = execute(argv, timeout=RUN_TIMEOUT, env=env, unset=("BACKUP_AGENT_CONFIG", "BACKUP_AGENT_NOW"),
                   check=False, cwd=str(sandbox.directory))
    try:
        document = json.loads(done.stdout) if done.stdout.strip() else None
    except ValueError:
        document = None
    return Run(agent, done.returncode, document, done.stderr.strip())


def run_stage(sandbox: fleet_demo.Sandbox, index: int, at: datetime | None) -> Stage:
    """One stage: the nightly backups, each agent once (kc-home with the HDD plugged in at the first
    stage only), then `fleet status`. at None: the real clock."""
    from agent.clock import now

    name, title = STAGES[index]
    stage = Stage(name, title, at)
    stage.backups = fleet_demo.nightly_backups(sandbox, at or now())
    for offset, agent in enumerate(fleet_demo.AGENTS):
        moment = at + timedelta(minutes=offset) if at else None
        stage.runs.append(run_agent(sandbox, agent, moment, "verify", plugged=index == 0 and agent == "kc-home"))
    moment = at + timedelta(minutes=len(fleet_demo.AGENTS)) if at else None
    stage.status = run_agent(sandbox, "office", moment, "fleet", "status")
    return stage


def run_lines(run: Run) -> list[str]:
    """What one agent's run showed: each dataset's verdict, its copies verified here and credited,
    and why any credited copy is offline or not counted."""
    if run.document is None:
        tail = run.stderr.splitlines()[-1] if run.stderr else "no output"
        return [f"  {run.agent:<8} exit {run.exit_code}: no verify document ({tail})"]
    lines = [f"  {run.agent:<8} verify exit {run.exit_code}"]
    notes: dict[tuple[str, str], str] = {}  # one note per copy and status: a target holds several datasets
    for dataset in run.document.get("datasets", []):
        verified = [f"{c['target']} {c['status']}" for c in dataset["copies"] if c.get("verified") == "run"]
        credited = [f"{c['target']} {c['status']}" for c in dataset["copies"] if c.get("verified") == "credit"]
        lines.append(f"    {dataset['status'].upper():<6}{dataset['name']:<17}verified here: {', '.join(verified) or '-'}"
                     f"; credited: {', '.join(credited) or '-'}")
        for copy in dataset["copies"]:
            detail = (copy.get("credit") or {}).get("detail")
            if copy.get("verified") == "credit" and copy["status"] != "pass" and detail:
                if copy["status"] == "offline":
                    detail = copy["checks"][0]["detail"]
                notes.setdefault((copy["target"], copy["status"]), f"      {copy['target']} {copy['status']}: {detail}")
    return lines + list(notes.values())


def stage_lines(stage: Stage) -> list[str]:
    from agent.fleet import status_table

    when = iso(stage.at) if stage.at else "now (the real clock)"
    lines = ["", f"== {stage.name}: {stage.title}", f"   clock {when}; nightly backups: {', '.join(stage.backups)}",
             "   (an agent credits the others' copies from what the store holds when it runs, so the first to run"
             " sees yesterday's; fleet status, after all three, is the verdict)"]
    for run in stage.runs:
        lines += run_lines(run)
    lines.append(f"  $ backup-agent fleet status   (exit {stage.status.exit_code if stage.status else '-'})")
    if stage.status and stage.status.document:
        lines += ["  " + line for line in status_table(stage.status.document).splitlines()]
    elif stage.status:
        lines.append(f"  fleet status printed no document: {stage.status.stderr}")
    return lines


def _copy(document: dict[str, Any] | None, dataset: str, target: str) -> dict[str, Any]:
    for found in (document or {}).get("datasets", []):
        if found["name"] == dataset:
            return next((c for c in found["copies"] if c["target"] == target), {})
    return {}


def _dataset_status(document: dict[str, Any] | None, dataset: str) -> str | None:
    return next((d["status"] for d in (document or {}).get("datasets", []) if d["name"] == dataset), None)


def problems(stages: list[Stage]) -> list[str]:
    """What differs from the designed outcome of the three stages (empty: as designed)."""
    found = [f"{s.name}: {r.agent} printed no document (exit {r.exit_code}): {r.stderr[-300:]}"
             for s in stages for r in s.runs if r.document is None]
    if len(stages) != len(STAGES) or any(s.status is None or s.status.document is None for s in stages):
        return found + ["a stage did not finish, or fleet status printed no document"]
    plugged, unplugged, past = (s.status.document for s in stages)  # type: ignore[union-attr]
    if plugged.get("status") != "pass":
        found.append("plugged-in: fleet status is not pass (every agent on time, every dataset passing)")
    home = next((r.document for r in unplugged_runs(stages) if r.agent == "kc-home"), None)
    if _copy(home, "finance-records", "hdd").get("status") != "offline":
        found.append("unplugged: kc-home does not show the HDD offline")
    hdd = _copy(unplugged, "finance-records", "hdd")
    if _dataset_status(unplugged, "finance-records") != "pass" or (hdd.get("credit") or {}).get("status") != "pass":
        found.append("unplugged: the fleet view does not credit the HDD and pass finance-records")
    hdd = _copy(past, "finance-records", "hdd")
    if hdd.get("status") != "error" or "credit 8d (last verified by kc-home" not in (hdd.get("credit") or {}).get(
            "detail", ""):
        found.append("past-credit: the HDD is not an error for being unseen past credit_for")
    if _dataset_status(past, "finance-records") == "pass" or _dataset_status(past, "platform-db") != "pass":
        found.append("past-credit: finance-records should fall and platform-db pass")
    return found


def unplugged_runs(stages: list[Stage]) -> list[Run]:
    return stages[1].runs if len(stages) > 1 else []


def by_hand_lines(sandbox: fleet_demo.Sandbox, start: str, stop: str, kept: bool) -> list[str]:
    """The exact commands that run the sandbox again by hand."""
    cli = " ".join(shlex.quote(part) for part in agent_command())
    config = shlex.quote(str(sandbox.config))
    lines = ["", "Run the agents again by hand (each as its own agent, one targets.yaml):"]
    if kept:
        lines.append(f"  # the store's PostgreSQL cluster is still running; stop it with:\n  {stop}")
    else:
        lines.append(f"  # first start the store's PostgreSQL cluster again (stop it afterwards with the second line):\n"
                     f"  {start}\n  {stop}")
    for agent in fleet_demo.AGENTS:
        lines.append(f"  BACKUP_AGENT_NAME={agent} {cli} --config {config} verify")
    lines.append(f"  BACKUP_AGENT_NAME=kc-home {shlex.quote(str(sandbox.plug_in))} {cli} --config {config} verify")
    lines.append("  # ^ with the HDD plugged in (a tmpfs in a private mount namespace): its own backup is nine days "
                 "old, so it now fails freshness (RPO 1d)")
    lines.append(f"  BACKUP_AGENT_NAME=office {cli} --config {config} fleet status")
    lines.append(f"  BACKUP_AGENT_NAME=office {cli} --config {config} records verify")
    return lines


def run_demo(directory: Path, keep_cluster: bool, echo: Callable[[str], None]) -> dict[str, Any]:
    """Build the fleet sandbox in directory, run the three stages and stop the store's cluster
    (unless keep_cluster). Return the demo's JSON document. Raise CannotRun (PostgreSQL missing
    or unusable: nothing was built), AgentError."""
    from agent import fleet_demo_store as store
    from agent.clock import now

    server = store.cluster(directory.resolve() / "postgres")  # PostgreSQL missing: stop before building
    if (directory / MARKER).exists():  # a previous demo's cluster, never someone else's
        store.stop_previous(server.directory)
    sandbox = fleet_demo.prepare(directory)
    echo(f"demo --fleet: building the sandbox in {sandbox.directory}")
    times = fleet_demo.stage_times(now())
    stages: list[Stage] = []
    try:
        echo(f"demo --fleet: shared records store: a THROWAWAY PostgreSQL cluster in {server.directory} "
             f"(socket only, no TCP port; server runs as {server.who.name})")
        store.start(server, fleet_demo.DATABASE, fleet_demo.STORE_ROLE)
        fleet_demo.build(sandbox, times[0], fleet_demo.store_url(server.directory))
        echo(f"demo --fleet: config {sandbox.config} (agents {', '.join(fleet_demo.AGENTS)}; state under agents/NAME/)")
        for index, at in enumerate((times[0], times[1], None)):
            stages.append(run_stage(sandbox, index, at))
            for line in stage_lines(stages[-1]):
                echo(line)
    finally:
        if server.started and not keep_cluster:
            server.stop("fast")
    start, stop = store.by_hand(server)
    kept = keep_cluster and store.running(server)
    echo("")
    echo(f"demo --fleet: the PostgreSQL cluster in {server.directory} is "
         + ("still RUNNING (--keep-cluster)" if kept else "stopped; its data is kept there"))
    for line in by_hand_lines(sandbox, start, stop, kept):
        echo(line)
    return {"sandbox": str(sandbox.directory), "config": str(sandbox.config),
            "store": {"url": fleet_demo.store_url(server.directory), "cluster": str(server.directory),
                      "running": kept, "start": start, "stop": stop},
            "stages": [s.to_json() for s in stages], "problems": problems(stages)}
