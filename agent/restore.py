"""Restore tests and drills: bring back a sample (or all) of a copy's newest backup into a private
scratch directory, prove the content with SHA-256, time it, and project the full restore time.

Content proof, per restored file:
- where the primary file is unchanged since the backup, the restored bytes must equal the primary's;
- otherwise they are held against the backup's own record: restic's `restore --verify` (every
  restored blob re-hashed against the repository) plus the size in `restic ls`; for a plain copy,
  the copy's own hash, computed where the copy lives.
- a primary file whose content differs while its size and mtime equal the backup's is reported as
  suspected corruption at the source: restic proved the restored bytes are what was backed up.

Timing: restore time and bytes give a throughput; the fixed overhead is what the restore spent
before its first file appeared in scratch (restic: key derivation, index load, tree walk), else
the time of one metadata round trip on the same copy (the `ls` of the snapshot; a plain copy's
stat). Projected full restore = overhead + full size / throughput, compared with the process RTO.
The full size of a restic copy is the listing's sum of file sizes (a hard link counted per name,
so never short); a projection that would fail the RTO is first recomputed with restic's own
restore size (`stats --mode restore-size`), so the verdict is the one restic's figure gives.
When the fixed cost swamps the data time (a tiny sample) the whole restore time counts as data
time, so the projection errs long, never short.

restic's own `--verify` (a second read of everything restored) runs only when some restored file
cannot be held against the primary; a mismatch about to be blamed on the source is first
confirmed by restoring that file again with `--verify`.

Order: a sample needs the backup's listing before the restore (to choose the files and size the
scratch check). A full restic restore does not: restic lists the snapshot alongside the restore
(each restic command derives the key first, ≈ 0.35 s on one core, so two at once cost about one),
the scratch check takes the larger of the primary's size and this copy's restore size when last
listed, and the primary files not modified since the snapshot began are hashed meanwhile. Files
the listing then shows the primary cannot vouch for are confirmed with `--verify` as above; with
nothing to size the scratch check by, the listing comes first.

The restic and target adapters are the only doors out; checks/restore_test.py and agent/drill.py
are the two callers.
"""

from __future__ import annotations

import math
import os
import posixpath
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent import clock, interrupt
from agent.checking import MTIME_SLACK_SECONDS, CopyContext
from agent.clock import CLOCK_SKEW_SECONDS, in_future, iso
from agent.config import RestoreTestSpec
from agent.errors import TargetUnavailable
from agent.hashing import FileEntry, sha256_file
from agent.models import Status
from agent.names import scrub
from agent.output import name_paths
from agent.progress import DISABLED, Progress
from agent.restic import ResticError, ResticFailure, Snapshot, _parse_time, restore_arguments
from agent.scratch import ScratchDir, ScratchError
from agent.units import format_duration, format_size

SAME_MTIME_SECONDS = 1e-4  # restic keeps nanoseconds; a float of epoch seconds keeps about 0.2 µs
MEASURABLE_SHARE = 0.2  # data time below this share of the restore time is not a usable rate
RECENT_SHARE = 4  # a quarter of a sample (at least one file) is the most recently changed files
STATS_SIZE_SOURCE = "restic stats --mode restore-size"
LISTING_SIZE_SOURCE = "restic ls (file sizes summed; a hard link counted once per name)"
IGNORING_ERROR = "ignoring error for "  # how restic 0.14 restore names, on stderr, each file it could not restore


class NothingToRestore(Exception):
    """The copy has no backup of this dataset to restore (fail), or which one is unknown (error)."""

    def __init__(self, message: str, status: Status):
        super().__init__(message)
        self.status = status


@dataclass
class BackupListing:
    """What the backup itself says it holds: files with the size and mtime it recorded."""

    entries: dict[str, FileEntry]
    full_size: int
    overhead_seconds: float
    source: str
    snapshot: Snapshot | None = None
    # Where the backed-up directory sits inside the snapshot: restic stores the absolute path it was
    # given, or only its last component when it was given a relative one ("/data/"); restores land
    # at DIR + this prefix.
    root_prefix: str = "/"
    size_source: str = "listing"


@dataclass
class RestoreOutcome:
    status: Status
    detail: str
    measured: dict[str, Any] = field(default_factory=dict)
    verified: list[str] = field(default_factory=list)  # relpaths whose content was proven
    # Every restored file proven, whatever the projection said (a drill judges its actual time instead).
    content_ok: bool = False
    backup_files: frozenset[str] = frozenset()  # every file the backup holds (for rotation state)

    def __post_init__(self) -> None:
        # A drill records this detail as it is: a name in a tool's message is shown as CheckResult does.
        self.detail = scrub(self.detail)


# --- what the backup holds ----------------------------------------------------------------------


def list_backup(context: CopyContext) -> BackupListing:
    """Return the newest backup's file list. Raise ResticError, TargetUnavailable or NothingToRestore."""
    spec = context.spec
    if spec.form == "restic":
        return _restic_listing(context, _newest_snapshot(context))
    if spec.form == "objects":
        # A key prefix is not an object (HeadObject on it says 404): the listing is what exists,
        # and one HeadObject of a listed object times the metadata round trip.
        entries = context.copy_entries(without_stamp=True)
        started = time.monotonic()
        if entries:
            context.handle.stat(posixpath.join(spec.path, min(entries)))
        overhead = time.monotonic() - started
    else:
        started = time.monotonic()
        root = context.handle.stat(spec.path)
        overhead = time.monotonic() - started
        if root is None:
            raise TargetUnavailable(f"{spec.path} does not exist")
        entries = context.copy_entries(without_stamp=True)
    return BackupListing(entries, sum(e.size for e in entries.values()), overhead, f"{spec.form} copy")


def _restic_listing(context: CopyContext, snapshot: Snapshot) -> BackupListing:
    started = time.monotonic()
    nodes = [node for node in context.restic.ls(snapshot.id) if node.get("type") == "file"]
    overhead = time.monotonic() - started
    prefix = "/"
    if len(snapshot.paths) == 1:
        backed_up = snapshot.paths[0].rstrip("/")
        for candidate in (backed_up + "/", "/" + posixpath.basename(backed_up) + "/"):
            if any(node["path"].startswith(candidate) for node in nodes):
                prefix = candidate
                break
    entries: dict[str, FileEntry] = {}
    for node in nodes:
        path = node["path"]
        if not path.startswith(prefix):
            continue
        relpath = path[len(prefix):]
        mtime = _parse_time(node["mtime"]).timestamp() if node.get("mtime") else 0.0
        entries[relpath] = FileEntry(relpath, int(node.get("size", 0)), mtime)
    # The restore size from the listing in hand: every file node's size, the sum `restic stats
    # --mode restore-size` makes, except that ls shows no inode, so a hard link counts once per
    # name where stats counts it once. Never less than what restic restores, so a projection from
    # it errs long only; it is confirmed with stats (a second key derivation and index load,
    # ≈ 0.4 s of CPU) only when it would fail the RTO — see _confirm_restore_size.
    listed = sum(int(node.get("size", 0)) for node in nodes)
    return BackupListing(entries, listed, overhead, f"snapshot {snapshot.short_id}", snapshot, prefix,
                         LISTING_SIZE_SOURCE)


# --- which files --------------------------------------------------------------------------------


def choose_sample(entries: dict[str, FileEntry], limits: RestoreTestSpec, tested: dict[str, float],
                  full: bool) -> list[str]:
    """Given the backup's files, return those to restore: all of them for a full test; else the most
    recently changed first, then the ones tested longest ago (never tested first), within the
    dataset's sample_files and sample_bytes."""
    if full:
        return sorted(entries)
    chosen: list[str] = []
    budget = limits.sample_bytes

    def take(relpath: str) -> None:
        nonlocal budget
        if relpath in chosen or len(chosen) >= limits.sample_files or entries[relpath].size > budget:
            return
        chosen.append(relpath)
        budget -= entries[relpath].size

    recent = sorted(entries.values(), key=lambda e: (-e.mtime, e.relpath))
    for entry in recent[: max(1, limits.sample_files // RECENT_SHARE)]:
        take(entry.relpath)
    for relpath in sorted(entries, key=lambda p: (tested.get(p, 0.0), p)):
        if len(chosen) >= limits.sample_files:
            break
        take(relpath)
    return chosen


# --- restoring ----------------------------------------------------------------------------------


def _escape(pattern: str) -> str:
    # restic matches --include patterns per path component like filepath.Match; escape its wildcards.
    return "".join("\\" + c if c in "\\*?[" else c for c in pattern)


def _restore_restic(context: CopyContext, snapshot_id: str, includes: list[str] | None, scratch: Path,
                    task, verify: bool, timing: dict[str, float] | None = None) -> None:
    """Restore the snapshot (only the `includes`, snapshot paths, when given) into scratch."""
    arguments = restore_arguments(snapshot_id, str(scratch), [_escape(path) for path in includes or ()], verify)
    stop = threading.Event()
    watcher = None
    started = time.monotonic()
    if timing is not None:
        # The restore's own fixed cost: until restic creates its first file, it is opening the
        # repository, loading the index and walking the tree, whatever the size of the data.
        def first_file() -> None:
            while not stop.wait(0.02):
                if _has_file(scratch):
                    timing["first_file_seconds"] = time.monotonic() - started
                    return

        threading.Thread(target=first_file, name="restore-first-file", daemon=True).start()
    if task.owner.enabled:
        # restic 0.14 prints no restore progress we can parse: watch the bytes land instead.
        def watch() -> None:
            while not stop.wait(task.owner.interval):
                task.update(_tree_bytes(scratch))

        watcher = threading.Thread(target=watch, name="restore-progress", daemon=True)
        watcher.start()
    try:
        context.restic.run(*arguments, timeout=context.settings.command_timeout_seconds)
    finally:
        stop.set()
        if watcher:
            watcher.join()


def _has_file(root: Path) -> bool:
    for _, _, files in os.walk(root):
        if files:
            return True
    return False


def _tree_bytes(root: Path) -> int:
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                pass
    return total


def _hash_restored(root: Path, relpaths: list[str], workers: int,
                   progress: Callable[[int], None] | None = None) -> tuple[dict[str, str], dict[str, str], dict[str, int]]:
    """Return (digests, unreadable, sizes) of restored files; a file that is not there is absent from all three."""
    digests: dict[str, str] = {}
    unreadable: dict[str, str] = {}
    sizes: dict[str, int] = {}

    def one(relpath: str) -> None:
        path = root / relpath
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        except OSError as error:
            unreadable[relpath] = error.strerror or str(error)
            return
        sizes[relpath] = st.st_size
        try:
            digests[relpath] = sha256_file(str(path))
        except OSError as error:
            unreadable[relpath] = error.strerror or str(error)
            return
        if progress:
            progress(st.st_size)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="restore-hash") as pool:
        list(pool.map(one, relpaths))
    return digests, unreadable, sizes


# --- the whole test -----------------------------------------------------------------------------


_LISTING_ERRORS = (NothingToRestore, ValueError, ResticError, TargetUnavailable)
ALONGSIDE_VERIFY_SHARE = 0.5  # above this share of changed bytes, one --verify restore beats a confirming second one


def _listing_failed(error: Exception, mode: str) -> RestoreOutcome:
    """The outcome of a listing that could not be had: the copy's problem, never a pass."""
    measured = {"mode": mode}
    if isinstance(error, NothingToRestore):
        return RestoreOutcome(error.status, str(error), measured)
    if isinstance(error, ResticError):
        return RestoreOutcome(Status.ERROR, f"cannot list the backup: {error}", measured)
    if isinstance(error, TargetUnavailable):
        return RestoreOutcome(Status.ERROR, f"cannot list the copy: {error}", measured)
    # ValueError: restic printed something that is not the JSON it documents.
    return RestoreOutcome(Status.ERROR, f"cannot read the backup's listing: {error}", measured)


@dataclass
class _Plan:
    """What is restored and how, decided before the first byte: from the backup's listing, or, for a
    full restic restore, from the primary while restic lists the snapshot alongside the restore."""

    payload: int  # bytes the scratch check sizes the restore by
    comparable: list[str]  # files the primary is hashed for (a superset of those it vouches for)
    restic_verify: bool
    relpaths: list[str] | None = None  # None: everything in the snapshot
    pending: Future | None = None  # the listing alongside the restore
    snapshot: Snapshot | None = None
    sized_by: str = "the backup's listing"


def _plan_from_listing(context: CopyContext, listing: BackupListing, relpaths: list[str],
                       primary_entries: dict[str, FileEntry]) -> _Plan:
    # Which files the primary can vouch for (unchanged since the backup); restic's --verify (a
    # second read of everything restored) is needed only for the others.
    comparable = [p for p in relpaths if _unchanged(context, listing.entries[p], primary_entries.get(p))]
    return _Plan(sum(listing.entries[p].size for p in relpaths), comparable, len(comparable) < len(relpaths),
                 relpaths, snapshot=listing.snapshot)


def _plan_alongside(context: CopyContext, snapshot: Snapshot, pending: Future, primary_entries: dict[str, FileEntry],
                    known_full_size: int) -> _Plan | None:
    """A full restore of a restic snapshot, started before restic has listed it. The scratch check
    takes the larger of the primary's size now and this copy's restore size the last time it was
    listed (the backup of a primary that shrank since is still covered once it was measured); the
    primary files not modified since the snapshot began are hashed while restic restores. None
    when there is nothing to size the restore by (an empty or unreadable primary, never listed):
    then the listing comes first."""
    primary_bytes = sum(e.size for e in primary_entries.values())
    payload = max(primary_bytes, known_full_size)
    if payload <= 0:
        return None
    taken = snapshot.time.timestamp() + SAME_MTIME_SECONDS
    # A file dated in the future is hashed too: _unchanged then holds it against the primary when
    # the backup recorded the same size and mtime.
    now = clock.now()  # the planning moment (context may be absent when planning alone)
    unchanged = [p for p, e in primary_entries.items() if e.mtime <= taken or in_future(e.mtime, now)]
    changed_bytes = primary_bytes - sum(primary_entries[p].size for p in unchanged)
    sized_by = ("the primary's size" if primary_bytes >= known_full_size
                else "this copy's restore size when last listed")
    return _Plan(payload, sorted(unchanged), changed_bytes > ALONGSIDE_VERIFY_SHARE * primary_bytes,
                 pending=pending, snapshot=snapshot, sized_by=sized_by)


def _newest_snapshot(context: CopyContext) -> Snapshot:
    snapshots = context.dataset_snapshots()  # listed by freshness; a failed listing raises again
    if not snapshots:
        raise NothingToRestore("no snapshot of this dataset to restore", Status.FAIL)
    return snapshots[-1]


def _in_background(function, *args) -> Future:
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=function.__name__.strip("_"))
    future = pool.submit(function, *args)
    pool.shutdown(wait=False)  # nobody waits for it on an early return
    return future


def _listing_measured(listing: BackupListing, mode: str) -> dict[str, Any]:
    measured: dict[str, Any] = {"mode": mode, "source": listing.source, "files_in_backup": len(listing.entries),
                                "full_size_bytes": listing.full_size, "full_size_source": listing.size_source,
                                "overhead_seconds": round(listing.overhead_seconds, 3),
                                "listing_seconds": round(listing.overhead_seconds, 3)}
    if listing.snapshot:
        measured["snapshot"] = listing.snapshot.short_id
    return measured


def restore_and_verify(context: CopyContext, *, full: bool, tested: dict[str, float] | None = None,
                       progress: Progress | None = None, known_full_size: int = 0) -> RestoreOutcome:
    """Given a copy (after reachable and freshness ran on its context), restore a sample or all of its
    newest backup into scratch, verify and time it. `known_full_size` is this copy's restore size
    when last listed (0: unknown). Never raises for a problem of the copy: every outcome is a
    status; KeyboardInterrupt (SIGINT, SIGTERM) propagates after the scratch is removed."""
    progress = progress or DISABLED
    spec = context.spec
    mode = "full" if full else "sample"
    if spec.form != "restic" and not context.handle.can_fetch:
        return RestoreOutcome(Status.ERROR, f"restore from a {spec.target.kind} target is not supported by this "
                                            "version yet; the copy's restorability is unproven", {"mode": mode})
    began = time.monotonic()
    # The primary's file list (a scan, over SSH for a remote primary) does not depend on the
    # backup's: take it while restic lists the snapshot.
    primary_scan = _in_background(context.primary.entries)
    pending: Future | None = None
    listing: BackupListing | None = None
    try:
        if spec.form == "restic" and full:
            # A full restore needs no file list to start: restic lists the snapshot alongside the
            # restore (the two key derivations on two cores) instead of before it.
            snapshot = _newest_snapshot(context)
            pending = _in_background(_restic_listing, context, snapshot)
        else:
            listing = list_backup(context)
    except _LISTING_ERRORS as error:
        return _listing_failed(error, mode)
    notes: list[str] = []
    try:
        primary_entries = primary_scan.result()
    except TargetUnavailable as error:
        primary_entries = {}
        notes.append(f"primary unreadable ({error}); compared with the backup's own record only")
    plan = _plan_alongside(context, snapshot, pending, primary_entries, known_full_size) if pending else None
    if pending and plan is None:
        try:
            listing = pending.result()
        except _LISTING_ERRORS as error:
            return _listing_failed(error, mode)
    if plan is None:
        if not listing.entries:
            return RestoreOutcome(Status.FAIL, f"{listing.source} holds no files to restore", {"mode": mode})
        relpaths = choose_sample(listing.entries, context.dataset.restore_test, tested or {}, full)
        if not relpaths:
            return RestoreOutcome(Status.ERROR, f"no file of {listing.source} fits the sample limits "
                                                f"(sample_bytes {format_size(context.dataset.restore_test.sample_bytes)})",
                                  {"mode": mode})
        plan = _plan_from_listing(context, listing, relpaths, primary_entries)
        measured = _listing_measured(listing, mode)
    else:
        measured = {"mode": mode, "listing": "alongside the restore"}
    measured["scratch_sized_by"] = plan.sized_by
    measured["before_restore_seconds"] = round(time.monotonic() - began, 3)
    if plan.snapshot:
        measured["restic_verify"] = plan.restic_verify
    # Every local copy of the dataset, not only the two compared: a restore into another copy's
    # tree would change what that copy's own checks see (agent.config refuses the lexical cases of
    # every dataset up front; this also catches a route through a symlink).
    protected = [copy.path for copy in context.dataset.all_copies if copy.target.paths_on_this_machine]
    if interrupt.cancelled.is_set():
        return RestoreOutcome(Status.ERROR, "interrupted before restoring", measured)
    primary_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="primary-hash")
    timing: dict[str, float] = {}
    label = f"{context.dataset.name}-{spec.target.name}"
    task = progress.task(f"restore {context.dataset.name} from {spec.target.name}", plan.payload)
    try:
        with ScratchDir(context.settings.scratch_dir, label, plan.payload, protected) as scratch:
            # The primary's side of the comparison is hashed while the restore runs.
            def primary_digests():
                hash_started = time.monotonic()
                try:
                    return context.primary.digests(plan.comparable)
                finally:
                    measured["primary_hash_seconds"] = round(time.monotonic() - hash_started, 3)

            primary_hashes = primary_pool.submit(primary_digests) if plan.comparable else None
            started = time.monotonic()
            try:
                if spec.form == "restic":
                    includes = None if plan.relpaths is None or full else [listing.root_prefix + p for p in plan.relpaths]
                    _restore_restic(context, plan.snapshot.id, includes, scratch, task, plan.restic_verify, timing)
                else:
                    context.handle.fetch(spec.path, plan.relpaths, str(scratch / "files"), task.add)
            finally:
                restore_seconds = time.monotonic() - started
                task.close()
            if plan.pending:
                try:
                    listing = plan.pending.result()
                except _LISTING_ERRORS as error:
                    return _listing_failed(error, mode)
                for key, value in _listing_measured(listing, mode).items():
                    measured.setdefault(key, value)  # in place: the primary's hashing thread writes here too
                if not listing.entries:
                    return RestoreOutcome(Status.FAIL, f"{listing.source} holds no files to restore", measured)
                plan.relpaths = sorted(listing.entries)
                hashed = set(plan.comparable)
                plan.comparable = [p for p in plan.relpaths
                                   if p in hashed and _unchanged(context, listing.entries[p], primary_entries.get(p))]
            root = scratch / listing.root_prefix.strip("/") if spec.form == "restic" else scratch / "files"
            if "first_file_seconds" in timing and timing["first_file_seconds"] < restore_seconds:
                # The restore's own fixed cost replaces the listing's (still in listing_seconds) as the overhead.
                measured["overhead_seconds"] = round(timing["first_file_seconds"], 3)
                listing.overhead_seconds = timing["first_file_seconds"]
            verify_started = time.monotonic()
            outcome = _verify(context, listing, plan.relpaths, root, restore_seconds, measured,
                              _Comparison(primary_entries, plan.comparable, primary_hashes, plan.restic_verify, notes,
                                          scratch))
            outcome.measured["verify_seconds"] = round(time.monotonic() - verify_started, 3)
            outcome.backup_files = frozenset(listing.entries)
            return outcome
    except ScratchError as error:
        return RestoreOutcome(Status.ERROR, str(error), measured)
    except ResticError as error:
        if interrupt.cancelled.is_set():
            return RestoreOutcome(Status.ERROR, "interrupted: the restore was stopped by a signal", measured)
        if listing is None and plan.pending:
            try:
                listing = plan.pending.result()
            except _LISTING_ERRORS:
                pass  # the restore's own error is the finding
        status = Status.FAIL if error.kind == ResticFailure.DATA_ERROR else Status.ERROR
        damaged = _restic_failed_files(error.stderr or "", listing.root_prefix if listing else "/",
                                       listing.entries if listing else ())
        named = f" ({len(damaged)} files could not be restored: {name_paths(damaged)})" if damaged else ""
        what = f"{len(plan.relpaths)} files" if plan.relpaths is not None else "all files"
        source = listing.source if listing else f"snapshot {plan.snapshot.short_id}"
        return RestoreOutcome(status, f"restore of {what} from {source} failed{named}: {error}", measured)
    except TargetUnavailable as error:
        return RestoreOutcome(Status.ERROR, f"restore from the copy failed: {error}", measured)
    finally:
        # Normally the primary's hashes were consumed already; after a failure or a signal nobody
        # waits for them (the scratch directory is gone by now either way).
        primary_pool.shutdown(wait=False, cancel_futures=True)


def _restic_failed_files(stderr: str, prefix: str, known: Iterable[str] = ()) -> list[str]:
    """Given a failed restore's stderr, where the backed-up directory sits in the snapshot and the
    files the backup holds, return the dataset-relative paths restic named in its "ignoring error
    for PATH: …" lines, so a damaged pack is reported by the files it took down. A known file is
    found by its whole name (which may hold a newline or ": "); other lines are read up to ": "."""
    failed = {relpath for relpath in known if f"{IGNORING_ERROR}{prefix}{relpath}: " in stderr}
    for line in stderr.splitlines():
        if not line.startswith(IGNORING_ERROR):
            continue
        path = line[len(IGNORING_ERROR):].split(": ", 1)[0]
        relpath = path[len(prefix):] if path.startswith(prefix) else path.lstrip("/")
        # A line cut short by a newline or ": " inside a name already found whole adds nothing.
        if not any(whole.startswith(relpath) and whole[len(relpath):][:1] in ("\n", ":") for whole in failed):
            failed.add(relpath)
    return sorted(failed)


def _confirm_restore_size(context: CopyContext, listing: BackupListing, measured: dict[str, Any]) -> bool:
    """Before a projection from the listing's size fails the RTO, take restic's own restore size
    (hard links counted once). Return whether it replaced the listing's; without it the listing's
    (never smaller) stands."""
    if listing.snapshot is None or listing.size_source == STATS_SIZE_SOURCE:
        return False
    try:
        size = context.restic.stats(listing.snapshot.id, "restore-size").get("total_size")
    except (ResticError, ValueError):
        return False
    if not isinstance(size, int):
        return False
    listing.full_size, listing.size_source = size, STATS_SIZE_SOURCE
    measured.update({"full_size_bytes": size, "full_size_source": STATS_SIZE_SOURCE})
    return True


@dataclass
class _Comparison:
    primary_entries: dict[str, FileEntry]
    comparable: list[str]
    primary_hashes: Future | None
    restic_verified: bool
    notes: list[str]
    scratch: Path


def _unchanged(context: CopyContext, backed_up: FileEntry, primary: FileEntry | None) -> bool:
    """Whether a primary file is unchanged since the backup, so the restored bytes must equal it."""
    if primary is None:
        return False
    if context.spec.form == "restic":
        return primary.size == backed_up.size and abs(primary.mtime - backed_up.mtime) <= SAME_MTIME_SECONDS
    # A plain copy: the primary file was not modified after the copy's last sync. An mtime in the
    # future says nothing about when it changed: such a file is held against the primary too.
    cutoff = (context.last_backup_at.timestamp() if context.last_backup_at else 0.0) + MTIME_SLACK_SECONDS
    return primary.mtime <= cutoff or in_future(primary.mtime, context.now)


def _verify(context: CopyContext, listing: BackupListing, relpaths: list[str], root: Path, restore_seconds: float,
            measured: dict[str, Any], comparison: _Comparison) -> RestoreOutcome:
    spec = context.spec
    label = f"check restored {context.dataset.name} from {spec.target.name}"
    with (context.options.progress or DISABLED).task(label, None) as task:
        digests, unreadable, sizes = _hash_restored(root, relpaths, context.settings.hash_workers, task.add)
    if not sizes and not unreadable:
        return RestoreOutcome(Status.ERROR, f"nothing was restored from {listing.source} "
                                            f"({len(relpaths)} files asked for)", measured)
    backup = listing.entries
    missing = sorted(p for p in relpaths if p not in sizes and p not in unreadable)
    wrong_size = sorted(p for p in digests if sizes[p] != backup[p].size)
    bytes_restored = sum(sizes.values())

    # Which restored files are held against the primary (unchanged since the backup; decided before
    # the restore, hashed during it) and which against the backup's own record.
    notes = comparison.notes
    primary_entries = comparison.primary_entries
    candidates = [p for p in digests if p not in wrong_size]
    chosen = set(comparison.comparable)
    with_primary = [p for p in candidates if p in chosen]
    with_record = [p for p in candidates if p not in chosen]
    differs: list[str] = []
    source_suspect: list[str] = []
    primary_unreadable: dict[str, str] = {}
    if with_primary:
        try:
            primary_hashes = comparison.primary_hashes.result()
        except TargetUnavailable as error:
            primary_hashes = None
            notes.append(f"primary unreadable ({error})")
            with_record += with_primary
            with_primary = []
        if primary_hashes is not None:
            primary_unreadable = {p: r for p, r in primary_hashes.unreadable.items() if p in chosen}
            for p in with_primary:
                theirs = primary_hashes.digests.get(p)
                if theirs is None or theirs == digests[p]:
                    continue
                same_metadata = (primary_entries[p].size == backup[p].size
                                 and abs(primary_entries[p].mtime - backup[p].mtime) <= (
                                     SAME_MTIME_SECONDS if spec.form == "restic" else 1.0))
                if same_metadata:
                    # restic: the confirming --verify below proves the restored bytes are the backed-up
                    # bytes. A plain copy made with its mtimes kept (rsync -a) carries the same evidence
                    # more weakly; files-checksum's own hash history says which side changed.
                    source_suspect.append(p)
                else:
                    differs.append(p)
            if primary_unreadable:
                # Not the restore test's finding (the primary's own checks report it): hold these
                # against the backup's record instead.
                notes.append(f"{len(primary_unreadable)} primary files unreadable "
                             f"({name_paths(list(primary_unreadable))}); held against the backup's record")
                with_primary = [p for p in with_primary if p not in primary_unreadable]
                with_record += [p for p in primary_unreadable if p in digests]
                primary_unreadable = {}
    if spec.form == "restic" and not comparison.restic_verified:
        # The restore ran without --verify (the primary was to vouch for every file). Whatever the
        # primary could not vouch for, and every file about to be blamed on the source, is restored
        # again with --verify so the verdict rests on restic's own check of the backed-up bytes.
        unproven = sorted(set(source_suspect) | set(with_record))
        if unproven:
            _restore_restic(context, listing.snapshot.id, [listing.root_prefix + p for p in unproven],
                            comparison.scratch / "confirm", DISABLED.task("", None), verify=True)
            measured["confirmed_with_restic_verify"] = len(unproven)
    record_mismatch: list[str] = []
    if with_record and spec.form != "restic":
        try:
            outcome = context.handle.hash(spec.path, [backup[p] for p in with_record])
        except TargetUnavailable as error:
            return RestoreOutcome(Status.ERROR, f"cannot hash the copy to compare: {error}", measured)
        record_mismatch = sorted(p for p in with_record
                                 if p in outcome.digests and outcome.digests[p] != digests[p])
        unreadable.update({p: r for p, r in outcome.unreadable.items()})
        not_verified = [p for p in with_record if p not in outcome.digests and p not in outcome.unreadable]
        if not_verified:
            unreadable.update({p: "the copy's hash is not available" for p in not_verified})

    bad = set(missing) | set(wrong_size) | set(differs) | set(source_suspect) | set(record_mismatch)
    verified = sorted(p for p in digests if p not in bad and p not in unreadable and p not in primary_unreadable)

    # Timing and the projection against the RTO.
    transfer_seconds = restore_seconds - listing.overhead_seconds
    if transfer_seconds < MEASURABLE_SHARE * restore_seconds:
        # The fixed cost swamps the data time (a tiny sample): the throughput cannot be told apart
        # from it, so take the whole restore time as data time — a slower rate, a longer
        # projection, never an optimistic one.
        transfer_seconds = restore_seconds
        measured["throughput_conservative"] = True
    transfer_seconds = max(transfer_seconds, 1e-3)
    throughput = bytes_restored / transfer_seconds if bytes_restored else None
    rto = context.dataset.process.rto_seconds

    def project() -> float | None:
        if throughput:
            return listing.overhead_seconds + listing.full_size / throughput
        return listing.overhead_seconds if listing.full_size == 0 else None

    projected = project()
    if projected is not None and projected > rto and _confirm_restore_size(context, listing, measured):
        projected = project()
    if projected is not None:
        # The message and the record carry the same figure, rounded up to the millisecond so the
        # projection never comes out shorter than measured.
        projected = math.ceil(projected * 1000) / 1000
    coverage_bytes = sum(backup[p].size for p in verified)
    measured.update({
        "files": len(verified),
        "files_restored": len(sizes),
        "bytes_restored": bytes_restored,
        "restore_seconds": round(restore_seconds, 3),
        "throughput_bytes_per_second": round(throughput, 1) if throughput else None,
        "projected_restore_seconds": projected,
        "rto_seconds": rto,
        "compared_with_primary": len(with_primary),
        "compared_with_backup_record": len(with_record),
        "sample_bytes_share": round(coverage_bytes / listing.full_size, 4) if listing.full_size else 1.0,
    })

    problems = []
    if missing:
        problems.append(f"{len(missing)} not restored ({name_paths(missing)})")
    if wrong_size:
        problems.append(f"{len(wrong_size)} restored with the wrong size ({name_paths(wrong_size)})")
    if differs:
        problems.append(f"{len(differs)} restored files differ from the primary ({name_paths(differs)})")
    if record_mismatch:
        problems.append(f"{len(record_mismatch)} restored files differ from the copy itself ({name_paths(record_mismatch)})")
    if source_suspect:
        problems.append(f"suspected corruption at the source: primary content differs from the backup while size "
                        f"and mtime are unchanged ({name_paths(source_suspect)})")
    timing = (f"{format_size(bytes_restored)} in {restore_seconds:.2f}s"
              + (f" ({format_size(throughput)}/s, overhead {listing.overhead_seconds:.2f}s)" if throughput else ""))
    if projected is not None:
        projection = (f"projected full restore of {format_size(listing.full_size)}: {format_duration(projected)} "
                      f"({projected:.1f}s) against RTO {format_duration(rto)} ({rto:g}s)")
        if projected > rto:
            problems.append(f"projected full restore {projected:.1f}s ({format_duration(projected)}) exceeds the RTO "
                            f"{rto:g}s ({format_duration(rto)}) at the measured {format_size(throughput or 0)}/s")
    else:
        projection = "full restore time cannot be projected: no bytes were restored"
    what = f"restored {len(sizes)} of {len(relpaths)} files from {listing.source}, {timing}"
    all_unreadable = {**unreadable, **primary_unreadable}
    content_ok = not bad and not all_unreadable and len(verified) == len(relpaths)
    if problems:
        return RestoreOutcome(Status.FAIL, "; ".join(problems) + f" — {what}", measured, verified, content_ok=content_ok)
    if all_unreadable:
        return RestoreOutcome(Status.ERROR, f"{len(all_unreadable)} files could not be compared "
                                            f"({name_paths(list(all_unreadable))}) — {what}", measured, verified)
    if projected is None:
        return RestoreOutcome(Status.ERROR, f"{projection} — {what}", measured, verified)
    proof = f"all {len(verified)} match ({len(with_primary)} the primary, {len(with_record)} the backup's own record)"
    detail = f"{what}: {proof}; {projection}"
    notes += _future_notes(context, listing, primary_entries, relpaths, measured)
    if notes:
        detail += "; " + "; ".join(notes)
    if listing.snapshot and in_future(listing.snapshot.time, context.now):
        # Which snapshot is the newest cannot be told when one is dated ahead of the clock: the
        # restore proved this one, not that the latest backup restores.
        return RestoreOutcome(Status.ERROR, f"{detail}; but snapshot {listing.snapshot.short_id} is dated "
                                            f"{iso(listing.snapshot.time)}, in the future, so it may not be the newest "
                                            "backup", measured, verified, content_ok=True)
    return RestoreOutcome(Status.PASS, detail, measured, verified, content_ok=True)


def _future_notes(context: CopyContext, listing: BackupListing, primary_entries: dict[str, FileEntry],
                  relpaths: list[str], measured: dict[str, Any]) -> list[str]:
    """Name the restored files the primary dates in the future (held against the primary all the
    same) and count them in measured; [] when there are none."""
    future = sorted(p for p in relpaths if p in primary_entries and in_future(primary_entries[p].mtime, context.now))
    measured["primary_files_future_dated"] = len(future)
    if not future:
        return []
    return [f"{len(future)} primary files dated in the future (beyond now + {format_duration(CLOCK_SKEW_SECONDS)}), "
            f"compared all the same: {name_paths(future)}"]
