"""Benchmark: the QEF-19-05 records stores — appends by concurrent agents through the outbox into
the shared PostgreSQL store, and `records verify` over a million records, on both stores.

Starts its own PostgreSQL server (Debian's, as the tests do: tests/support/postgres.py) with the
server's default settings (fsync on: a durable commit is part of the price), in a temporary
directory, on 127.0.0.1, and removes it afterwards.

1. Appends: N agents (separate processes, each its own state directory and config, as on separate
   machines) each record R runs of K records the way a run does: one transaction in the local
   SQLite store (fsync'd, with its head file and head log), then delivery to the shared store.
   Reported: records per second over all agents (wall time from the first start to the last end),
   for N = 1, 4, 16.
2. Delivery alone: the same, with the records already in each agent's outbox (`records sync`).
3. Verify: a million records (4 agents × 250,000, real chains hashed as the agent hashes them,
   loaded with COPY through the server's chain-continuing trigger), then `SharedStore.verify_chain`
   over all of them; and a local SQLite store of a million records of one agent, `RecordStore.verify_chain`.

    .venv/bin/python bench/records_store.py [--runs 20] [--records-per-run 100] [--million 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.records import GENESIS, RecordStore, record_hash  # noqa: E402
from agent.records.fields import COLUMNS  # noqa: E402
from agent.records.shared import SharedStore  # noqa: E402
from tests.support.postgres import PostgresServer, make_records_template, remove, start_postgres  # noqa: E402
from tests.support.record_stores import config_text, shared_keys  # noqa: E402
from tests.support.records import make_rows  # noqa: E402

APPEND = """
    import sys, time
    from agent import recording
    from agent.config import load_config
    from tests.support.records import make_rows
    config = load_config(sys.argv[1], reads_targets=False)
    runs, per_run, deliver = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "deliver"
    for run in range(runs):
        rows = make_rows(per_run, first=run * per_run + 1)
        if deliver:
            recorded = recording.record_rows(config, rows)
            assert recorded.delivery.problem is None, recorded.delivery.problem
        else:
            with recording.local_store(config) as store:
                store.append(rows)
"""


def agents_site(base: Path, count: int, url: str, server: PostgresServer) -> list[Path]:
    configs = []
    for number in range(count):
        directory = base / f"agent-{number:02d}"
        directory.mkdir(parents=True)
        (directory / "targets.yaml").write_text(config_text(shared_keys(url, server), f"agent-{number:02d}"))
        configs.append(directory / "targets.yaml")
    return configs


def run_agents(configs: list[Path], runs: int, per_run: int, mode: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    processes = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(APPEND), str(c), str(runs), str(per_run),
                                   mode], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) for c in configs]
    for process in processes:
        _, stderr = process.communicate()
        if process.returncode:
            raise SystemExit(f"an agent failed: {stderr}")
    return time.monotonic() - started


def sync_all(configs: list[Path]) -> float:
    cli = str(Path(sys.executable).with_name("backup-agent"))
    started = time.monotonic()
    processes = [subprocess.Popen([cli, "--config", str(c), "records", "sync"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for c in configs]
    for process in processes:
        _, stderr = process.communicate()
        if process.returncode:
            raise SystemExit(f"records sync failed: {stderr}")
    return time.monotonic() - started


def appends(server: PostgresServer, base: Path, counts: list[int], runs: int, per_run: int) -> list[dict]:
    results = []
    for count in counts:
        for mode in ("deliver", "outbox-then-sync"):
            url = server.url(server.create_database("records_template"))
            configs = agents_site(base / f"{count}-{mode}", count, url, server)
            if mode == "deliver":
                seconds = run_agents(configs, runs, per_run, "deliver")
            else:
                run_agents(configs, runs, per_run, "local")
                seconds = sync_all(configs)
            total = count * runs * per_run
            with SharedStore(url, password_file=server.password_file) as shared:
                held = sum(1 for _ in shared.rows())
            assert held == total, (held, total)
            results.append({"agents": count, "mode": mode, "records": total, "seconds": round(seconds, 2),
                            "records_per_second": round(total / seconds)})
            print(json.dumps(results[-1]), flush=True)
    return results


def chain(agent: str, count: int):
    """A real chain of `count` records of agent, as tuples in COLUMNS order (record_no left out)."""
    prev = GENESIS
    template = make_rows(1)[0]
    for seq in range(1, count + 1):
        row = {**template, "detail": f"record {seq}", "agent": agent, "seq": seq, "chain": 2, "prev_hash": prev,
               "age_seconds": 12345.678 + seq / 1000}
        row["hash"] = prev = record_hash(prev, row)
        yield tuple(row.get(c) for c in COLUMNS if c != "record_no")


def verify_million(server: PostgresServer, base: Path, million: int) -> dict:
    url = server.url(server.create_database("records_template"))
    database = url.rsplit("/", 1)[1]
    agents = 4
    started = time.monotonic()
    with server.admin(database) as db, db.cursor() as cursor:
        columns = ", ".join(c for c in COLUMNS if c != "record_no")
        for number in range(agents):
            with cursor.copy(f"COPY records ({columns}) FROM STDIN") as copy:
                for row in chain(f"agent-{number}", million // agents):
                    copy.write_row(row)
        db.execute("VACUUM ANALYZE records")
    loaded = time.monotonic() - started
    timings = []
    for _ in range(2):
        started = time.monotonic()
        with SharedStore(url, password_file=server.password_file) as shared:
            reports = shared.verify_chain()
        timings.append(time.monotonic() - started)
        assert reports.ok and reports.records == million, dict(reports)
    local = base / "local-million" / "records.sqlite"
    started = time.monotonic()
    with RecordStore(local, agent="agent-0") as store:
        batch = 50_000
        for first in range(0, million, batch):
            store.append(make_rows(min(batch, million - first), first=first + 1))
    local_load = time.monotonic() - started
    local_timings = []
    for _ in range(2):
        started = time.monotonic()
        with RecordStore(local, readonly=True) as store:
            report = store.verify_chain()
        local_timings.append(time.monotonic() - started)
        assert report.ok and report.records == million
    result = {"records": million, "postgresql_load_seconds": round(loaded, 1),
              "postgresql_verify_seconds": [round(t, 1) for t in timings],
              "sqlite_append_seconds": round(local_load, 1),
              "sqlite_verify_seconds": [round(t, 1) for t in local_timings],
              "sqlite_file_mb": round(local.stat().st_size / 1e6)}
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per agent")
    parser.add_argument("--records-per-run", type=int, default=100)
    parser.add_argument("--agents", default="1,4,16")
    parser.add_argument("--million", type=int, default=1_000_000, help="records for the verify timing (0: skip)")
    args = parser.parse_args()
    print(json.dumps({"machine": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
                      "load": os.getloadavg()}), flush=True)
    base = Path(tempfile.mkdtemp(prefix="records-bench-"))
    server = start_postgres(durable=True)
    try:
        with server.admin() as db:
            print(json.dumps({"postgresql": db.execute("SHOW server_version").fetchone()[0]}), flush=True)
        make_records_template(server)
        appends(server, base, [int(n) for n in args.agents.split(",")], args.runs, args.records_per_run)
        if args.million:
            verify_million(server, base, args.million)
    finally:
        remove(server)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
