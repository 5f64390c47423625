"""Credit: a copy this run did not verify counts from its latest verification in the records store.

A fleet's agents each verify the copies on their own targets; a dataset's 3-2-1 verdict also needs
the others. So does a removable disk that is unplugged tonight by design. Such a copy counts only
when its latest verification (by its own agent, or by this one when the disk was last plugged in):
- passed — a latest verification that failed or errored is never credited, however recent, and an
  earlier pass behind it does not count;
- is no older than the target's credit_for (default: its agent's interval plus grace);
- leaves the copy's age *now* (now − the last backup that verification saw) within the RPO.
Anything that cannot be told (no verification, a store that cannot be read, a time in the future,
no last-backup time) is an error: a credit is never a guess.

Pure: the verifications are read by agent.verifications.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agent.clock import CLOCK_SKEW_SECONDS, iso
from agent.units import format_duration

# agent.targets.local says this of a removable disk's path that is on no mounted disk.
NOT_MOUNTED = "not mounted"


@dataclass(frozen=True)
class Verification:
    """A copy's latest verification in the records store: a `copy` record of some agent's run."""

    agent: str
    seq: int | None
    recorded_at: datetime
    result: str
    last_backup_at: datetime | None
    run_id: str | None = None

    @property
    def reference(self) -> str:
        return f"{self.agent}#{self.seq}" if self.seq is not None else self.agent

    def to_json(self) -> dict:
        return {"agent": self.agent, "seq": self.seq, "recorded_at": iso(self.recorded_at), "result": self.result,
                "last_backup_at": iso(self.last_backup_at), "run_id": self.run_id}


@dataclass(frozen=True)
class Credit:
    """What a copy not verified in this run counts for. status: "pass" (credited), "offline" (an
    unplugged removable disk, credited) or "error" (not counted), with the reason."""

    status: str
    detail: str
    verification: Verification | None
    credit_seconds: float
    age_seconds: float | None = None
    offline: bool = False

    @property
    def counted(self) -> bool:
        return self.status in ("pass", "offline")

    def to_json(self) -> dict:
        return {"status": self.status, "detail": self.detail, "credit_for_seconds": self.credit_seconds,
                "offline": self.offline,
                "from": self.verification.to_json() if self.verification else None}


def judge(verification: Verification | None, *, now: datetime, credit_seconds: float, rpo_seconds: float,
          what: str, offline: bool = False, unreadable: str | None = None, live_source: bool = False) -> Credit:
    """Given a copy's latest verification (None: the store holds none), decide what it counts for
    now. what names the copy in the detail ("hdd", "copy on nas (agent office)"); offline: it is a
    removable disk this agent found unplugged; unreadable: why the store could not be read;
    live_source: a primary without a stamp, which has no backup time (its freshness is not checked)."""
    credit = format_duration(credit_seconds)

    def ago(seconds: float) -> str:  # to the minute: a run's few seconds must not read as "3d23h" for 4d
        return format_duration(round(max(seconds, 0.0) / 60) * 60)

    def error(reason: str) -> Credit:
        return Credit("error", reason, verification, credit_seconds, offline=offline)

    if unreadable:
        return error(f"{what}: its last verification cannot be read ({unreadable}); not counted")
    if verification is None:
        seen = "not seen" if offline else "never verified"
        return error(f"{what} {seen}: no verification of it in the records store; not counted")
    by = f"by {verification.agent} at {iso(verification.recorded_at)} ({verification.reference})"
    since = (now - verification.recorded_at).total_seconds()
    if since < -CLOCK_SKEW_SECONDS:
        return error(f"{what}: its last verification {by} is dated in the future; not counted")
    if verification.result != "pass":
        return error(f"{what}: its last verification {by} was {verification.result}; a failed verification is "
                     "never credited")
    if since > credit_seconds:
        seen = "not seen" if offline else "not verified"
        return error(f"{what} {seen} for {ago(since)}, credit {credit} (last verified {by})")
    if verification.last_backup_at is None and not live_source:
        return error(f"{what}: its last verification {by} names no last backup time; not counted")
    status = "offline" if offline else "pass"
    state = "offline; " if offline else ""
    if verification.last_backup_at is None:
        return Credit(status, f"{state}credited: verified {by}, {ago(since)} ago (credit {credit}); "
                      "the live source", verification, credit_seconds, None, offline)
    age = max(0.0, (now - verification.last_backup_at).total_seconds())
    if age > rpo_seconds:
        return Credit("error", f"{what}: verified {by}, but its last backup then "
                      f"({iso(verification.last_backup_at)}) is now {ago(age)} old > RPO "
                      f"{format_duration(rpo_seconds)}; not counted", verification, credit_seconds, age, offline)
    return Credit(status, f"{state}credited: verified {by}, {ago(since)} ago (credit {credit}); "
                  f"age now {format_duration(age)} ≤ RPO {format_duration(rpo_seconds)}",
                  verification, credit_seconds, age, offline)
