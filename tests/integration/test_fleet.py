"""Three agents, one targets.yaml, one shared PostgreSQL store (real restic, a real tmpfs as the HDD):
3-2-1 across agents and across time (agent.credit, agent.verifications).

The company: the primary on the Droplet (agent `cloud`), a restic copy on the office NAS (agent
`office`), a restic copy on KC's removable HDD (agent `kc-home`, credit_for 8d). RPO 4d. Each agent
runs as its own process with its own state directory; the clock is moved with BACKUP_AGENT_NOW.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.records.shared import SharedStore
from tests.support.cli import agent_env, run_cli
from tests.support.mounts import mounted_tmpfs
from tests.support.postgres import PostgresServer
from tests.support.restic import FRESH_TAG, ResticTemplate, pack_files

AGENTS = ("cloud", "office", "kc-home")


def fleet_config(directory: Path, template: ResticTemplate, nas: Path, hdd_mount: Path, url: str,
                 server: PostgresServer) -> Path:
    config = directory / "targets.yaml"
    config.write_text(f"""\
agent: {{state_dir: "${{FLEET_DIR}}/state", metrics_file: "${{FLEET_DIR}}/m.prom", scratch_dir: "${{FLEET_DIR}}/scratch",
         operator: 王婧, records_db: '{url}', records_password_file: '{server.password_file}'}}
agents:
  cloud: {{description: Droplet B, interval: 1d}}
  office: {{description: office NAS host, interval: 1d}}
  kc-home: {{description: KC's home PC, interval: 7d, grace: 1d}}
processes: {{lithera-platform: {{rpo: 4d, rto: 4h}}}}
targets:
  droplet: {{kind: local, medium: cloud-vm, location: do-sgp1, require_mount: false, agent: cloud}}
  nas: {{kind: local, medium: nas, location: office, require_mount: false, agent: office}}
  hdd: {{kind: local, medium: hdd, location: kc-home, agent: kc-home, removable: true, credit_for: 8d,
         mountpoint: '{hdd_mount}'}}
datasets:
  platform-db:
    process: lithera-platform
    primary: {{target: droplet, form: files, path: '{template.data}'}}
    copies:
      - {{target: nas, form: restic, path: '{nas}', password_file: '{template.password_file}',
          snapshot_filter: {{tags: [{FRESH_TAG}]}}}}
      - {{target: hdd, form: restic, path: '{hdd_mount}/restic', password_file: '{template.password_file}',
          snapshot_filter: {{tags: [{FRESH_TAG}]}}}}
""", encoding="utf-8")
    return config


class Fleet:
    def __init__(self, tmp_path: Path, config: Path, start: datetime):
        self.tmp_path, self.config, self.start = tmp_path, config, start

    def verify(self, agent: str, after: timedelta, *args: str) -> tuple[int, dict]:
        """Run `verify --json` as agent, its clock at start + after; return exit code and document."""
        return self.cli(agent, after, "verify", "--json", *args)

    def cli(self, agent: str, after: timedelta, *args: str) -> tuple[int, dict]:
        env = agent_env(self.tmp_path)
        env.update(BACKUP_AGENT_NAME=agent, FLEET_DIR=str(self.tmp_path / agent),
                   BACKUP_AGENT_NOW=(self.start + after).isoformat())
        done = run_cli(["--config", str(self.config), *args], env)
        assert done.returncode in (0, 1), done.stderr
        return done.returncode, json.loads(done.stdout)


def fleet_exposition(fleet: Fleet, agent: str, after: timedelta) -> dict:
    """GET /metrics of `metrics serve --fleet` (the exporter in this process) as agent, at start + after."""
    import os
    import threading
    import urllib.request

    from agent import exporter
    from agent.config import load_config
    from tests.support.site import samples

    os.environ["BACKUP_AGENT_NOW"] = (fleet.start + after).isoformat()
    try:
        env = {**os.environ, "BACKUP_AGENT_NAME": agent, "FLEET_DIR": str(fleet.tmp_path / agent)}
        config = load_config(fleet.config, environ=env)
        server = exporter.make_server(config.agent.state_dir, "127.0.0.1:0", exporter.fleet_source(config))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            host, port = server.server_address[:2]
            with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=30) as response:
                return samples(response.read().decode())
        finally:
            server.shutdown()
            server.server_close()
    finally:
        del os.environ["BACKUP_AGENT_NOW"]


def copies(document: dict) -> dict[str, dict]:
    (dataset,) = document["datasets"]
    return {copy["target"]: copy for copy in dataset["copies"]}


def dataset(document: dict) -> dict:
    return document["datasets"][0]


@pytest.fixture
def fleet(tmp_path: Path, restic_template: ResticTemplate, make_repo, root_fs_dir: Path, postgres: PostgresServer,
          shared_db: str):
    hdd_mount = root_fs_dir / "backup-hdd"
    hdd_mount.mkdir(parents=True)
    nas = make_repo("nas")
    config = fleet_config(tmp_path, restic_template, nas, hdd_mount, shared_db, postgres)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    yield Fleet(tmp_path, config, start), hdd_mount, nas
    if hdd_mount.is_mount():
        subprocess.run(["umount", "-l", str(hdd_mount)], capture_output=True, timeout=30)


def plug_in(hdd_mount: Path, template: ResticTemplate):
    """Mount the HDD (a tmpfs) with a copy of the repository on it; a context manager whose exit unplugs it."""
    plugged = mounted_tmpfs(hdd_mount, "size=64m,mode=0755")
    plugged.__enter__()
    shutil.copytree(template.repo, hdd_mount / "restic")
    return plugged


def test_three_agents_each_verify_their_own_and_321_needs_them_all(fleet, restic_template: ResticTemplate,
                                                                   postgres: PostgresServer, shared_db: str) -> None:
    fleet, hdd_mount, nas = fleet
    plugged = plug_in(hdd_mount, restic_template)
    try:
        runs = {name: fleet.verify(name, timedelta(minutes=i)) for i, name in enumerate(AGENTS)}
    finally:
        plugged.__exit__(None, None, None)
    mine = {"cloud": "droplet", "office": "nas", "kc-home": "hdd"}
    for name, (_, document) in runs.items():
        assert document["agent"] == name
        for target, copy in copies(document).items():
            assert copy["verified"] == ("run" if target == mine[name] else "credit"), (name, target, copy)
    # Alone, the cloud agent knows only the primary: the others were never verified yet.
    code, cloud = runs["cloud"]
    assert code == 1 and dataset(cloud)["policy"]["compliant"] is False
    assert "never verified" in copies(cloud)["nas"]["credit"]["detail"]
    # The last of the three combines all: primary credited from cloud, nas from office, hdd verified now.
    code, home = runs["kc-home"]
    assert code == 0, json.dumps(dataset(home), indent=1)
    assert dataset(home)["policy"]["verified_copies"] == 3 and dataset(home)["policy"]["credited_copies"] == 2
    credit = copies(home)["nas"]["credit"]
    assert credit["status"] == "pass" and credit["from"]["agent"] == "office" and credit["from"]["result"] == "pass"
    # Each agent's records hold verifications of its own copies only; credits are recorded as such.
    with SharedStore(shared_db, password_file=postgres.password_file) as shared:
        rows = list(shared.rows())
    verified = {(r["agent"], r["target"]) for r in rows if r["kind"] == "copy"}
    assert verified == {("cloud", "droplet"), ("office", "nas"), ("kc-home", "hdd")}
    assert {(r["agent"], r["target"]) for r in rows if r["kind"] == "credit"} >= {("kc-home", "nas"),
                                                                                   ("kc-home", "droplet")}
    # One agent's copy fails: the next verdict that credits it fails too (a failed verification never counts).
    pack = pack_files(nas)[-1]
    moved = pack.rename(pack.with_name(pack.name + ".away"))
    try:
        code, office = fleet.verify("office", timedelta(minutes=5))
    finally:
        moved.rename(pack)
    assert code == 1 and copies(office)["nas"]["status"] == "fail"
    code, cloud = fleet.verify("cloud", timedelta(minutes=6))
    assert code == 1
    nas_credit = copies(cloud)["nas"]
    assert nas_credit["status"] == "error" and "was fail" in nas_credit["credit"]["detail"]
    assert dataset(cloud)["policy"]["compliant"] is False


def test_unplugged_hdd_is_credited_within_credit_for_and_never_after_a_failure(
        fleet, restic_template: ResticTemplate) -> None:
    fleet, hdd_mount, _ = fleet
    plugged = plug_in(hdd_mount, restic_template)
    try:
        for i, name in enumerate(AGENTS):
            fleet.verify(name, timedelta(minutes=i))
    finally:
        plugged.__exit__(None, None, None)  # unplugged
    # A day later: the office credits the HDD from kc-home's verification, naming it.
    day = timedelta(days=1)
    fleet.verify("cloud", day)
    code, office = fleet.verify("office", day + timedelta(minutes=1))
    hdd = copies(office)["hdd"]
    assert code == 0 and hdd["status"] == "pass" and hdd["verified"] == "credit", dataset(office)
    assert hdd["credit"]["from"]["agent"] == "kc-home" and "credited: verified by kc-home" in hdd["credit"]["detail"]
    # kc-home itself finds the disk unplugged: offline (not an error), last verification named.
    code, home = fleet.verify("kc-home", day + timedelta(minutes=2))
    hdd = copies(home)["hdd"]
    assert code == 0, dataset(home)
    assert hdd["status"] == "offline" and dataset(home)["status"] == "pass"
    assert "not mounted" in hdd["checks"][0]["detail"] and hdd["credit"]["from"]["agent"] == "kc-home"
    # The fleet view, from the store alone (on any machine): every agent on time, the dataset passes.
    code, status = fleet.cli("office", day + timedelta(minutes=3), "fleet", "status", "--json")
    assert code == 0, status
    assert {a["name"]: a["overdue"] for a in status["agents"]} == {"cloud": False, "office": False, "kc-home": False}
    (platform,) = status["datasets"]
    assert platform["status"] == "pass"
    assert {c["target"]: c["credit"]["from"]["agent"] for c in platform["copies"]} == {
        "droplet": "cloud", "nas": "office", "hdd": "kc-home"}
    exposed = fleet_exposition(fleet, "office", day + timedelta(minutes=3))
    assert exposed[("backup_agent_fleet_dataset_status", (("dataset", "platform-db"), ("process", "lithera-platform"),
                                                          ("status", "pass")))] == 1
    assert {labels for name, labels in exposed if name == "backup_agent_fleet_agent_due_seconds"} == {
        (("agent", name),) for name in AGENTS}
    # Two days on, the cloud and office agents have gone quiet (due 1d + 8h); kc-home runs weekly.
    code, status = fleet.cli("kc-home", timedelta(days=3), "fleet", "status", "--json")
    assert code == 1
    assert {a["name"]: a["overdue"] for a in status["agents"]} == {"cloud": True, "office": True, "kc-home": False}
    # Five days on: verified 5 days ago (within 8d), but its last backup is now older than the 4d RPO.
    code, office = fleet.verify("office", timedelta(days=5))
    hdd = copies(office)["hdd"]
    assert hdd["status"] == "error" and "> RPO 4d" in hdd["credit"]["detail"], hdd
    # Nine days on: past credit_for.
    code, home = fleet.verify("kc-home", timedelta(days=9, minutes=10))
    hdd = copies(home)["hdd"]
    assert code == 1 and hdd["status"] == "error"
    assert "hdd not seen for 9d, credit 8d" in hdd["credit"]["detail"], hdd
    # Plugged in with a broken repository: that verification fails; unplugged a minute later, never credited.
    plugged = plug_in(hdd_mount, restic_template)
    try:
        for pack in pack_files(hdd_mount / "restic")[:1]:
            pack.unlink()
        code, home = fleet.verify("kc-home", timedelta(days=9, minutes=11))
        assert copies(home)["hdd"]["status"] == "fail" and copies(home)["hdd"]["verified"] == "run"
    finally:
        plugged.__exit__(None, None, None)
    code, home = fleet.verify("kc-home", timedelta(days=9, minutes=12))
    hdd = copies(home)["hdd"]
    assert code == 1 and hdd["status"] == "error" and "was fail" in hdd["credit"]["detail"], hdd


def test_one_agent_credits_its_unplugged_disk_from_its_own_local_store(tmp_path: Path, root_fs_dir: Path) -> None:
    """No agents: section, no shared store: the HDD last verified when plugged in counts, from the
    agent's own SQLite store, within credit_for; past it, error."""
    hdd_mount = root_fs_dir / "hdd"
    hdd_mount.mkdir(parents=True)
    primary = tmp_path / "primary"
    primary.mkdir()
    (primary / "a.txt").write_text("alpha\n")
    config = tmp_path / "targets.yaml"
    config.write_text(f"""\
agent: {{state_dir: state, metrics_file: m.prom, scratch_dir: scratch, operator: t, name: solo}}
policy: {{copies: 2, media: 2, offsite: 1}}
processes: {{p: {{rpo: 2d, rto: 1d}}}}
targets:
  droplet: {{kind: local, medium: cloud-vm, location: cloud, require_mount: false}}
  hdd: {{kind: local, medium: hdd, location: home, removable: true, credit_for: 3d, mountpoint: '{hdd_mount}'}}
datasets:
  d: {{process: p, primary: {{target: droplet, form: files, path: '{primary}'}},
       copies: [{{target: hdd, form: files, path: '{hdd_mount}/d', stamp: .last-sync}}]}}
""", encoding="utf-8")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)

    def verify(after: timedelta) -> tuple[int, dict]:
        env = {**agent_env(tmp_path), "BACKUP_AGENT_NOW": (start + after).isoformat()}
        done = run_cli(["--config", str(config), "verify", "--json"], env)
        assert done.returncode in (0, 1), done.stderr
        return done.returncode, json.loads(done.stdout)

    with mounted_tmpfs(hdd_mount, "size=8m,mode=0755"):
        shutil.copytree(primary, hdd_mount / "d")
        (hdd_mount / "d" / ".last-sync").write_text("")
        code, plugged = verify(timedelta(0))
        assert code == 0 and copies(plugged)["hdd"]["verified"] == "run", dataset(plugged)
    code, offline = verify(timedelta(days=1))
    hdd = copies(offline)["hdd"]
    assert code == 0 and hdd["status"] == "offline" and hdd["credit"]["from"]["agent"] == "solo", hdd
    code, gone = verify(timedelta(days=4))
    hdd = copies(gone)["hdd"]
    assert code == 1 and hdd["status"] == "error" and "hdd not seen for 4d, credit 3d" in hdd["credit"]["detail"], hdd
