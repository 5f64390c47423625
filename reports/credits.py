"""A copy's credits in the month: the `credit` records a run wrote for a copy it did not verify
(another agent's copy, or a removable disk unplugged tonight), each naming the verification it
rests on. A credit is never a verification performed: it is counted apart from checks and runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.clock import iso
from reports.rows import measured, parse_time


@dataclass(frozen=True)
class CreditEntry:
    """One `credit` record: whether the copy counted, and the verification it was credited from."""

    record_no: int
    at: datetime
    counted: bool
    offline: bool
    from_agent: str | None
    from_at: datetime | None
    from_seq: int | None
    from_result: str | None

    @property
    def source(self) -> str:
        """"<agent> <time> (#seq)" of the verification the credit rests on, or "" when there was none."""
        if not self.from_agent:
            return ""
        seq = f" (#{self.from_seq})" if self.from_seq is not None else ""
        return f"{self.from_agent} {iso(self.from_at) if self.from_at else '?'}{seq}"

    @property
    def text(self) -> str:
        if self.counted:
            return f"credited from {self.source}" + (" (offline)" if self.offline else "")
        if self.source:
            return f"not credited (last verified by {self.source}, {self.from_result})"
        return "not credited (no verification in the records store)"


def credit_entry(row: dict[str, Any]) -> CreditEntry:
    """Given a `credit` record, return what it credited; an unreadable one counts as not credited."""
    values = measured(row)
    source = values.get("from") if isinstance(values.get("from"), dict) else {}
    try:
        source_at = parse_time(source.get("recorded_at")) if isinstance(source.get("recorded_at"), str) else None
    except ValueError:
        source_at = None
    seq = source.get("seq")
    return CreditEntry(
        record_no=row["record_no"], at=parse_time(row["recorded_at"]),
        counted=row.get("result") == "pass" and values.get("status") in ("pass", "offline"),
        offline=values.get("offline") is True,
        from_agent=str(source["agent"]) if source.get("agent") else None,
        from_at=source_at, from_seq=seq if isinstance(seq, int) else None,
        from_result=str(source["result"]) if source.get("result") else None,
    )
