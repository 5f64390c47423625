"""restic-read-data: `restic check --read-data-subset=n/t`, rotating n each run so that every
pack is read once per cycle (agent.read_data_cycle, default 30d, divided by the schedule
interval gives t). The group that failed is read again next run until it passes. Coverage
counts the packs (coverage_ratio) and bytes (coverage_bytes_ratio) read successfully within the
last cycle: a pack is counted when its group (the first byte of its ID mod t) was read after the
pack appeared, from the copy's own file listing; when that listing cannot be had, coverage is
unknown (None), never the share of groups.

In a run, one `restic check --read-data-subset=n/t` per repository serves both this check and
restic-structure (the subset check checks the structure first; a second plain `check` would
repeat it and pay restic's key derivation again), and a repository holding several datasets is
checked once, its result given to each. The structure passes then only when every error restic
printed is one that only reading pack contents finds (agent.restic.only_pack_content_errors).
restic picks a group's packs by the first byte of their ID, so nights differ by how many packs
fell in each group; restic 0.14 offers no other rotation that reads every pack within a cycle."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from agent.checking import CopyContext
from agent.clock import in_future, iso
from agent.errors import TargetUnavailable
from agent.models import CheckResult, Status
from agent.restic import ResticError, ResticFailure, only_pack_content_errors
from agent.restic.layout import holds, sort_files

ID = "restic-read-data"
FORMS = ("restic",)
ROLES = ("primary", "backup")
STATE_SECTION = "read-data"


def groups_per_cycle(cycle_seconds: float, interval_seconds: float) -> int:
    return max(1, round(cycle_seconds / interval_seconds))


@dataclass
class RepositoryCheck:
    """The one `restic check --read-data-subset` of a repository this run, and what it proved."""

    subset: str
    error: ResticError | None
    structure_sound: bool  # no error, or only errors in pack contents
    state: dict[str, Any] = field(default_factory=dict)  # the rotation after it
    coverage: dict[str, Any] = field(default_factory=dict)
    checked_for: str = ""  # the copy whose check ran the command


def run(context: CopyContext) -> CheckResult:
    if context.per_repository is None:
        return _rotate_alone(context)
    shared = repository_check(context)
    measured: dict[str, Any] = {"subset": shared.subset, **shared.coverage}
    if shared.error is None:
        status, detail = Status.PASS, f"read pack group {shared.subset}: no errors"
    else:
        status = Status.FAIL if shared.error.kind == ResticFailure.DATA_ERROR else Status.ERROR
        detail = f"read pack group {shared.subset}: {shared.error}"
    return CheckResult(ID, status, f"{detail}; {_said(shared.coverage)}{shared_note(context, shared, measured)}",
                       measured)


def repository_check(context: CopyContext) -> RepositoryCheck:
    """This run's one check of the copy's repository (run now by the first copy that asks, the
    structure check in table order); its rotation state is kept under every copy it serves."""
    shared, _ = context.per_repository.once("restic check", context.restic.location.repository,
                                            lambda: _check_repository(context))
    context.state.put(STATE_SECTION, context.spec.key, shared.state)
    return shared


def shared_note(context: CopyContext, shared: RepositoryCheck, measured: dict[str, Any]) -> str:
    """For a copy given another copy's check of the same repository: say so, in detail and measured."""
    if shared.checked_for == context.spec.key:
        return ""
    measured["checked_for"] = shared.checked_for
    return f" (the repository's one check this run, made for {shared.checked_for})"


def _check_repository(context: CopyContext) -> RepositoryCheck:
    state, group, total = _plan(context)
    subset = f"{group}/{total}"
    try:
        with context.task(f"restic check --read-data-subset={subset}"):
            context.restic.check(read_data_subset=subset)
        error = None
    except ResticError as failure:
        error = failure
    sound = error is None or (error.kind == ResticFailure.DATA_ERROR and only_pack_content_errors(error.stderr))
    coverage = pack_coverage(context, _record(context, state, group, total, error is None), total)
    return RepositoryCheck(subset, error, sound, state, coverage, context.spec.key)


def _rotate_alone(context: CopyContext) -> CheckResult:
    """The check on its own: its own `restic check --read-data-subset` (a check run without a run's
    once-per-repository results)."""
    state, group, total = _plan(context)
    try:
        with context.task(f"restic check --read-data-subset={group}/{total}"):
            context.restic.check(read_data_subset=f"{group}/{total}")
        status, detail = Status.PASS, f"read pack group {group}/{total}: no errors"
    except ResticError as error:
        # The same group is read again next run: a corruption keeps failing until it is repaired.
        status = Status.FAIL if error.kind == ResticFailure.DATA_ERROR else Status.ERROR
        detail = f"read pack group {group}/{total}: {error}"
    coverage = pack_coverage(context, _record(context, state, group, total, status == Status.PASS), total)
    context.state.put(STATE_SECTION, context.spec.key, state)
    measured = {"subset": f"{group}/{total}", **coverage}
    return CheckResult(ID, status, f"{detail}; {_said(coverage)}", measured)


def _plan(context: CopyContext) -> tuple[dict[str, Any], int, int]:
    """The copy's rotation state, the group to read this run and the number of groups."""
    settings = context.settings
    total = groups_per_cycle(settings.read_data_cycle_seconds, settings.schedule_interval_seconds)
    state = context.state.get(STATE_SECTION, context.spec.key) or {}
    if state.get("t") != total:
        state = {"t": total, "next": 1, "read": {}}
    return state, int(state.get("next", 1)), total


def _record(context: CopyContext, state: dict[str, Any], group: int, total: int, read: bool) -> dict[int, float]:
    """Advance the rotation after a read (a group that failed is read again next run); return the
    groups read within the last cycle, with when."""
    now = context.now.timestamp()
    if read:
        state["read"][str(group)] = now
        state["next"] = group % total + 1
    else:
        state["read"].pop(str(group), None)
    # A group "read" at a time still to come (a clock that ran ahead) is not covered: read it again.
    state["read"] = {g: when for g, when in state["read"].items() if not in_future(when, now)}
    state["last_run"] = iso(context.now)
    return {int(g): when for g, when in state["read"].items() if now - when <= context.settings.read_data_cycle_seconds}


def pack_coverage(context: CopyContext, fresh: dict[int, float], total: int) -> dict[str, Any]:
    """The packs and bytes read within the cycle: each data pack of the copy's listing whose group was
    read after the pack appeared (its mtime). Unknown (None) when the listing cannot be had."""
    measured: dict[str, Any] = {"groups_read": len(fresh), "groups": total}
    try:
        packs = [e for e in sort_files(context.copy_entries()).named if holds(e.relpath) == "pack"]
    except TargetUnavailable:
        return {**measured, "coverage_ratio": None, "coverage_bytes_ratio": None}
    read = [e for e in packs if fresh.get(read_data_group(e.relpath, total), -1.0) >= e.mtime]
    size, read_bytes = sum(e.size for e in packs), sum(e.size for e in read)
    return {**measured, "packs": len(packs), "packs_read": len(read), "bytes": size, "bytes_read": read_bytes,
            "coverage_ratio": round(len(read) / len(packs), 4) if packs else 0.0,
            "coverage_bytes_ratio": round(read_bytes / size, 4) if size else 0.0}


def read_data_group(relpath: str, total: int) -> int:
    """The --read-data-subset group (1-based) restic puts a pack in: the first byte of its ID mod t."""
    return int(posixpath.basename(relpath)[:2], 16) % total + 1


def _said(coverage: dict[str, Any]) -> str:
    if coverage.get("coverage_ratio") is None:
        return "coverage unknown (the repository's packs could not be listed)"
    return (f"coverage {coverage['coverage_ratio']:.0%} of {coverage['packs']} packs, "
            f"{coverage['coverage_bytes_ratio']:.0%} of their bytes read in the last cycle")
