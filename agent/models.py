"""Results flowing from checks to the sinks (terminal, --json, records, metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from agent.config import CopySpec, Dataset
from agent.credit import Credit
from agent.identity import CopyIdentity
from agent.names import scrub


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"
    # A removable disk unplugged by design, counted from its last verification (agent.credit): a
    # copy's status only, never a check's; it counts as a pass wherever copies combine.
    OFFLINE = "offline"


class DrillStatus(StrEnum):
    """A restore drill's verdict (QEF-19-03): a verification status, or interrupted by a signal."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    INTERRUPTED = "interrupted"

    @classmethod
    def of(cls, status: Status) -> DrillStatus:
        """The drill status for a restore's status; one that is no verdict (skip) is an error."""
        try:
            return cls(str(status))
        except ValueError:
            return cls.ERROR


# When several results combine, the worst wins. A proven failure outranks "could not decide": a
# stale mirror whose checksum check could compare nothing is `fail` (the backup is stale), not
# `error` (the agent could not check). Neither is ever read as a pass.
_SEVERITY = {Status.SKIP: 0, Status.PASS: 1, Status.OFFLINE: 1, Status.ERROR: 2, Status.FAIL: 3}


def worst(statuses) -> Status:
    statuses = list(statuses)
    if not statuses:
        return Status.ERROR
    return max(statuses, key=_SEVERITY.__getitem__)


@dataclass
class CheckResult:
    name: str
    status: Status
    detail: str
    # Measured values for records and metrics: bytes_verified, coverage, age_seconds, ...
    measured: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Names are shown through agent.names.show where a detail is written; a byte of a name that
        # slipped through in a tool's message is shown the same way here, so records, --json and
        # the terminal never receive a lone surrogate.
        self.detail = scrub(self.detail)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": str(self.status), "detail": self.detail, **self.measured}


@dataclass
class CopyResult:
    spec: CopySpec
    checks: list[CheckResult] = field(default_factory=list)
    last_backup_at: datetime | None = None
    age_seconds: float | None = None
    detected_medium: str | None = None
    # Where the copy's bytes are (agent.identity), read after its checks for checks/independence:
    # the identity, or why it could not be read (an error), or why it was not read (a skip).
    identity: CopyIdentity | None = None
    identity_error: str | None = None
    identity_skipped: str | None = None
    # Not verified in this run: what its latest verification in the records store counts for.
    credit: Credit | None = None

    @property
    def status(self) -> Status:
        """pass only when every check that ran passed; no checks at all is an error, not a pass. A
        credited copy: its credit's status (an unplugged removable disk still credited: offline)."""
        if self.credit is not None:
            return Status(self.credit.status)
        ran = [c.status for c in self.checks if c.status != Status.SKIP]
        return worst(ran) if ran else Status.ERROR

    @property
    def verified(self) -> bool:
        """Counted by the dataset policy: passed in this run, or credited."""
        return self.status in (Status.PASS, Status.OFFLINE)

    @property
    def verified_in(self) -> str:
        """"run" (verified by this run) or "credit" (taken from an earlier verification)."""
        return "run" if self.credit is None else "credit"


@dataclass
class DatasetResult:
    dataset: Dataset
    copies: list[CopyResult]
    policy: CheckResult

    @property
    def status(self) -> Status:
        # An unplugged disk still credited is no fault of the dataset.
        return worst([self.policy.status, *(Status.PASS if c.status == Status.OFFLINE else c.status
                                            for c in self.copies)])


@dataclass
class RunResult:
    run_id: str
    started_at: datetime
    finished_at: datetime
    datasets: list[DatasetResult]
    agent_host: str
    operator: str
    tool_versions: dict[str, str]
    interrupted: bool = False
    # The run budget ran out before every copy was verified (those copies are errors).
    budget_exhausted: bool = False
    # Rotation state advanced by this run; saved by the caller only after the records commit.
    state: Any = None
    # Number and hash of the run's last QEF-19-05 record once appended (exported as metrics: an outside anchor).
    last_record_no: int | None = None
    last_record_hash: str | None = None
    agent: str = ""  # agent.name: whose chain the run's records join
    # Several agents declared (targets.yaml agents:): each holding agent judges a dataset, so its
    # verdict series carry the agent label and the alert aggregates them (agent.metrics).
    fleet: bool = False
    # Records of this agent not (yet) in the shared store after the run (0 without one).
    records_undelivered: int | None = None

    @property
    def compliant(self) -> bool:
        return bool(self.datasets) and all(d.status == Status.PASS for d in self.datasets)
