"""What the validators return: a query's answer judged, one validator's verdict, all of them on one
restore. (A validator and its queries as targets.yaml declares them: agent.config_model.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.config_model import Query, ValidatorSpec
from agent.models import Status
from agent.names import scrub

__all__ = ["FALSY", "Query", "Validation", "ValidatorSpec", "Verdict", "judge"]

# A value SQL reads as "no": the first value of a query's first row that is one of these fails it.
FALSY = frozenset({"", "f", "false", "0", "no", "off", "null"})


def judge(query: Query, first_value: str | None, rows: int) -> str | None:
    """Given a query's answer (the first value of its first row, None for SQL NULL, and the row
    count), return why it fails, or None when it passes."""
    if rows == 0:
        return "returned no rows"
    shown = "NULL" if first_value is None else repr(first_value)
    if query.expect is not None:
        return None if first_value == query.expect else f"returned {shown}, expected {query.expect!r}"
    if first_value is None or first_value.strip().lower() in FALSY:
        return f"returned {shown}"
    return None


@dataclass
class Verdict:
    """One validator's result on the restored data."""

    label: str
    status: Status
    detail: str
    measured: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.detail = scrub(self.detail)

    def text(self) -> str:
        return f"{self.label}: {self.status}: {self.detail}"


@dataclass
class Validation:
    """Every validator's verdict on one restore, and the worst of them."""

    verdicts: list[Verdict]
    seconds: float = 0.0

    @property
    def status(self) -> Status:
        ran = [v.status for v in self.verdicts if v.status != Status.SKIP]
        if not ran:
            return Status.SKIP
        order = {Status.PASS: 0, Status.ERROR: 1, Status.FAIL: 2}
        return max(ran, key=order.__getitem__)

    @property
    def passed(self) -> bool:
        return self.status == Status.PASS

    def detail(self) -> str:
        bad = [v for v in self.verdicts if v.status != Status.PASS]
        shown = bad or self.verdicts
        prefix = (f"{len(self.verdicts) - len(bad)} of {len(self.verdicts)} validators passed; " if bad
                  else f"all {len(self.verdicts)} validators passed: ")
        return prefix + "; ".join(v.text() if bad else f"{v.label}: {v.detail}" for v in shown)

    def measured(self) -> dict[str, Any]:
        return {"validation_seconds": round(self.seconds, 3),
                "validators": [{"validator": v.label, "status": str(v.status), **v.measured} for v in self.verdicts]}
