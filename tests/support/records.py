"""QEF-19-05 rows as agent.records.rows_for_run makes them, and a config to read them with, for the
records store tests."""

from __future__ import annotations

import json
from typing import Any

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
