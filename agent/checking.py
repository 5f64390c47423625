"""What a check receives: one copy, its target handle, the primary's manifest, and run-wide settings.

Facts one check learns and the next needs (the probe, the snapshot list, the last backup time)
are kept on the context so no check repeats another's I/O.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.config import AgentSettings, CopySpec, Dataset
from agent.hashing import FileEntry, HashOutcome
from agent.progress import DISABLED, Progress
from agent.restic import ResticRepository
from agent.state import StateStore
from agent.targets.base import Probe, TargetHandle


@dataclass(frozen=True)
class RunOptions:
    restore_test: str | None = None  # None, "sample" or "full"
    progress: Progress | None = None  # on a terminal: long steps are drawn; None = quiet
    dry_run: bool = False  # verify --dry-run: the hash cache is read, never written


class PrimaryManifest:
    """The primary's file list and hashes for one dataset, computed once per run and shared by
    every copy's files-checksum (concurrent copies wait for the first to finish)."""

    def __init__(self, dataset: Dataset, handle: TargetHandle):
        self.dataset = dataset
        self.handle = handle
        self._lock = threading.Lock()
        self._entries: dict[str, FileEntry] | None = None
        self._digests: dict[str, str] = {}
        self._problems: dict[str, str] = {}
        self._silently_changed: set[str] = set()

    def entries(self) -> dict[str, FileEntry]:
        with self._lock:
            if self._entries is None:
                self._entries = self.handle.scan(self.dataset.primary.path)
            return self._entries

    def digests(self, relpaths: list[str], progress: Progress | None = None) -> HashOutcome:
        """Return hashes for the given primary files, hashing only those not hashed yet this run."""
        entries = self.entries()
        with self._lock:
            missing = [entries[p] for p in relpaths if p not in self._digests and p not in self._problems]
            if missing:
                label = f"hash {self.dataset.name} primary on {self.handle.target.name}"
                with (progress or DISABLED).task(label, None) as task:
                    outcome = self.handle.hash(self.dataset.primary.path, missing, progress=task.add)
                self._digests.update(outcome.digests)
                self._problems.update(outcome.unreadable)
                self._silently_changed.update(outcome.silently_changed)
            wanted = set(relpaths)
            return HashOutcome(
                {p: d for p, d in self._digests.items() if p in wanted},
                {p: r for p, r in self._problems.items() if p in wanted},
                sorted(self._silently_changed & wanted),
                0,
                0,
            )


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
    facts: dict[str, Any] = field(default_factory=dict)

    def task(self, step: str, total: int | None = None):
        """A progress line for a long step on this copy ("hash", "restic check"…), drawn on a
        terminal only; use as a context manager."""
        return (self.options.progress or DISABLED).task(f"{step} {self.dataset.name} on {self.spec.target.name}", total)
