"""restore-test: restore a sample (or all) of the copy's newest backup into a private scratch
directory, hash what came back, and project the full restore time against the process RTO.

Runs when asked (`verify --restore-test[=sample|full]`) or when the dataset's restore_test.every
has passed since this copy's last restore test (a test that did not pass is due again the next
run), so the nightly timer needs no flag; otherwise it is skipped. The sample holds at most
restore_test.sample_files files and sample_bytes bytes: the most recently changed files always,
then the files tested longest ago, so every file is restored within restore_test.cycle; the share
of files tested within the cycle is recorded as sample_coverage_ratio. The content proof, timing
and scratch-space rules are in agent/restore.py and agent/scratch.py."""

from __future__ import annotations

from datetime import datetime

from agent.checking import CopyContext
from agent.clock import in_future, iso
from agent.models import CheckResult, Status
from agent.restore import RECENT_SHARE, restore_and_verify
from agent.units import format_duration

ID = "restore-test"
FORMS = ("files", "restic", "objects")
ROLES = ("backup",)
STATE_SECTION = "restore-test"


def due(context: CopyContext, state: dict) -> tuple[str | None, str]:
    """Return (mode or None, why): the operator's --restore-test, else the dataset's schedule."""
    if context.options.restore_test in ("sample", "full"):
        return context.options.restore_test, f"--restore-test={context.options.restore_test}"
    every = context.dataset.restore_test.every_seconds
    if not every:
        return None, "not requested (verify --restore-test) and no restore_test.every for this dataset"
    last = datetime.fromisoformat(state["last_run"]) if state.get("last_run") else None
    if last is None:
        return "sample", "scheduled: never restore-tested"
    if state.get("last_status") != str(Status.PASS):
        return "sample", f"scheduled: the last restore test ({iso(last)}) did not pass"
    if in_future(last, context.now):
        # Written under a clock that ran ahead: waiting for that date would skip the test for as long.
        return "sample", f"scheduled: the last restore test is dated {iso(last)}, in the future"
    elapsed = (context.now - last).total_seconds()
    # A timer fires a little earlier or later each night: an hour's grace keeps "every 7d" weekly.
    if elapsed >= every - min(3600.0, 0.1 * every):
        return "sample", f"scheduled: every {format_duration(every)}, last {format_duration(elapsed)} ago"
    return None, f"not due: last restore test {format_duration(elapsed)} ago, every {format_duration(every)}"


def run(context: CopyContext) -> CheckResult:
    state = context.state.get(STATE_SECTION, context.spec.key) or {}
    mode, why = due(context, state)
    if mode is None:
        return CheckResult(ID, Status.SKIP, why)
    # A file "tested" at a time still to come (a clock that ran ahead) counts as never tested.
    tested: dict[str, float] = {p: t for p, t in (state.get("tested") or {}).items()
                                if not in_future(t, context.now)}
    outcome = restore_and_verify(context, full=mode == "full", tested=tested,
                                 progress=getattr(context.options, "progress", None),
                                 known_full_size=state.get("full_size_bytes") or 0)
    context.restore_validation = outcome.validation  # restore-validate reports it
    now = context.now.timestamp()
    for relpath in outcome.verified:
        tested[relpath] = now
    cycle = context.dataset.restore_test.cycle_seconds
    measured = dict(outcome.measured)
    # Every file restored came back and was proven: what the monthly report's RTO achievement reads.
    measured["content_proven"] = outcome.content_ok
    if outcome.backup_files:
        # Forget files the backup no longer holds, so the state does not grow without bound.
        tested = {p: t for p, t in tested.items() if p in outcome.backup_files}
        recent = sum(1 for t in tested.values() if now - t <= cycle)
        measured["sample_coverage_ratio"] = round(recent / len(outcome.backup_files), 4)
    # The restore size as last listed sizes the scratch check of a full restore that starts before
    # restic has listed the snapshot again (agent.restore._plan_alongside).
    full_size = measured.get("full_size_bytes", state.get("full_size_bytes"))
    context.state.put(STATE_SECTION, context.spec.key,
                      {"last_run": iso(context.now), "last_status": str(outcome.status), "mode": mode, "tested": tested,
                       "full_size_bytes": full_size})
    detail = outcome.detail
    if "sample_coverage_ratio" in measured and mode == "sample":
        detail += f"; {measured['sample_coverage_ratio']:.0%} of files restore-tested this cycle"
        shortfall = rotation_shortfall(context, len(outcome.backup_files))
        if shortfall:
            measured["rotation_fits_cycle"] = False
            detail += f"; {shortfall}"
    return CheckResult(ID, outcome.status, detail, measured)


def rotation_shortfall(context: CopyContext, files: int) -> str | None:
    """Say so when the schedule and sample size cannot restore every file within the cycle (the
    operator then raises sample_files or tests more often); None when they can."""
    limits = context.dataset.restore_test
    every = limits.every_seconds or context.settings.schedule_interval_seconds
    tests_per_cycle = max(1, int(limits.cycle_seconds // every))
    # The newest files take a share of each sample; the rest rotates.
    rotating = max(1, limits.sample_files - max(1, limits.sample_files // RECENT_SHARE))
    if tests_per_cycle * rotating >= files:
        return None
    return (f"at {rotating} rotating files per test, {tests_per_cycle} tests per cycle of "
            f"{format_duration(limits.cycle_seconds)} cannot reach all {files} files "
            f"(raise restore_test.sample_files or test more often)")
