"""The shared PostgreSQL records store with several agents, on a real server (tests/support/postgres.py):
what only a shared store has to show. The suite both stores pass is tests/integration/test_records_backends.py.

- Agents append concurrently from their own processes and state directories: every chain verifies,
  every record arrives once.
- The server down (before a run, or stopped part way through a delivery), or the agent killed with
  SIGKILL inside a delivery: the records wait in the outbox and arrive later with the same numbers
  and hashes, none lost, none twice.
- The agents' role (the README's GRANTs) may INSERT and SELECT only; the password comes from a file
  and never shows; two machines under one agent name are refused loudly.
- The monthly report from a shared store with two agents is the same bytes on either machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.config import load_config
from agent.records import RecordStore
from agent.records.pg_schema import AGENT_GRANTS
from agent.records.shared import SharedStore
from tests.support.postgres import PostgresServer, make_records_template, remove, start_postgres
from tests.support.record_stores import StoreCase, shared_keys
from tests.support.records import make_rows
from tests.support.site import agent as run_agent
from tests.support.site import samples, write_site

ROOT = Path(__file__).resolve().parents[2]


def shared_rows(url: str, server: PostgresServer) -> dict[str, list[tuple[int, str]]]:
    """Every agent's (seq, hash) in the shared store, read as the agents read it."""
    with SharedStore(url, password_file=server.password_file) as shared:
        found: dict[str, list[tuple[int, str]]] = {}
        for row in shared.rows():
            found.setdefault(row["agent"], []).append((row["seq"], row["hash"]))
        return found


def local_rows(path: Path) -> list[tuple[int, str]]:
    with RecordStore(path, readonly=True) as store:
        return [(row["seq"], row["hash"]) for row in store.rows()]


def run_python(script: str, *args: str, timeout: float = 120) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# --- many agents


APPEND_RUNS = """
    import sys
    from agent import recording
    from agent.config import load_config
    from tests.support.records import make_rows
    config = load_config(sys.argv[1], reads_targets=False)
    for run in range(int(sys.argv[2])):
        rows = make_rows(7, first=run * 7 + 1)
        for row in rows:
            row["run_id"] = f"{config.agent.name}-{run}"
        recorded = recording.record_rows(config, rows)
        assert recorded.delivery.problem is None, recorded.delivery.problem
"""


def test_three_agents_appending_concurrently_each_keep_a_whole_chain(postgres: PostgresServer, shared_db: str,
                                                                       tmp_path: Path) -> None:
    """3 agents × 30 runs of 7 records, in separate processes and state directories, at once."""
    names = ("droplet-agent", "office-nas", "kc-home")
    cases = [StoreCase.make("postgresql", tmp_path / name, shared_db, postgres, agent=name) for name in names]
    processes = [run_python(APPEND_RUNS, str(case.directory / "targets.yaml"), "30") for case in cases]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    held = shared_rows(shared_db, postgres)
    assert sorted(held) == sorted(names)
    for case in cases:
        assert [seq for seq, _ in held[case.agent]] == list(range(1, 211)), "every record once, in order"
        assert held[case.agent] == local_rows(case.local_path), "the same numbers and hashes as written"
    result = cases[0].cli("verify")
    assert result.returncode == 0, result.stderr
    assert all(f"agent {name}: chain intact: 210 records".encode() in result.stdout for name in names)


# --- outages and crashes


@pytest.fixture
def own_postgres() -> PostgresServer:
    """A server of this test's own, to stop and start (the session's serves the others)."""
    server = start_postgres()
    try:
        make_records_template(server)
        yield server
    finally:
        remove(server)


def test_a_run_with_the_server_down_keeps_its_records_and_the_next_run_delivers_them(
        own_postgres: PostgresServer, tmp_path: Path) -> None:
    url = own_postgres.url(own_postgres.create_database("records_template"))
    config = write_site(tmp_path / "site", records=shared_keys(url, own_postgres))
    first = run_agent(config, "verify")
    assert first.returncode == 0, first.stderr
    delivered = local_rows(tmp_path / "site" / "state" / "records.sqlite")
    own_postgres.stop()
    down = run_agent(config, "verify")
    assert down.returncode == 0, "the run finishes and exits as it would have"
    assert "wait in the outbox" in down.stderr and "records sync" in down.stderr and "Traceback" not in down.stderr
    metrics = samples((tmp_path / "site" / "metrics" / "backup_agent.prom").read_text())
    waiting = local_rows(tmp_path / "site" / "state" / "records.sqlite")
    assert metrics[("backup_agent_records_undelivered", (("agent", "agent-host-1"),))] == len(waiting) - len(delivered)
    own_postgres.start()
    again = run_agent(config, "verify")
    assert again.returncode == 0 and "outbox" not in again.stderr, again.stderr
    assert shared_rows(url, own_postgres) == {"agent-host-1": local_rows(tmp_path / "site" / "state" / "records.sqlite")}
    metrics = samples((tmp_path / "site" / "metrics" / "backup_agent.prom").read_text())
    assert metrics[("backup_agent_records_undelivered", (("agent", "agent-host-1"),))] == 0
    assert run_agent(config, "records", "verify").returncode == 0


def test_the_server_stopping_part_way_through_a_delivery_loses_nothing(own_postgres: PostgresServer,
                                                                       tmp_path: Path, monkeypatch) -> None:
    """Delivered in batches of 5; the server stops (immediate shutdown) after the first batch."""
    from agent import recording
    from agent.records import outbox, shared

    url = own_postgres.url(own_postgres.create_database("records_template"))
    case = StoreCase.make("postgresql", tmp_path / "site", url, own_postgres)
    config = load_config(case.directory / "targets.yaml", reads_targets=False)
    monkeypatch.setattr(outbox, "BATCH", 5)
    monkeypatch.setattr(outbox.deliver, "__defaults__", (5,))
    real = shared.SharedStore.deliver

    def deliver_then_stop(self, records):
        inserted = real(self, records)
        own_postgres._ctl("-m", "immediate", "-w", "stop")
        return inserted

    monkeypatch.setattr(shared.SharedStore, "deliver", deliver_then_stop)
    recorded = recording.record_rows(config, make_rows(12))
    assert recorded.delivery.problem and recorded.delivery.pending == 7 and recorded.head is None
    monkeypatch.setattr(shared.SharedStore, "deliver", real)
    own_postgres.start()
    assert shared_rows(url, own_postgres)["vm"] == local_rows(case.local_path)[:5]
    synced = case.cli("sync")
    assert synced.returncode == 0 and b"7 records delivered" in synced.stdout, synced.stderr
    assert shared_rows(url, own_postgres)["vm"] == local_rows(case.local_path)


KILLED_IN_DELIVERY = """
    import os, signal, sys
    from agent import recording
    from agent.config import load_config
    from agent.records import outbox, shared
    from tests.support.records import make_rows
    where = sys.argv[2]
    real_deliver, real_mark = shared.SharedStore.deliver, outbox.RecordStore.mark_delivered
    def compare_then_die(self, rows):  # the rows are inserted, the transaction not committed
        os.kill(os.getpid(), signal.SIGKILL)
    def mark_then_die(self, store, seq, digest):  # committed in the shared store, not noted in the outbox
        os.kill(os.getpid(), signal.SIGKILL)
    if where == "before-commit":
        shared.SharedStore._compare = compare_then_die
    else:
        outbox.RecordStore.mark_delivered = mark_then_die
    config = load_config(sys.argv[1], reads_targets=False)
    recording.record_rows(config, make_rows(12, first=int(sys.argv[3])))
"""


@pytest.mark.parametrize("where", ["before-commit", "after-commit"])
def test_kill_9_during_a_delivery_then_delivering_again_neither_loses_nor_repeats(
        postgres: PostgresServer, shared_db: str, tmp_path: Path, where: str) -> None:
    case = StoreCase.make("postgresql", tmp_path / "site", shared_db, postgres)
    case.append(make_rows(5))
    process = run_python(KILLED_IN_DELIVERY, str(case.directory / "targets.yaml"), where, "6")
    process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL
    written = local_rows(case.local_path)
    assert len(written) == 17, "the run's records are in the outbox"
    held = shared_rows(shared_db, postgres)["vm"]
    assert held == written[:5] if where == "before-commit" else held == written
    synced = case.cli("sync")
    assert synced.returncode == 0, synced.stderr
    assert (b"12 records delivered" if where == "before-commit" else b"0 records delivered") in synced.stdout
    assert shared_rows(shared_db, postgres)["vm"] == written
    assert case.cli("sync").returncode == 0 and shared_rows(shared_db, postgres)["vm"] == written
    assert case.cli("verify").returncode == 0


# --- who may do what


def test_the_agents_role_may_insert_and_select_but_never_change_or_delete(postgres: PostgresServer, shared_db: str,
                                                                            tmp_path: Path) -> None:
    """The README's GRANTs, applied as written; an agent delivers and verifies through them."""
    import psycopg

    database = shared_db.rsplit("/", 1)[1]
    role, login = f"agents_{database}", f"office_{database}"
    with postgres.admin(database) as admin:
        admin.execute(AGENT_GRANTS.format(role=role, database=database))
        admin.execute(f"CREATE ROLE {login} LOGIN PASSWORD 'office-secret-19' IN ROLE {role}")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert AGENT_GRANTS.format(role="backup_agents", database="qef") in readme, "the README gives these GRANTs"
    (tmp_path / "office.pass").write_text("office-secret-19\n")
    url = postgres.url(database, user=login)
    case = StoreCase.make("postgresql", tmp_path / "site", url, postgres)
    config = case.directory / "targets.yaml"
    config.write_text(config.read_text().replace(str(postgres.password_file), str(tmp_path / "office.pass")))
    with RecordStore(case.local_path, agent="vm") as local:
        local.append(make_rows(12))
    synced = case.cli("sync")
    assert synced.returncode == 0 and b"12 records delivered" in synced.stdout, synced.stderr
    assert case.cli("verify").returncode == 0
    with psycopg.connect(f"{url}", password="office-secret-19", autocommit=True) as agent_db:
        for statement in ("UPDATE records SET result = 'pass' WHERE seq = 3", "DELETE FROM records WHERE seq = 12",
                          "TRUNCATE records", "DROP TRIGGER records_no_update ON records",
                          "ALTER TABLE records DISABLE TRIGGER records_no_delete"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                agent_db.execute(statement)
    assert case.cli("verify").returncode == 0


def test_the_password_comes_from_its_file_and_never_shows(postgres: PostgresServer, shared_db: str,
                                                          tmp_path: Path) -> None:
    case = StoreCase.make("postgresql", tmp_path / "site", shared_db, postgres)
    with RecordStore(case.local_path, agent="vm") as local:
        local.append(make_rows(3))
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("not-the-password-4711\n")
    config = case.directory / "targets.yaml"
    config.write_text(config.read_text().replace(str(postgres.password_file), str(wrong)))
    result = case.cli("sync")
    assert result.returncode == 3 and b"password authentication failed" in result.stderr, result.stderr
    assert b"not-the-password-4711" not in result.stdout + result.stderr
    assert b"Traceback" not in result.stderr
    listed = case.cli("list")
    assert listed.returncode == 3 and b"cannot reach the shared records store" in listed.stderr


def test_two_machines_under_one_agent_name_are_refused_loudly(postgres: PostgresServer, shared_db: str,
                                                              tmp_path: Path) -> None:
    first = StoreCase.make("postgresql", tmp_path / "one", shared_db, postgres)
    first.append(make_rows(5))
    second = StoreCase.make("postgresql", tmp_path / "two", shared_db, postgres)
    rows = make_rows(6)
    rows[0]["detail"] = "another machine's first record"
    with RecordStore(second.local_path, agent="vm") as local:
        local.append(rows)
    result = second.cli("sync")
    assert result.returncode == 3 and b"another machine uses the same agent.name" in result.stderr, result.stderr
    assert shared_rows(shared_db, postgres)["vm"] == local_rows(first.local_path), "nothing of it was delivered"


def test_each_agent_finds_its_own_cut_tail_but_not_anothers(postgres: PostgresServer, shared_db: str,
                                                           tmp_path: Path) -> None:
    """What the chain cannot show without anchors outside the store: a tail cut from another
    agent's chain (each agent's outbox remembers only its own head)."""
    office = StoreCase.make("postgresql", tmp_path / "office", shared_db, postgres, agent="office")
    home = StoreCase.make("postgresql", tmp_path / "home", shared_db, postgres, agent="kc-home")
    office.append(make_rows(6))
    home.append(make_rows(6))
    office.tamper("DELETE FROM records WHERE agent = 'office' AND seq > 4", (), "records_no_delete")
    mine = office.cli("verify")
    assert mine.returncode == 1 and b"agent office: chain BROKEN at record 5: records 5-6 are missing" in mine.stderr
    assert home.cli("verify").returncode == 0, "kc-home's machine cannot see office's cut tail"
    anchored = home.cli("verify", "--anchor", f"office/6:{local_rows(office.local_path)[-1][1]}")
    assert anchored.returncode == 1 and b"agent office: chain BROKEN at record 5" in anchored.stderr


# --- the monthly report


def test_the_monthly_report_covers_both_agents_and_is_the_same_bytes_on_either_machine(
        postgres: PostgresServer, shared_db: str, tmp_path: Path) -> None:
    office = StoreCase.make("postgresql", tmp_path / "office", shared_db, postgres, agent="office")
    home = StoreCase.make("postgresql", tmp_path / "home", shared_db, postgres, agent="kc-home")
    office.append(make_rows(8))
    home.append([{**row, "target": "hdd", "medium": "hdd", "location": "kc-home", "agent_host": "kc-pc"}
                 for row in make_rows(8)])
    made = {}
    for case in (office, home):
        out = tmp_path / f"report-{case.agent}"
        result = subprocess.run([sys.executable, "-c", "from agent.cli import main; main()", "--config",
                                 str(case.directory / "targets.yaml"), "report", "--month", "2026-11", "--format",
                                 "html,csv", "--out", str(out), "--generated-at", "2026-12-01T08:00:00Z"],
                                capture_output=True, text=True, timeout=300, cwd=ROOT,
                                env={**os.environ, "HOME": str(tmp_path / "home-dir")})
        assert result.returncode == 0, result.stderr
        made[case.agent] = ((out / "QEF-19-05_2026-11.html").read_bytes(), (out / "QEF-19-05_2026-11.csv").read_bytes())
    assert made["office"] == made["kc-home"], "the same report whichever machine made it"
    html = made["office"][0].decode()
    cover = html.split('<section class="section" id="kpi">')[0]
    assert "代理 / agent kc-home:" in cover and "代理 / agent office:" in cover
    assert cover.count('<span class="ok">完整 / intact</span> — 8 条记录') == 2
    assert "kc-home, office" in cover and "kc-pc, vm" in cover
    assert len(made["office"][1].decode("utf-8-sig").splitlines()) == 17


def test_records_init_creates_the_shared_schema_once(postgres: PostgresServer, empty_db: str, tmp_path: Path) -> None:
    case = StoreCase.make("postgresql", tmp_path / "site", empty_db, postgres)
    before = case.cli("list")
    assert before.returncode == 3 and b"run `backup-agent records init`" in before.stderr
    init = case.cli("init")
    assert init.returncode == 0 and b"created the records schema (version 2)" in init.stdout, init.stderr
    assert b"schema version 2, nothing to do" in case.cli("init").stdout
    case.append(make_rows(2))
    assert case.cli("verify").returncode == 0
    assert json.loads(case.cli("export", "--format", "jsonl").stdout.splitlines()[-1])["seq"] == 2


def test_a_reinstalled_agent_takes_its_chain_back_and_continues_it(postgres: PostgresServer, shared_db: str,
                                                                  tmp_path: Path) -> None:
    """The state directory is lost: a fresh outbox would start the chain again at #1, which the
    shared store refuses; `records init` takes the chain back first, and the next records continue it."""
    import shutil

    case = StoreCase.make("postgresql", tmp_path / "site", shared_db, postgres)
    case.append(make_rows(12))
    written = local_rows(case.local_path)
    shutil.rmtree(case.directory / "state")
    init = case.cli("init")
    assert init.returncode == 0 and b"took agent vm's chain back" in init.stdout and b"12 records" in init.stdout, \
        init.stderr
    assert local_rows(case.local_path) == written and case.cli("verify", "--local").returncode == 0
    assert case.append(make_rows(2, first=13)) == (13, 14)
    assert shared_rows(shared_db, postgres)["vm"] == local_rows(case.local_path)
    assert case.cli("verify").returncode == 0
    shutil.rmtree(case.directory / "state")
    with RecordStore(case.local_path, agent="vm") as local:  # without `records init`: refused, never merged
        local.append(make_rows(1))
    refused = case.cli("sync")
    assert refused.returncode == 3 and b"records init` takes the chain back" in refused.stderr, refused.stderr
