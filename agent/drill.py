"""Restore drills (SOP-19 §8.3): a full, timed restore of one dataset from one copy into scratch,
verified, with an after-action record comparing RTO and RPO, actual against target.

RTO actual is the wall time from the drill's start until the data is back, proven and validated
(opening the copy, listing, restoring, hashing, and the dataset's application checks,
restore_test.validate): what a real recovery would take on this machine. The business is back
only once its data is usable: a drill whose validation failed or could not run establishes no RTO. RPO actual is
the age of the restored data: the drill's time minus the restored backup's time. A drill that was
interrupted, errored or brought back wrong content showed no recovery: its RTO and RPO verdicts
(`rto_met`, `rpo_met`) are null, "not established", and the report counts it as not achieved. The record is
form QEF-19-03, kind "drill", appended to the same chained store as the verification records.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent import interrupt
from agent.checking import RunOptions
from agent.clock import age_seconds, iso
from agent.config import Config, CopySpec, Dataset
from agent.models import DrillStatus, Status
from agent.progress import Progress
from agent.records import FORM_DRILL
from agent.restore import restore_and_verify
from agent.units import format_duration, format_size

if TYPE_CHECKING:
    from agent.run import Session


class DrillError(Exception):
    """The drill cannot start (no such copy, no offsite copy to choose)."""


def choose_copy(dataset: Dataset, from_target: str | None) -> CopySpec:
    """Return the copy to drill: the one on --from, else one away from the primary's location,
    object storage preferred (the copy a site loss would leave)."""
    backups = list(dataset.copies)
    if from_target:
        chosen = [c for c in backups if c.target.name == from_target]
        if not chosen:
            raise DrillError(f"dataset {dataset.name} has no backup copy on target {from_target!r}; "
                             f"copies: {', '.join(c.target.name for c in backups) or 'none'}")
        return chosen[0]
    offsite = [c for c in backups if c.target.location != dataset.primary.target.location]
    if not offsite:
        raise DrillError(f"dataset {dataset.name} has no copy away from the primary's location "
                         f"({dataset.primary.target.location}); choose one with --from TARGET")
    return sorted(offsite, key=lambda c: (c.target.medium != "object-storage", c.index))[0]


@dataclass
class DrillResult:
    dataset: Dataset
    spec: CopySpec
    status: DrillStatus
    started_at: datetime
    finished_at: datetime
    rto_actual_seconds: float
    rpo_actual_seconds: float | None
    last_backup_at: datetime | None
    errors: list[str] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    tool_versions: dict[str, str] = field(default_factory=dict)

    @property
    def rto_target_seconds(self) -> float:
        return self.dataset.process.rto_seconds

    @property
    def rpo_target_seconds(self) -> float:
        return self.dataset.process.rpo_seconds


@dataclass
class _Attempt:
    """What the restore showed before the times are judged."""

    status: DrillStatus = DrillStatus.ERROR
    errors: list[str] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)
    last_backup_at: datetime | None = None


def run_drill(config: Config, dataset: Dataset, spec: CopySpec, progress: Progress | None = None) -> DrillResult:
    """Restore every file of the copy's newest backup into scratch, verify it, and time it.

    Never raises for a problem of the copy (it becomes the result); on SIGINT/SIGTERM the scratch
    directory is removed and the result says "interrupted"."""
    from agent.run import Session, tool_versions

    interrupt.cancelled.clear()
    session = Session(config)
    started = time.monotonic()
    attempt = _Attempt()
    try:
        _restore(session, dataset, spec, progress, attempt)
    except KeyboardInterrupt:
        attempt.status = DrillStatus.INTERRUPTED
        attempt.errors.append("interrupted by a signal before the restore completed; scratch removed")
    except Exception as error:  # noqa: BLE001 - a drill that crashed is an error on the record, not a pass
        attempt.errors.append(f"{type(error).__name__}: {error}")
    finally:
        session.close()
    elapsed = time.monotonic() - started
    result = DrillResult(dataset, spec, attempt.status, session.started,
                         session.started + timedelta(seconds=elapsed), elapsed,
                         age_seconds(attempt.last_backup_at, session.started) if attempt.last_backup_at else None,
                         attempt.last_backup_at, attempt.errors, tool_versions=tool_versions())
    judge_times(result, attempt.measured)
    return result


def _restore(session: Session, dataset: Dataset, spec: CopySpec, progress: Progress | None, attempt: _Attempt) -> None:
    """Open the copy (reachable, freshness), then restore all of it and prove it, into `attempt`."""
    import checks

    context = session.copy_context(dataset, spec, RunOptions(restore_test="full"))
    for module in (checks.get("reachable"), checks.get("freshness")):
        result = module.run(context)
        if result.status == Status.ERROR or (module.ID == "reachable" and result.status != Status.PASS):
            attempt.errors.append(f"{module.ID}: {result.detail}")
            return
    attempt.last_backup_at = context.last_backup_at
    known = (session.state.get(checks.get("restore-test").STATE_SECTION, spec.key) or {}).get("full_size_bytes") or 0
    outcome = restore_and_verify(context, full=True, progress=progress, known_full_size=known)
    attempt.measured = dict(outcome.measured)
    if context.restic and context.restic.removed_locks:  # the audit must know the repository changed
        attempt.measured["stale_locks_removed"] = [lock.summary() for lock in context.restic.removed_locks]
    validation = outcome.validation
    if validation is not None and not isinstance(validation, str):
        attempt.measured.update(validation.measured())
        attempt.measured["validation"] = str(validation.status)
    if not outcome.content_ok:
        attempt.errors.append(outcome.detail)
        attempt.status = DrillStatus.of(outcome.status)
    elif validation is None or (not isinstance(validation, str) and validation.passed):
        attempt.status = DrillStatus.PASS  # every file back, proven and validated; the times are judged next
    elif isinstance(validation, str):
        attempt.errors.append(f"restore-validate: {validation}")
    else:
        attempt.errors.append(f"restore-validate: {validation.detail()}")
        attempt.status = DrillStatus.of(validation.status)


def judge_times(result: DrillResult, restored: dict[str, Any]) -> None:
    """Judge the actual RTO and RPO against their targets and fill in the measured values and detail.

    Only a drill that brought every file back proven says anything about the RTO: an interrupted,
    errored or wrong-content drill ran for some seconds, but the business was not back."""
    elapsed, rpo_actual, errors = result.rto_actual_seconds, result.rpo_actual_seconds, result.errors
    content_proven = result.status == DrillStatus.PASS
    rto_met = elapsed <= result.rto_target_seconds if content_proven else None
    rpo_met = rpo_actual <= result.rpo_target_seconds if content_proven and rpo_actual is not None else None
    if content_proven:
        if not rto_met:
            result.status = DrillStatus.FAIL
            errors.append(f"RTO missed: restore took {format_duration(elapsed)} ({elapsed:.1f}s), "
                          f"target {format_duration(result.rto_target_seconds)}")
        if rpo_met is False:
            result.status = DrillStatus.FAIL
            errors.append(f"RPO missed: restored data is {format_duration(rpo_actual)} old, "
                          f"target {format_duration(result.rpo_target_seconds)}")
    result.measured = {
        "rto_target_seconds": result.rto_target_seconds,
        # The RTO actual exists only for a drill whose data came back proven; the elapsed time always.
        "rto_actual_seconds": round(elapsed, 3) if content_proven else None,
        "elapsed_seconds": round(elapsed, 3),
        "rpo_target_seconds": result.rpo_target_seconds,
        "rpo_actual_seconds": round(rpo_actual, 3) if rpo_actual is not None else None,
        "content_proven": content_proven,
        "rto_met": rto_met,
        "rpo_met": rpo_met,
        "bytes_restored": restored.get("bytes_restored", 0),
        "files": restored.get("files", 0),
        "errors": errors,
        **{k: v for k, v in restored.items() if k not in ("files", "bytes_restored")},
    }
    rto_text = (f"RTO actual {format_duration(elapsed)} vs target {format_duration(result.rto_target_seconds)}"
                if content_proven else
                f"RTO not established (the data was not restored, proven and validated; stopped after "
                f"{format_duration(elapsed)})")
    result.detail = (f"{rto_text}; "
                     f"RPO actual {format_duration(rpo_actual)} vs target {format_duration(result.rpo_target_seconds)}; "
                     f"{result.measured['files']} files, {format_size(result.measured['bytes_restored'])}"
                     + (f"; {len(errors)} error(s): {errors[0]}" if errors else ""))


def after_action(result: DrillResult, record_no: int | None, agent: str = "") -> str:
    """The after-action summary printed at the end of a drill (bilingual labels, as the records are)."""

    def verdict(met: bool | None) -> str:
        if met is None:
            return "未确定 / not established"
        return "达标 / met" if met else "未达标 / MISSED"

    m = result.measured
    spec = result.spec
    lines = [
        f"{FORM_DRILL} 恢复演练记录 / restore drill record" + (f"  #{record_no}" if record_no else ""),
        *([f"  代理 / agent      {agent}"] if agent else []),
        f"  数据集 / dataset   {result.dataset.name}  [{result.dataset.process.display_name}]",
        f"  副本 / copy        {spec.target.name} ({spec.form}, {spec.target.medium}, {spec.target.location})"
        + (f", snapshot {m['snapshot']}" if m.get("snapshot") else ""),
        f"  时间 / when        {iso(result.started_at)} → {iso(result.finished_at)}",
        (f"  RTO actual {format_duration(m['rto_actual_seconds'])} ({m['rto_actual_seconds']:.1f}s)  "
         if m["rto_actual_seconds"] is not None else f"  RTO actual —  (ran {m['elapsed_seconds']:.1f}s)  ")
        + f"target {format_duration(m['rto_target_seconds'])}  {verdict(m['rto_met'])}",
        f"  RPO actual {format_duration(m['rpo_actual_seconds'])}"
        + (f" ({m['rpo_actual_seconds']:.0f}s)" if m["rpo_actual_seconds"] is not None else "")
        + f"  target {format_duration(m['rpo_target_seconds'])}  {verdict(m['rpo_met'])}",
        f"  恢复 / restored    {m['files']} files, {format_size(m['bytes_restored'])}"
        + (f", {format_size(m['throughput_bytes_per_second'])}/s" if m.get("throughput_bytes_per_second") else ""),
        f"  错误 / errors      {len(m['errors'])}" + "".join(f"\n    - {e}" for e in m["errors"]),
        f"  结果 / result      {result.status.upper()}",
    ]
    return "\n".join(lines)
