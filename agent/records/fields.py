"""The columns of a QEF-19-05 / QEF-19-03 record, their bilingual labels and types, and the chain's hash.

Records are kept five years, so every format a record was ever hashed with stays verifiable:
- chain 1 (records written before agents were named): the payload is every column of the first
  store's layout but the hash, record_no included. A chain-1 record's number is its agent's
  sequence number (`seq`), so it verifies wherever it is copied to.
- chain 2: every column except record_no (a display number a shared store assigns on insert, so
  not known when the agent hashes the record) and the hash, with `agent`, `seq` and `chain`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from agent.names import scrub

FORM_VERIFICATION = "QEF-19-05"
FORM_DRILL = "QEF-19-03"
GENESIS = "0" * 64
CHAIN_VERSION = 2  # the format new records are hashed with

# Column name, Chinese label, English label — the export headers, in order.
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
    ("agent", "代理", "Agent"),
    ("seq", "代理序号", "Agent seq."),
    ("chain", "链格式", "Chain format"),
    ("prev_hash", "前一记录哈希", "Previous hash"),
    ("hash", "记录哈希", "Record hash"),
)
COLUMNS = tuple(name for name, _, _ in FIELDS)
IDENTITY = ("agent", "seq", "chain")  # added by chain 2

# Chain 1's payload, frozen: the columns of the first store, in its order, without the hash.
CHAINED_V1 = (
    "record_no", "form", "run_id", "recorded_at", "kind", "dataset", "process", "target", "role", "form_of_copy",
    "medium", "location", "check_name", "result", "detail", "last_backup_at", "age_seconds", "rpo_seconds",
    "rto_seconds", "bytes_verified", "restore_seconds", "projected_restore_seconds", "measured", "tool_versions",
    "agent_host", "operator", "prev_hash",
)
CHAINED_V2 = tuple(c for c in COLUMNS if c not in ("record_no", "hash"))
CHAINED = CHAINED_V2

# Types, so a record reads back from SQLite and PostgreSQL as the very values it was hashed with.
INTEGER_COLUMNS = frozenset({"record_no", "seq", "chain", "bytes_verified"})
REAL_COLUMNS = frozenset({"age_seconds", "rpo_seconds", "rto_seconds", "restore_seconds", "projected_restore_seconds"})


def normalize(column: str, value: Any) -> Any:
    """Given a column and a value for it, return the value as the stores keep it: int, float or
    text (valid UTF-8 without NUL, which PostgreSQL cannot store), or None. Raise ValueError."""
    if value is None:
        return None
    if column in INTEGER_COLUMNS:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"record column {column} takes a whole number, not {value!r}")
        return int(value)
    if column in REAL_COLUMNS:
        return float(value)
    return scrub(str(value)).replace("\x00", "\\x00")


def record_hash(prev_hash: str, row: dict[str, Any]) -> str | None:
    """Given the previous record's hash and a record, return its SHA-256 in the record's chain
    format (None for a format this agent does not know: never a match)."""
    version = row.get("chain") or 1
    if version == 1:
        number = row["seq"] if row.get("seq") is not None else row.get("record_no")
        values = [number if c == "record_no" else row.get(c) for c in CHAINED_V1]
    elif version == 2:
        values = [row.get(c) for c in CHAINED_V2]
    else:
        return None
    payload = json.dumps(values, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()
