"""QEF-19-05 rows as agent.records.rows_for_run makes them, and a config to read them with, for the
records store tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from agent.records import RecordStore
from tests.support.cli import Completed, invoke

DAYS = ("2026-11-01", "2026-11-02", "2026-11-03")
# A config whose records store is state/records.sqlite next to it (the records commands need no target).
CONFIG = """\
agent: {state_dir: state, metrics_file: metrics/m.prom, scratch_dir: scratch, operator: 王婧}
processes: {finance-payments: {name: "财务付款 / Finance payments", rpo: 24h, rto: 48h}}
targets:
  droplet: {kind: local, medium: cloud-vm, location: do-sgp1, require_mount: false}
datasets:
  finance-records:
    process: finance-payments
    primary: {target: droplet, form: files, path: primary}
"""


def age_of(number: int) -> float:
    """A distinctive REAL per record, so its 8 stored bytes can be found in the file."""
    return 12345.678 + number / 1000


def make_rows(count: int, first: int = 1) -> list[dict[str, Any]]:
    """Rows as rows_for_run makes them; record i is recorded on DAYS[(i-1) // 4 % 3]."""
    rows = []
    for number in range(first, first + count):
        rows.append({
            "form": "QEF-19-05", "run_id": f"run-{(number - 1) // 4}", "kind": "check",
            "recorded_at": f"{DAYS[(number - 1) // 4 % 3]}T0{number % 10}:00:00Z",
            "dataset": "finance-records", "process": "finance-payments", "target": "nas", "role": "backup",
            "form_of_copy": "restic", "medium": "nas", "location": "office", "check_name": "freshness",
            "result": "pass", "detail": f"detail-marker-{number:04d} 最后备份 within RPO",
            "last_backup_at": "2026-11-01T00:00:00Z", "age_seconds": age_of(number), "rpo_seconds": 86400.0,
            "rto_seconds": 172800.0, "measured": json.dumps({"n": number}), "tool_versions": '{"restic": "0.14.0"}',
            "agent_host": "vm", "operator": "王婧",
        })
    return rows


def write_store(directory: Path) -> Path:
    """Write CONFIG into directory and a records store beside it holding 12 records over three days
    (appended by two runs, then closed); return directory."""
    (directory / "targets.yaml").write_text(CONFIG, encoding="utf-8")
    with RecordStore(db_path(directory)) as store:
        assert store.append(make_rows(5)) == (1, 5)
        assert store.append(make_rows(7, first=6)) == (6, 12)
    return directory


def copy_store(template: Path, directory: Path) -> Path:
    """A private copy of write_store's directory: the config and its state (store, head, head log).
    Cheaper than writing one: each append fsyncs the store, its head and its log."""
    shutil.copy2(template / "targets.yaml", directory / "targets.yaml")
    shutil.copytree(template / "state", directory / "state")
    return directory


def db_path(directory: Path) -> Path:
    return directory / "state" / "records.sqlite"


def head_file(directory: Path) -> Path:
    return Path(f"{db_path(directory)}.head")


def records_cli(directory: Path, *args: str) -> Completed:
    """`backup-agent --config DIR/targets.yaml records ARGS` in-process: exit code, stdout and stderr as bytes."""
    return invoke(["--config", str(directory / "targets.yaml"), "records", *args], text=False)


# The first store's table, as agents before named chains created it (schema 1), for migration tests.
LEGACY_SCHEMA = """
CREATE TABLE records (
    record_no INTEGER PRIMARY KEY, form, run_id, recorded_at, kind, dataset, process, target, role, form_of_copy,
    medium, location, check_name, result, detail, last_backup_at, age_seconds, rpo_seconds, rto_seconds,
    bytes_verified, restore_seconds, projected_restore_seconds, measured, tool_versions, agent_host, operator,
    prev_hash, hash
);
CREATE INDEX records_time ON records (recorded_at);
CREATE INDEX records_run ON records (run_id);
CREATE TRIGGER records_no_update BEFORE UPDATE ON records
    BEGIN SELECT RAISE(ABORT, 'QEF-19-05 records are append-only'); END;
CREATE TRIGGER records_no_delete BEFORE DELETE ON records
    BEGIN SELECT RAISE(ABORT, 'QEF-19-05 records are append-only (kept 5 years)'); END;
"""


def write_legacy_store(path: Path, count: int = 12) -> list[str]:
    """A schema-1 store at path as the agent wrote it before agents were named: count records hashed
    with chain format 1 (record_no in the payload), its head file and head log. Return the hashes."""
    import sqlite3

    from agent import chain_head
    from agent.records import GENESIS, record_hash
    from agent.records.fields import CHAINED_V1

    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(LEGACY_SCHEMA)
    prev, hashes = GENESIS, []
    for number, row in enumerate(make_rows(count), 1):
        full = {**{c: row.get(c) for c in CHAINED_V1}, "record_no": number, "prev_hash": prev}
        full["hash"] = prev = record_hash(prev, full)
        hashes.append(prev)
        db.execute(f"INSERT INTO records ({', '.join(full)}) VALUES ({', '.join('?' * len(full))})", list(full.values()))
    db.close()
    chain_head.write_head(path, chain_head.Head(count, prev))
    chain_head.append_log(path, {"record_no": count, "hash": prev})
    return hashes
