"""QEF-19-05 records: an append-only SQLite store, each record chained to the previous by SHA-256.

One record per check result, one per dataset verdict and one per run, all written in one
transaction at the end of a run, so a run killed half way leaves no partial run behind.
UPDATE and DELETE are refused by triggers; `verify_chain` finds any edit, deletion or
reordering by recomputing every link.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.clock import iso
from agent.models import RunResult

FORM_VERIFICATION = "QEF-19-05"
FORM_DRILL = "QEF-19-03"
GENESIS = "0" * 64

# Column name, Chinese label, English label — the export headers and the chained payload order.
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("record_no", "记录编号", "Record no."),
    ("form", "表单", "Form"),
    ("run_id", "运行编号", "Run ID"),
    ("recorded_at", "时间", "Time"),
    ("kind", "类别", "Kind"),
    ("dataset", "数据集", "Dataset"),
    ("process", "业务过程", "Process"),
    ("target", "存放位置", "Target"),
    ("role", "角色", "Role"),
    ("form_of_copy", "副本形式", "Copy form"),
    ("medium", "媒介", "Medium"),
    ("location", "地点", "Location"),
    ("check_name", "检查项", "Check"),
    ("result", "结果", "Result"),
    ("detail", "说明", "Detail"),
    ("last_backup_at", "最后备份时间", "Last backup"),
    ("age_seconds", "备份距今(秒)", "Age (s)"),
    ("rpo_seconds", "RPO(秒)", "RPO (s)"),
    ("rto_seconds", "RTO(秒)", "RTO (s)"),
    ("bytes_verified", "已验证字节", "Bytes verified"),
    ("restore_seconds", "恢复用时(秒)", "Restore time (s)"),
    ("projected_restore_seconds", "预计完整恢复(秒)", "Projected full restore (s)"),
    ("measured", "测量值", "Measured values"),
    ("tool_versions", "工具版本", "Tool versions"),
    ("agent_host", "代理主机", "Agent host"),
    ("operator", "操作人", "Operator"),
    ("prev_hash", "前一记录哈希", "Previous hash"),
    ("hash", "记录哈希", "Record hash"),
)
COLUMNS = tuple(name for name, _, _ in FIELDS)
CHAINED = tuple(c for c in COLUMNS if c != "hash")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS records (
    {", ".join(f"{c} {'INTEGER PRIMARY KEY' if c == 'record_no' else ''}" for c in COLUMNS)}
);
CREATE INDEX IF NOT EXISTS records_time ON records (recorded_at);
CREATE INDEX IF NOT EXISTS records_run ON records (run_id);
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
    BEGIN SELECT RAISE(ABORT, 'QEF-19-05 records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
    BEGIN SELECT RAISE(ABORT, 'QEF-19-05 records are append-only (kept 5 years)'); END;
"""


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    records: int
    broken_at: int | None = None
    reason: str = ""
    first: int | None = None
    last: int | None = None


def record_hash(prev_hash: str, row: dict[str, Any]) -> str:
    payload = json.dumps([row.get(c) for c in CHAINED], ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


class RecordStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        # The chain alone cannot show that its newest records were cut off; the head file (and the
        # backup_agent_records_last_number metric, kept by Prometheus) remember how far it reached.
        self.head_path = Path(str(self.path) + ".head")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def append(self, rows: list[dict[str, Any]]) -> tuple[int, int]:
        """Append rows in one transaction, numbering and chaining them. Return (first, last) record number."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            last = self._db.execute("SELECT record_no, hash FROM records ORDER BY record_no DESC LIMIT 1").fetchone()
            number, prev = (last["record_no"], last["hash"]) if last else (0, GENESIS)
            first = number + 1
            for row in rows:
                number += 1
                full = {c: row.get(c) for c in COLUMNS}
                full["record_no"] = number
                full["prev_hash"] = prev
                full["hash"] = record_hash(prev, full)
                self._db.execute(
                    f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                    [full[c] for c in COLUMNS],
                )
                prev = full["hash"]
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._write_head(number, prev)
        return first, number

    def _write_head(self, number: int, digest: str) -> None:
        current = self.read_head()
        if current and current[0] >= number:
            return  # a concurrent appender already moved it further
        temporary = self.head_path.with_name(self.head_path.name + f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"record_no": number, "hash": digest}) + "\n", encoding="utf-8")
        os.replace(temporary, self.head_path)

    def read_head(self) -> tuple[int, str] | None:
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
            return int(head["record_no"]), str(head["hash"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return (-1, "")

    def rows(self, since: datetime | str | None = None, until: datetime | str | None = None,
             run_id: str | None = None, kind: str | None = None) -> Iterator[dict[str, Any]]:
        """Records in number order; since (inclusive) and until (exclusive) are compared as times,
        not as text (an offset or a fraction of a second must not move a record across a bound),
        to the millisecond (SQLite's julianday)."""
        clauses, params = [], []
        if since:
            clauses.append("julianday(recorded_at) >= julianday(?)")
            params.append(iso(since) if isinstance(since, datetime) else since)
        if until:
            clauses.append("julianday(recorded_at) < julianday(?)")
            params.append(iso(until) if isinstance(until, datetime) else until)
        if run_id:
            clauses.append("run_id = ?")
            params.append(run_id)
        if kind:
            clauses.append("kind = ?")
            params.append(kind)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        for row in self._db.execute(f"SELECT * FROM records {where} ORDER BY record_no", params):
            yield dict(row)

    def verify_chain(self) -> ChainReport:
        """Recompute every link. Return the first broken record number (an edit, a gap, a reorder)."""
        prev = GENESIS
        expected_number = 1
        count = 0
        first = last = None
        head = self.read_head()
        if head == (-1, ""):
            return ChainReport(False, 0, None, f"head file {self.head_path} is unreadable")
        try:
            cursor = self._db.execute("SELECT * FROM records ORDER BY record_no")
            for raw in cursor:
                row = dict(raw)
                number = row["record_no"]
                first = number if first is None else first
                last = number
                count += 1
                if number != expected_number:
                    return ChainReport(False, count, expected_number,
                                       f"record {expected_number} is missing (next present is {number})", first, last)
                if row["prev_hash"] != prev:
                    return ChainReport(False, count, number, "link to the previous record does not match", first, last)
                if record_hash(prev, row) != row["hash"]:
                    return ChainReport(False, count, number, "record content does not match its hash", first, last)
                if head and number == head[0] and row["hash"] != head[1]:
                    return ChainReport(False, count, number, "record differs from the chain head remembered at "
                                       "append time (the chain was rewritten)", first, last)
                prev = row["hash"]
                expected_number += 1
        except sqlite3.DatabaseError as error:
            return ChainReport(False, count, expected_number, f"store unreadable at record {expected_number}: {error}",
                               first, last)
        if head and head[0] > (last or 0):
            return ChainReport(False, count, (last or 0) + 1,
                               f"records {(last or 0) + 1}-{head[0]} are missing: the chain reached #{head[0]} "
                               "when last appended", first, last)
        return ChainReport(True, count, None, "", first, last)


def rows_for_run(run: RunResult) -> list[dict[str, Any]]:
    """Given a finished run, return its QEF-19-05 rows: each check of each copy, each dataset, the run."""
    common = {
        "form": FORM_VERIFICATION,
        "run_id": run.run_id,
        "tool_versions": json.dumps(run.tool_versions, sort_keys=True),
        "agent_host": run.agent_host,
        "operator": run.operator,
    }
    rows = []
    for dataset_result in run.datasets:
        dataset = dataset_result.dataset
        base = {**common, "dataset": dataset.name, "process": dataset.process.name,
                "rpo_seconds": dataset.process.rpo_seconds, "rto_seconds": dataset.process.rto_seconds}
        for copy in dataset_result.copies:
            spec = copy.spec
            copy_base = {**base, "target": spec.target.name, "role": spec.role, "form_of_copy": spec.form,
                         "medium": spec.target.medium, "location": spec.target.location,
                         "last_backup_at": iso(copy.last_backup_at),
                         "age_seconds": round(copy.age_seconds, 3) if copy.age_seconds is not None else None}
            for check in copy.checks:
                measured = dict(check.measured)
                rows.append({
                    **copy_base, "recorded_at": iso(run.finished_at), "kind": "check", "check_name": check.name,
                    "result": str(check.status), "detail": check.detail,
                    "bytes_verified": measured.get("bytes_verified"),
                    "restore_seconds": measured.get("restore_seconds"),
                    "projected_restore_seconds": measured.get("projected_restore_seconds"),
                    "measured": json.dumps(measured, ensure_ascii=False, sort_keys=True) if measured else None,
                })
            rows.append({**copy_base, "recorded_at": iso(run.finished_at), "kind": "copy", "check_name": "copy",
                         "result": str(copy.status),
                         "detail": "; ".join(f"{c.name}: {c.status}" for c in copy.checks)})
        policy = dataset_result.policy
        rows.append({**base, "recorded_at": iso(run.finished_at), "kind": "dataset", "check_name": policy.name,
                     "result": str(dataset_result.status), "detail": policy.detail,
                     "measured": json.dumps(policy.measured, ensure_ascii=False, sort_keys=True)})
    rows.append({**common, "recorded_at": iso(run.finished_at), "kind": "run", "check_name": "run",
                 "result": "interrupted" if run.interrupted else ("pass" if run.compliant else "fail"),
                 "detail": f"{len(run.datasets)} datasets, started {iso(run.started_at)}",
                 "measured": json.dumps({"started_at": iso(run.started_at), "finished_at": iso(run.finished_at),
                                         "duration_seconds": round((run.finished_at - run.started_at).total_seconds(), 3),
                                         "datasets": len(run.datasets)}, sort_keys=True)})
    return rows


def export_csv(rows: list[dict[str, Any]]) -> str:
    """CSV with bilingual headers, as text; the caller writes it with a UTF-8 BOM so Excel shows Chinese."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([f"{zh} / {en}" for _, zh, en in FIELDS])
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in COLUMNS])
    return buffer.getvalue()


def export_jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
