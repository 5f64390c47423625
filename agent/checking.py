"""What a check receives: one copy, its target handle, the primary's manifest, and run-wide settings.

Facts one check learns and the next needs are kept on the context so no check repeats another's
I/O: the probe and the last backup time as fields, the copy's file list and the restic snapshot
lists through accessors that read them once per copy (a listing that failed is not repeated: it
would fail the same way, after as long a wait).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from agent.config import AgentSettings, CopySpec, Dataset
from agent.errors import TargetUnavailable
from agent.hashing import FileEntry, HashOutcome
from agent.manifest import Manifest
from agent.progress import DISABLED, Progress
from agent.restic import ResticError, ResticRepository, Snapshot, select_snapshots
from agent.state import StateStore
from agent.targets.base import Probe, TargetHandle

# A plain copy's mtimes are compared with its last sync time this loosely: FAT/exFAT and some
# rsync setups round mtimes to 2 s (files-checksum and the restore test's content proof).
MTIME_SLACK_SECONDS = 2.0
_Value = TypeVar("_Value")


@dataclass(frozen=True)
class RunOptions:
    restore_test: str | None = None  # None, "sample" or "full"
    progress: Progress | None = None  # on a terminal: long steps are drawn; None = quiet
    dry_run: bool = False  # verify --dry-run: the hash cache is read, never written


class PrimaryManifest:
    """The primary's file list and hashes for one dataset, computed once per run and shared by
    every copy's files-checksum (concurrent copies wait for the first to finish).

    A digest read this run is kept by the hash cache (stamped with the run's time), where a second
    copy's look-up finds it without reading the file again; only where the cache keeps nothing
    (verify --dry-run) or the kind hashes everything in one call (s3: a sample budget per call)
    are the digests kept here. Unreadable and silently changed files are remembered here."""

    def __init__(self, dataset: Dataset, handle: TargetHandle):
        self.dataset = dataset
        self.handle = handle
        self._lock = threading.Lock()
        self._entries: Mapping[str, FileEntry] | None = None
        self._kept: dict[str, str] = {}
        self._problems: dict[str, str] = {}
        self._silently_changed: set[str] = set()

    def entries(self) -> Mapping[str, FileEntry]:
        with self._lock:
            if self._entries is None:
                self._entries = self.handle.scan(self.dataset.primary.path)
            return self._entries

    def digests(self, relpaths: list[str], progress: Progress | None = None) -> HashOutcome:
        """Return hashes for the given primary files, hashing only those not hashed yet this run."""
        entries = self.entries()
        wanted = [entries[p] for p in relpaths]
        label = f"hash {self.dataset.name} primary on {self.handle.target.name}"
        with (progress or DISABLED).task(label, None) as task:
            return self.hash_entries(wanted, task.add)

    def hash_entries(self, wanted: list[FileEntry], progress: Callable[[int], None] | None = None) -> HashOutcome:
        """Return hashes for the given primary files (entries of entries()); bytes_read and
        bytes_reread say what this call read, 0 for files another copy had read already."""
        keep = self.handle.context.hash_cache.read_only or not self.handle.hash_chunk
        with self._lock:
            todo = [e for e in wanted if e.relpath not in self._problems and e.relpath not in self._kept]
            outcome = self.handle.hash(self.dataset.primary.path, todo, progress=progress) if todo else None
            digests: dict[str, str] = {}
            if outcome is not None:
                self._problems.update(outcome.unreadable)
                self._silently_changed.update(outcome.silently_changed)
                digests = outcome.digests
                if keep:
                    self._kept.update(outcome.digests)
            if self._kept:
                digests = {**{e.relpath: self._kept[e.relpath] for e in wanted if e.relpath in self._kept}, **digests}
            names = {e.relpath for e in wanted}
            return HashOutcome(
                {p: d for p, d in digests.items() if p in names},
                {p: r for p, r in self._problems.items() if p in names},
                sorted(self._silently_changed & names),
                outcome.bytes_read if outcome else 0,
                outcome.files_from_cache if outcome else 0,
                bytes_reread=outcome.bytes_reread if outcome else 0,
            )


class PerRepository:
    """What is computed once per restic repository per run and given to every copy stored in it
    (two datasets in one repository, or two routes to it): a value per repository URL, computed by
    the first copy that asks while the others wait. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], list] = {}

    def once(self, what: str, repository: str, compute: Callable[[], _Value]) -> tuple[_Value, bool]:
        """Return (the value, whether this call computed it)."""
        with self._lock:
            entry = self._entries.setdefault((what, repository), [threading.Lock(), None, False])
        with entry[0]:
            if not entry[2]:
                entry[1], entry[2] = compute(), True
                return entry[1], True
            return entry[1], False


@dataclass
class CopyContext:
    dataset: Dataset
    spec: CopySpec
    handle: TargetHandle
    primary: PrimaryManifest
    settings: AgentSettings
    state: StateStore
    now: datetime
    options: RunOptions
    restic: ResticRepository | None = None
    probe: Probe | None = None
    last_backup_at: datetime | None = None
    # The restore test's validation (agent.validate.Validation, or why it did not run) for
    # checks/restore_validate.py; None when no restore test ran on this copy this time.
    restore_validation: Any = None
    # The run's once-per-repository results (agent.run.Session); None: each check runs its own
    # restic command (a check run alone, as the unit tests do).
    per_repository: PerRepository | None = None
    # What the accessors below have read: a value, or the error reading it raised.
    _read: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _reading: Any = field(default_factory=threading.RLock, init=False, repr=False)

    def copy_entries(self, *, without_stamp: bool = False) -> Mapping[str, FileEntry]:
        """The copy's files by relative path, listed once per copy; `without_stamp` leaves out the
        sync stamp (bookkeeping, not data). Raise TargetUnavailable."""
        entries = self._once("entries", lambda: self.handle.scan(self.spec.path))
        if without_stamp and self.spec.stamp:
            if isinstance(entries, Manifest):
                return entries.hiding(self.spec.stamp)
            return {p: e for p, e in entries.items() if p != self.spec.stamp}
        return entries

    def repository_snapshots(self) -> list[Snapshot]:
        """Every snapshot in the copy's restic repository (all datasets), listed once. Raise ResticError
        (ValueError for a copy that is not a restic repository: a caller's mistake)."""
        if self.restic is None:
            raise ValueError(f"{self.spec.key} is not a restic copy")
        return self._once("repository_snapshots", self.restic.snapshots)

    def dataset_snapshots(self) -> list[Snapshot]:
        """This dataset's snapshots (its snapshot_filter), oldest first. Raise ResticError."""
        return self._once("dataset_snapshots",
                          lambda: select_snapshots(self.repository_snapshots(), self.spec.snapshot_filter))

    def _once(self, name: str, read: Callable[[], _Value]) -> _Value:
        with self._reading:
            if name not in self._read:
                try:
                    self._read[name] = read()
                except (TargetUnavailable, ResticError) as error:
                    self._read[name] = error
            value = self._read[name]
        if isinstance(value, Exception):
            raise value
        return value

    def task(self, step: str, total: int | None = None):
        """A progress line for a long step on this copy ("hash", "restic check"…), drawn on a
        terminal only; use as a context manager."""
        return (self.options.progress or DISABLED).task(f"{step} {self.dataset.name} on {self.spec.target.name}", total)
