"""restore_and_verify: list, plan, restore into scratch, judge — the order of a restore test.

Order: a sample needs the backup's listing before the restore (to choose the files and size the
scratch check). A full restic restore does not: restic lists the snapshot alongside the restore
(each restic command derives the key first, ≈ 0.35 s on one core, so two at once cost about one),
the scratch check takes the larger of the primary's size and this copy's restore size when last
listed, and the primary files not modified since the snapshot began are hashed meanwhile. Files
the listing then shows the primary cannot vouch for are confirmed with `--verify` (agent.restore.
judge); with nothing to size the scratch check by, the listing comes first.

Each thread returns what it measured (the primary's hashes with their time, the restore's first
file); the figures are merged here, on the caller's thread.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agent import interrupt
from agent.checking import CopyContext
from agent.errors import TargetUnavailable
from agent.hashing import FileEntry
from agent.models import Status
from agent.output import name_paths
from agent.progress import DISABLED, Progress, Task
from agent.restic import ResticError, ResticFailure, Snapshot, failed_files
from agent.restore.judge import Comparison, PrimaryHashes, hash_primary, judge
from agent.restore.listing import (
    LISTING_ERRORS,
    list_backup,
    listing_failed,
    listing_measured,
    newest_snapshot,
    restic_listing,
)
from agent.restore.model import BackupListing, RestoreOutcome
from agent.restore.plan import Plan, choose_sample, complete_alongside, plan_alongside, plan_from_listing
from agent.restore.restoring import in_background, restore_restic
from agent.scratch import ScratchDir, ScratchError
from agent.units import format_size
from agent.validate import Place, Validation, needed_files, run_validators


@dataclass(frozen=True)
class _Alongside:
    """A full restic restore that does not wait for the listing: restic lists the snapshot meanwhile."""

    snapshot: Snapshot
    listing: Future


@dataclass(frozen=True)
class _Job:
    """What is decided before the restore starts."""

    mode: str
    plan: Plan
    listing: BackupListing | None  # None while restic lists the snapshot alongside the restore
    alongside: Future | None  # that listing
    primary_entries: dict[str, FileEntry]
    notes: tuple[str, ...]


def restore_and_verify(context: CopyContext, *, full: bool, tested: dict[str, float] | None = None,
                       progress: Progress | None = None, known_full_size: int = 0) -> RestoreOutcome:
    """Given a copy (after reachable and freshness ran on its context), restore a sample or all of its
    newest backup into scratch, verify and time it. `known_full_size` is this copy's restore size
    when last listed (0: unknown). The dataset's validators run on the restored tree before the
    scratch goes (outcome.validation). Never raises for a problem of the copy: every outcome is a
    status; KeyboardInterrupt (SIGINT, SIGTERM) propagates after the scratch is removed."""
    outcome = _restore_and_verify(context, full, tested, progress, known_full_size)
    if _validators(context) and outcome.validation is None:
        outcome.validation = f"not run: the restore test did not bring the data back (restore-test: {outcome.status})"
    return outcome


def _restore_and_verify(context: CopyContext, full: bool, tested: dict[str, float] | None,
                        progress: Progress | None, known_full_size: int) -> RestoreOutcome:
    mode = "full" if full else "sample"
    if context.spec.form != "restic" and not context.handle.can_fetch:
        return RestoreOutcome(Status.ERROR, f"restore from a {context.spec.target.kind} target is not supported by "
                                            "this version yet; the copy's restorability is unproven", {"mode": mode})
    began = time.monotonic()
    prepared = _prepare(context, mode, tested or {}, known_full_size)
    if isinstance(prepared, RestoreOutcome):
        return prepared
    job, measured = prepared
    measured["scratch_sized_by"] = job.plan.sized_by
    measured["before_restore_seconds"] = round(time.monotonic() - began, 3)
    if job.plan.snapshot:
        measured["restic_verify"] = job.plan.restic_verify
    if interrupt.cancelled.is_set():
        return RestoreOutcome(Status.ERROR, "interrupted before restoring", measured)
    return _restore_and_judge(context, job, measured, progress or DISABLED)


def _prepare(context: CopyContext, mode: str, tested: dict[str, float],
             known_full_size: int) -> tuple[_Job, dict[str, Any]] | RestoreOutcome:
    """List the backup (or start listing it) and plan the restore; the figures so far."""
    # The primary's file list (a scan, over SSH for a remote primary) does not depend on the
    # backup's: take it while restic lists the snapshot.
    primary_scan = in_background(context.primary.entries)
    try:
        started = _start_listing(context, mode == "full")
    except LISTING_ERRORS as error:
        return listing_failed(error, mode)
    primary_entries, notes = _primary_entries(primary_scan)
    if isinstance(started, _Alongside):
        plan = plan_alongside(started.snapshot, primary_entries, known_full_size)
        if plan is not None:
            job = _Job(mode, plan, None, started.listing, primary_entries, notes)
            return job, {"mode": mode, "listing": "alongside the restore"}
        try:
            started = started.listing.result()
        except LISTING_ERRORS as error:
            return listing_failed(error, mode)
    listing = started
    if not listing.entries:
        return RestoreOutcome(Status.FAIL, f"{listing.source} holds no files to restore", {"mode": mode})
    relpaths = choose_sample(listing.entries, context.dataset.restore_test, tested, mode == "full")
    # What the validators read is restored with every sample, whatever its size: a validator
    # never looks at a file that was not restored.
    relpaths += [p for p in needed_files(_validators(context), listing.entries) if p not in relpaths]
    if not relpaths:
        return RestoreOutcome(Status.ERROR, f"no file of {listing.source} fits the sample limits "
                                            f"(sample_bytes {format_size(context.dataset.restore_test.sample_bytes)})",
                              {"mode": mode})
    plan = plan_from_listing(context, listing, relpaths, primary_entries)
    return _Job(mode, plan, listing, None, primary_entries, notes), listing_measured(listing, mode)


def _start_listing(context: CopyContext, full: bool) -> BackupListing | _Alongside:
    """The backup's listing; for a full restic restore, which needs no file list to start, restic
    lists the snapshot alongside the restore (the two key derivations on two cores) instead."""
    if context.spec.form == "restic" and full:
        snapshot = newest_snapshot(context)
        return _Alongside(snapshot, in_background(restic_listing, context, snapshot))
    return list_backup(context)


def _primary_entries(scan: Future) -> tuple[dict[str, FileEntry], tuple[str, ...]]:
    try:
        return scan.result(), ()
    except TargetUnavailable as error:
        return {}, (f"primary unreadable ({error}); compared with the backup's own record only",)


def _restore_and_judge(context: CopyContext, job: _Job, measured: dict[str, Any], progress: Progress) -> RestoreOutcome:
    spec = context.spec
    protected = _protected(context)
    primary_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="primary-hash")
    label = _label(context)
    task = progress.task(f"restore {context.dataset.name} from {spec.target.name}", job.plan.payload)
    try:
        with ScratchDir(context.settings.scratch_dir, label, job.plan.payload, protected) as scratch:
            # The primary's side of the comparison is hashed while the restore runs.
            primary_hashes = (primary_pool.submit(hash_primary, context.primary, job.plan.comparable)
                              if job.plan.comparable else None)
            restore_seconds, first_file = _restore(context, job, scratch, task)
            return _judge(context, job, scratch, restore_seconds, first_file, primary_hashes, dict(measured))
    except ScratchError as error:
        return RestoreOutcome(Status.ERROR, str(error), measured)
    except ResticError as error:
        return _restore_failed(context, job.plan, job.listing, job.alongside, error, measured)
    except TargetUnavailable as error:
        return RestoreOutcome(Status.ERROR, f"restore from the copy failed: {error}", measured)
    finally:
        # Normally the primary's hashes were consumed already; after a failure or a signal nobody
        # waits for them (the scratch directory is gone by now either way).
        primary_pool.shutdown(wait=False, cancel_futures=True)


def _protected(context: CopyContext) -> list[str]:
    """Every local copy of the dataset, not only the two compared: a restore into another copy's
    tree would change what that copy's own checks see (agent.config refuses the lexical cases of
    every dataset up front; this also catches a route through a symlink)."""
    return [copy.path for copy in context.dataset.all_copies if copy.target.paths_on_this_machine]


def _validators(context: CopyContext) -> tuple:
    """The dataset's restore_test.validate (none for a context built without a dataset's settings)."""
    return getattr(getattr(getattr(context, "dataset", None), "restore_test", None), "validate", ())


def _label(context: CopyContext) -> str:
    return f"{context.dataset.name}-{context.spec.target.name}"


def _validate(context: CopyContext, root: Path, listing: BackupListing) -> Validation | str | None:
    """The dataset's validators on the restored tree, while it still exists (None: it has none)."""
    specs = _validators(context)
    if not specs:
        return None
    if interrupt.cancelled.is_set():
        return "not run: the run was interrupted"
    place = Place(context.settings.scratch_dir, _label(context), tuple(_protected(context)))
    with context.task("validate restored"):
        return run_validators(specs, root, listing.entries, place)


def _restore(context: CopyContext, job: _Job, scratch: Path, task: Task) -> tuple[float, float | None]:
    """Restore the plan's files into scratch. Return the seconds it took and, for restic, those
    until its first file appeared. Raise ResticError or TargetUnavailable."""
    spec, plan = context.spec, job.plan
    started = time.monotonic()
    first_file = None
    try:
        if spec.form == "restic":
            includes = (None if plan.relpaths is None or job.mode == "full"
                        else [job.listing.root_prefix + p for p in plan.relpaths])
            first_file = restore_restic(context.restic, plan.snapshot.id, includes, scratch, verify=plan.restic_verify,
                                        timeout=context.settings.command_timeout_seconds, task=task,
                                        time_first_file=True)
        else:
            context.handle.fetch(spec.path, plan.relpaths, str(scratch / "files"), task.add)
    finally:
        seconds = time.monotonic() - started
        task.close()
    return seconds, first_file


def _judge(context: CopyContext, job: _Job, scratch: Path, restore_seconds: float, first_file: float | None,
           primary_hashes: Future | None, measured: dict[str, Any]) -> RestoreOutcome:
    """Judge what came back, with the listing (restic's alongside one now) and the figures merged."""
    listing, plan = job.listing, job.plan
    if job.alongside is not None:
        try:
            listing = job.alongside.result()
        except LISTING_ERRORS as error:
            return listing_failed(error, job.mode)
        for key, value in listing_measured(listing, job.mode).items():
            measured.setdefault(key, value)
        if not listing.entries:
            return RestoreOutcome(Status.FAIL, f"{listing.source} holds no files to restore", measured)
        plan = complete_alongside(context, plan, listing, job.primary_entries)
    root = scratch / listing.root_prefix.strip("/") if context.spec.form == "restic" else scratch / "files"
    if first_file is not None and first_file < restore_seconds:
        # The restore's own fixed cost replaces the listing's (still in listing_seconds) as the overhead.
        measured["overhead_seconds"] = round(first_file, 3)
        listing = replace(listing, overhead_seconds=first_file)
    verify_started = time.monotonic()
    comparison = Comparison(job.primary_entries, plan.comparable, primary_hashes, plan.restic_verify, job.notes,
                            scratch)
    try:
        outcome = judge(context, listing, plan.relpaths, root, restore_seconds, comparison)
    except ResticError as error:
        return _restore_failed(context, plan, listing, None, error, measured)
    outcome.measured = {**measured, **outcome.measured, "verify_seconds": round(time.monotonic() - verify_started, 3),
                        **_hashing_seconds(primary_hashes)}
    outcome.backup_files = frozenset(listing.entries)
    outcome.validation = _validate(context, root, listing)
    return outcome


def _hashing_seconds(primary_hashes: Future | None) -> dict[str, float]:
    """The time the primary's hashing took, once it has finished."""
    if primary_hashes is None or not primary_hashes.done() or primary_hashes.exception() is not None:
        return {}
    hashes: PrimaryHashes = primary_hashes.result()
    return {"primary_hash_seconds": round(hashes.seconds, 3)}


def _restore_failed(context: CopyContext, plan: Plan, listing: BackupListing | None, alongside: Future | None,
                    error: ResticError, measured: dict[str, Any]) -> RestoreOutcome:
    """A restore restic could not finish: a data error fails, anything else is an error; the files
    it named are listed (from the listing alongside, once restic has it)."""
    if interrupt.cancelled.is_set():
        return RestoreOutcome(Status.ERROR, "interrupted: the restore was stopped by a signal", measured)
    if listing is None and alongside is not None:
        try:
            listing = alongside.result()
        except LISTING_ERRORS:
            pass  # the restore's own error is the finding
    status = Status.FAIL if error.kind == ResticFailure.DATA_ERROR else Status.ERROR
    damaged = failed_files(error.stderr or "", listing.root_prefix if listing else "/",
                           listing.entries if listing else ())
    named = f" ({len(damaged)} files could not be restored: {name_paths(damaged)})" if damaged else ""
    what = f"{len(plan.relpaths)} files" if plan.relpaths is not None else "all files"
    source = listing.source if listing else f"snapshot {plan.snapshot.short_id}"
    return RestoreOutcome(status, f"restore of {what} from {source} failed{named}: {error}", measured)
