"""Benchmark: 3-2-1 across a fleet at scale — `fleet status` and a nightly verdict over many datasets,
from a synthetic shared PostgreSQL store.

A company of A agents (one local target each, media and locations varied) and D datasets, each with
its primary on one agent's target and three restic copies on the next three agents' targets. The
store holds N nights of runs: every agent, every night, a `copy` record and 5 `check` records per
copy it verifies, a `credit` record per copy of its datasets it credits, a `dataset` record per
dataset it holds and a `run` record — real chains, loaded with COPY through the server's
chain-continuing trigger. Then, timed (the store read included, no target contacted):
1. loading targets.yaml (schema and rules) with D datasets;
2. `fleet status`: every copy's latest verification and every agent's last run read from the store,
   every dataset judged (agent.fleet.status_document) and the table made;
3. a nightly verdict over every dataset by an agent with no copy of its own: the same read, then
   agent.run's judgment of each dataset with all its copies credited.

    .venv/bin/python bench/fleet_scale.py [--agents 100] [--datasets 10000] [--nights 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent import config as config_module  # noqa: E402
from agent import config_yaml, fleet, verifications  # noqa: E402
from agent.clock import iso  # noqa: E402
from agent.config import load_config  # noqa: E402
from agent.records import GENESIS, record_hash  # noqa: E402
from agent.records.fields import COLUMNS  # noqa: E402
from tests.support.postgres import make_records_template, remove, start_postgres  # noqa: E402

MEDIA = ("ssd", "hdd", "nas", "object-storage", "cloud-vm")
CHECKS = ("reachable", "freshness", "restic-structure", "restic-read-data", "independence")


def write_config(directory: Path, agents: int, datasets: int, url: str, password_file: Path) -> Path:
    lines = [f"agent: {{state_dir: state, metrics_file: m.prom, scratch_dir: scratch, operator: bench, "
             f"records_db: '{url}', records_password_file: '{password_file}'}}",
             "processes: {p: {rpo: 2d, rto: 1d}}", "agents:"]
    lines += [f"  a{n:03d}: {{interval: 1d}}" for n in range(agents)]
    lines.append("targets:")
    lines += [f"  t{n:03d}: {{kind: local, medium: {MEDIA[n % len(MEDIA)]}, location: site{n % 7}, "
              f"require_mount: false, agent: a{n:03d}}}" for n in range(agents)]
    lines.append("datasets:")
    for d in range(datasets):
        copies = ", ".join(f"{{target: t{(d + k) % agents:03d}, form: restic, path: /r/{d}, password_file: /p}}"
                           for k in (1, 2, 3))
        lines.append(f"  d{d:05d}: {{process: p, primary: {{target: t{d % agents:03d}, form: files, path: /d/{d}}}, "
                     f"copies: [{copies}]}}")
    config = directory / "targets.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def agent_rows(agent: int, agents: int, datasets: int, night: datetime):
    """One night's records of agent aNNN, as rows_for_run shapes them (hash fields left out)."""
    at = iso(night + timedelta(minutes=agent % 60))
    base = {"form": "QEF-19-05", "run_id": f"a{agent:03d}-{night:%Y%m%d}", "recorded_at": at, "process": "p",
            "rpo_seconds": 172800.0, "rto_seconds": 86400.0, "tool_versions": "{}", "agent_host": f"h{agent}",
            "operator": "bench", "last_backup_at": iso(night - timedelta(hours=3)), "age_seconds": 10800.0}
    for d in range(datasets):
        slots = [d % agents, *((d + k) % agents for k in (1, 2, 3))]
        if agent not in slots:
            continue
        for slot, holder in enumerate(slots):
            role, form = ("primary", "files") if slot == 0 else ("backup", "restic")
            copy = {**base, "dataset": f"d{d:05d}", "target": f"t{holder:03d}", "role": role, "form_of_copy": form}
            if holder != agent:
                yield {**copy, "kind": "credit", "check_name": "credit", "result": "pass", "detail": "credited"}
                continue
            for check in CHECKS:
                yield {**copy, "kind": "check", "check_name": check, "result": "pass", "detail": "ok"}
            yield {**copy, "kind": "copy", "check_name": "copy", "result": "pass", "detail": "all checks pass"}
        yield {**base, "dataset": f"d{d:05d}", "kind": "dataset", "check_name": "policy-321", "result": "pass",
               "detail": "3-2-1 met", "last_backup_at": None, "age_seconds": None}
    yield {**base, "kind": "run", "check_name": "run", "result": "pass", "detail": "run", "last_backup_at": None,
           "age_seconds": None}


def load_store(server, url: str, agents: int, datasets: int, nights: int, now: datetime) -> int:
    database = url.rsplit("/", 1)[1]
    columns = [c for c in COLUMNS if c != "record_no"]
    total = 0
    with server.admin(database) as db, db.cursor() as cursor:
        for agent in range(agents):
            prev, seq = GENESIS, 0
            with cursor.copy(f"COPY records ({', '.join(columns)}) FROM STDIN") as copy:
                for night in range(nights, 0, -1):
                    for row in agent_rows(agent, agents, datasets, now - timedelta(days=night)):
                        seq += 1
                        row.update(agent=f"a{agent:03d}", seq=seq, chain=2, prev_hash=prev)
                        row["hash"] = prev = record_hash(prev, row)
                        copy.write_row(tuple(row.get(c) for c in columns))
            total += seq
        db.execute("VACUUM ANALYZE records")
    return total


def timed(work, rounds: int = 2) -> tuple[list[float], object]:
    timings, result = [], None
    for _ in range(rounds):
        started = time.monotonic()
        result = work()
        timings.append(round(time.monotonic() - started, 2))
    return timings, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--datasets", type=int, default=10_000)
    parser.add_argument("--nights", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps({"machine": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
                      "load": os.getloadavg()}), flush=True)
    base = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    server = start_postgres(durable=True)
    try:
        make_records_template(server)
        url = server.url(server.create_database("records_template"))
        now = datetime.now(UTC).replace(microsecond=0)
        path = write_config(base, args.agents, args.datasets, url, server.password_file)
        # 10,000 datasets need a targets.yaml of about 2.8 MB and 300,000 YAML values, beyond the loader's
        # caps against hostile files (256 KiB, 25,000 values): a limit found here, raised for the benchmark.
        size = path.stat().st_size
        if size > config_yaml.MAX_BYTES:
            print(json.dumps({"targets_yaml_bytes": size, "caps": [config_yaml.MAX_BYTES, config_yaml.MAX_NODES],
                              "note": "caps raised for this benchmark"}), flush=True)
            config_module.MAX_BYTES = config_yaml.MAX_BYTES = size + 1
            config_yaml.MAX_NODES = 10**7
        load_seconds, config = timed(lambda: load_config(path, reads_targets=False))
        print(json.dumps({"config_load_seconds": load_seconds}), flush=True)
        started = time.monotonic()
        records = load_store(server, url, args.agents, args.datasets, args.nights, now)
        print(json.dumps({"records": records, "load_seconds": round(time.monotonic() - started, 1)}), flush=True)
        read_seconds, found = timed(lambda: verifications.read(config, now, kinds=("copy", "run"), strict=True))

        def status() -> dict:
            found = verifications.read(config, now, kinds=("copy", "run"), strict=True)
            document = fleet.status_document(config, found, now)
            fleet.status_table(document)
            return document
        status_seconds, document = timed(status)
        assert document["status"] == "pass", [d for d in document["datasets"] if d["status"] != "pass"][:1]

        def nightly() -> int:
            from agent.run import _CopiesDone, _judge_dataset
            found = verifications.read(config, now, strict=True)
            judged = [_judge_dataset(config, d, _CopiesDone(), (), found, now) for d in config.datasets.values()]
            return sum(1 for j in judged if j.policy.status == "pass")
        nightly_seconds, passed = timed(nightly)
        assert passed == args.datasets, passed
        print(json.dumps({"agents": args.agents, "datasets": args.datasets, "copies": args.datasets * 4,
                          "nights": args.nights, "config_load_seconds": load_seconds,
                          "store_read_seconds": read_seconds, "copy_verifications_read": len(found.latest),
                          "fleet_status_seconds": status_seconds, "nightly_verdict_seconds": nightly_seconds}),
              flush=True)
    finally:
        remove(server)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
