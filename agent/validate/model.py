"""What the validators are given and what they return: a validator as targets.yaml declares it
(restore_test.validate), a query with its expected answer, and one validator's verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.models import Status
from agent.names import scrub

DEFAULT_TIMEOUT_SECONDS = 600.0
# A value SQL reads as "no": the first value of a query's first row that is one of these fails it.
FALSY = frozenset({"", "f", "false", "0", "no", "off", "null"})


@dataclass(frozen=True)
class Query:
    """A query run against the restored data: it must return a row whose first value is not
    false, 0, empty or NULL — or exactly `expect` (compared as text) when that is given."""

    sql: str
    expect: str | None = None

    def judge(self, first_value: str | None, rows: int) -> str | None:
        """Given the first value of the first row (None: SQL NULL) and the row count, return why the
        answer fails, or None when it passes."""
        if rows == 0:
            return "returned no rows"
        shown = "NULL" if first_value is None else repr(first_value)
        if self.expect is not None:
            return None if first_value == self.expect else f"returned {shown}, expected {self.expect!r}"
        if first_value is None or first_value.strip().lower() in FALSY:
            return f"returned {shown}"
        return None


@dataclass(frozen=True)
class ValidatorSpec:
    """One entry of restore_test.validate. `path` is a glob relative to the dataset's root (the
    files it names are restored with every sample); `command` is the argv of a `command` validator."""

    type: str
    path: str | None = None
    queries: tuple[Query, ...] = ()
    command: tuple[str, ...] = ()
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    run_as: str | None = None  # postgres-dump, as root: the unprivileged user the server runs as
    bin_dir: str | None = None  # postgres-dump: where initdb, pg_ctl, pg_restore and psql are

    @property
    def label(self) -> str:
        what = self.path if self.path else " ".join(self.command)
        return f"{self.type} {what}".strip()


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
