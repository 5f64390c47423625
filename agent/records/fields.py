"""The columns of a QEF-19-05 / QEF-19-03 record, their bilingual labels, and the chain's hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

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


def record_hash(prev_hash: str, row: dict[str, Any]) -> str:
    payload = json.dumps([row.get(c) for c in CHAINED], ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()
