"""The anomaly check's view of a restic copy: its snapshots of the dataset are the backups; what
changed comes from `restic diff` between the last clean snapshot and the newest (content
compared by restic, whatever the mtimes say); the sampled files and their previous versions are
restored (`restic restore --include`) into a private scratch directory and their first 64 KiB
measured there."""

from __future__ import annotations

from pathlib import Path

from agent.anomaly import sampling
from agent.anomaly.content import Head, measure_file
from agent.anomaly.sampling import Candidate, candidates
from agent.anomaly.signals import Change, Pair, extension
from agent.anomaly.state import Backup
from agent.checking import CopyContext
from agent.clock import iso
from agent.config_model import AnomalySpec
from agent.restic import Snapshot
from agent.restic.diff import diff_arguments, parse_diff
from agent.restore.listing import restic_listing
from agent.restore.restoring import restore_restic


class ResticSource:
    """Raise ResticError (or ValueError for output restic does not document) from any method."""

    first_look_note = "only one snapshot of this dataset so far"

    def __init__(self, context: CopyContext):
        self.context = context
        self.snapshots = context.dataset_snapshots()
        self.entries: dict = {}
        self.prefix = "/"

    def newest(self) -> Backup | None:
        return _backup(self.snapshots[-1]) if self.snapshots else None

    def has(self, backup: Backup) -> bool:
        return any(s.id == backup.id for s in self.snapshots)

    def previous(self) -> Backup | None:
        """The snapshot before the newest, when no clean one is known: the base of a first comparison."""
        if len(self.snapshots) < 2:
            return None
        backup = _backup(self.snapshots[-2])
        return Backup(backup.id, backup.label, backup.time, {"judged": False})

    def first_look(self, newest: Backup, spec: AnomalySpec) -> Backup:
        return newest

    def remembered(self, newest: Backup, canary_hashes: dict, spec: AnomalySpec) -> Backup:
        return newest  # restic keeps the snapshot itself

    def compare(self, base: Backup, newest: Backup) -> tuple[Change, list[Candidate]]:
        diff = parse_diff(self.context.restic.run(*diff_arguments(base.id, newest.id),
                                                  timeout=self.context.settings.command_timeout_seconds))
        listing = restic_listing(self.context, next(s for s in self.snapshots if s.id == newest.id))
        self.entries, self.prefix = listing.entries, listing.root_prefix
        added = [r for r in self._relative(diff.added) if r in self.entries]
        modified = [r for r in self._relative(diff.modified) if r in self.entries]
        removed = self._relative(diff.removed)
        kept = set(self.entries) - set(added)
        statistics = diff.statistics
        change = Change(len(kept) + len(removed), tuple(sorted(added)), tuple(sorted(modified)), tuple(sorted(removed)),
                        frozenset(extension(p) for p in (*kept, *removed)),
                        int((statistics.get("added") or {}).get("bytes", 0)),
                        int((statistics.get("removed") or {}).get("bytes", 0)))
        return change, candidates(change, {p: e.size for p, e in self.entries.items()})

    def _relative(self, paths: list[str]) -> list[str]:
        return [p[len(self.prefix):] for p in paths if p.startswith(self.prefix)]

    def measure(self, base: Backup, newest: Backup, chosen: list[Candidate]) -> list[Pair]:
        """Restore the chosen files from the newest snapshot and their previous versions from the
        base (about as large: twice the bytes are reserved), and measure them. Raise ScratchError."""
        if not chosen:
            return []  # an empty include list would restore the whole snapshot
        with sampling.scratch(self.context, 2 * sum(c.size for c in chosen)) as scratch:
            return self._measure(base, newest, chosen, scratch)

    def _measure(self, base: Backup, newest: Backup, chosen: list[Candidate], scratch: Path) -> list[Pair]:
        timeout = self.context.settings.command_timeout_seconds
        restore_restic(self.context.restic, newest.id, [self.prefix + c.relpath for c in chosen], scratch / "new",
                       verify=False, timeout=timeout)
        olds = [c.previous for c in chosen if c.previous]
        if olds:
            restore_restic(self.context.restic, base.id, [self.prefix + p for p in olds], scratch / "old",
                           verify=False, timeout=timeout)
        root = self.prefix.strip("/")
        pairs = []
        for candidate in chosen:
            new = _head(scratch / "new" / root / candidate.relpath)
            if new is None:
                continue
            old = _head(scratch / "old" / root / candidate.previous) if candidate.previous else None
            pairs.append(Pair(candidate.relpath, candidate.previous, new, old))
        return pairs

    def canaries(self, base: Backup, change: Change, spec: AnomalySpec) -> tuple[list[str], dict]:
        """Findings about the canaries (restic compared their content), and nothing to remember."""
        findings = []
        for canary in spec.canaries:
            if canary in change.modified:
                findings.append(f"canary {canary} changed")
            elif canary in change.removed:
                findings.append(f"canary {canary} was removed")
            elif canary not in self.entries:
                findings.append(f"canary {canary} is not in the backup (anomaly.canaries)")
        return findings, {}


def _backup(snapshot: Snapshot) -> Backup:
    return Backup(snapshot.id, f"snapshot {snapshot.short_id}", iso(snapshot.time))


def _head(path: Path) -> Head | None:
    try:
        return measure_file(path)
    except OSError:
        return None
