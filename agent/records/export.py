"""Records as an auditor takes them away: CSV with bilingual headers, or JSON lines."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from agent.records.fields import COLUMNS, FIELDS


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
