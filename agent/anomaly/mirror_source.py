"""The anomaly check's view of a plain copy (files, objects): the backup is the copy as the agent
finds it; its previous version is the agent's own manifest of the copy at the last clean run
(path, size, mtime, and the measured head of the files it sampled), kept in the state file.

What changed: files added, removed, or with another size or mtime than in the manifest (what a
sync copies; content rewritten under the same size and mtime is files-checksum's finding). The
sampled files are fetched into a private scratch directory (the target's own fetch, as a restore
test does) and measured; their previous heads come from the manifest, where measured. Each run
also measures a few files the manifest has no head for yet, so the previous versions of later
changes are known. Canaries are hashed where the copy lives, every run.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from agent.anomaly import sampling
from agent.anomaly.content import Head, measure_file
from agent.anomaly.sampling import Candidate, candidates, choose
from agent.anomaly.signals import Change, Pair, extension
from agent.anomaly.state import Backup
from agent.checking import CopyContext
from agent.clock import iso
from agent.config_model import AnomalySpec
from agent.errors import TargetUnavailable
from agent.hashing import FileEntry
from agent.scratch import ScratchError


class MirrorSource:
    """Raise TargetUnavailable from any method that reads the copy."""

    first_look_note = "the first look at this copy: its manifest is recorded"

    def __init__(self, context: CopyContext):
        self.context = context
        self.entries: dict[str, FileEntry] = context.copy_entries(without_stamp=True)
        self.measured: dict[str, Head] = {}
        self.base_manifest: dict[str, list[Any]] = {}

    def newest(self) -> Backup:
        digest = hashlib.sha256()
        for path in sorted(self.entries):
            entry = self.entries[path]
            digest.update(f"{path}\0{entry.size}\0{entry.mtime_ns}\n".encode("utf-8", "surrogateescape"))
        synced = self.context.last_backup_at
        label = f"the {self.context.spec.form} copy as synced (manifest {digest.hexdigest()[:8]})"
        return Backup(f"manifest:{digest.hexdigest()[:16]}", label, iso(synced) if synced else None)

    def has(self, backup: Backup) -> bool:
        return "manifest" in backup.extra

    def previous(self) -> Backup | None:
        return None

    def first_look(self, newest: Backup, spec: AnomalySpec) -> Backup:
        """The newest backup with its manifest, a first sample of heads and the canaries' hashes.
        The sample only seeds later comparisons: one that cannot be taken is noted, not an error.
        Raise TargetUnavailable (the canaries cannot be hashed)."""
        self.base_manifest = {}
        chosen = choose([Candidate(p, None, e.size) for p, e in self.entries.items()], spec)
        try:
            self._fetch(chosen)
        except (ScratchError, TargetUnavailable) as error:
            self.first_look_note += f" (no file sampled yet: {error})"
        return self.remembered(newest, {}, spec)

    def compare(self, base: Backup, newest: Backup) -> tuple[Change, list[Candidate]]:
        manifest = base.extra["manifest"]
        added = sorted(p for p in self.entries if p not in manifest)
        removed = sorted(p for p in manifest if p not in self.entries)
        modified = sorted(p for p, e in self.entries.items()
                          if p in manifest and (manifest[p][0], manifest[p][1]) != (e.size, e.mtime_ns))
        change = Change(len(manifest), tuple(added), tuple(modified), tuple(removed),
                        frozenset(extension(p) for p in manifest),
                        sum(self.entries[p].size for p in (*added, *modified)),
                        sum(manifest[p][0] for p in removed))
        self.base_manifest = manifest
        return change, candidates(change, {p: e.size for p, e in self.entries.items()})

    def measure(self, base: Backup, newest: Backup, chosen: list[Candidate]) -> list[Pair]:
        """Fetch and measure the chosen files, and with what budget is left a few the manifest has no
        head for yet; previous heads come from the manifest. Raise ScratchError, TargetUnavailable."""
        spec = self.context.dataset.anomaly
        left = spec.sample_bytes - sum(c.size for c in chosen)
        taken = {c.relpath for c in chosen}
        unmeasured = [Candidate(p, None, e.size) for p, e in self.entries.items()
                      if p not in taken and p in self.base_manifest and self.base_manifest[p][2] is None]
        filler = choose(unmeasured, dataclasses.replace(spec, sample_files=spec.sample_files - len(chosen),
                                                        sample_bytes=max(0, left)))
        self._fetch([*chosen, *filler])
        pairs = []
        for candidate in chosen:
            new = self.measured.get(candidate.relpath)
            if new is None:
                continue
            old = _head(self.base_manifest.get(candidate.previous)) if candidate.previous else None
            pairs.append(Pair(candidate.relpath, candidate.previous, new, old))
        return pairs

    def _fetch(self, chosen: list[Candidate]) -> None:
        """Fetch the chosen files into a scratch directory and measure them."""
        if not chosen:
            return
        with sampling.scratch(self.context, sum(c.size for c in chosen)) as scratch:
            self.context.handle.fetch(self.context.spec.path, [c.relpath for c in chosen], str(scratch / "new"))
            for candidate in chosen:
                try:
                    self.measured[candidate.relpath] = measure_file(scratch / "new" / candidate.relpath)
                except OSError:
                    pass

    def canaries(self, base: Backup, change: Change, spec: AnomalySpec) -> tuple[list[str], dict[str, str]]:
        """Findings about the canaries (hashed where the copy lives) and their hashes now."""
        hashes = self._canary_hashes(spec)
        before = base.extra.get("canaries") or {}
        findings = []
        for canary in spec.canaries:
            if canary not in self.entries:
                findings.append(f"canary {canary} was removed" if canary in before
                                else f"canary {canary} is not in the copy (anomaly.canaries)")
            elif canary in change.modified or (canary in before and hashes.get(canary) != before[canary]):
                findings.append(f"canary {canary} changed")
        return findings, hashes

    def _canary_hashes(self, spec: AnomalySpec) -> dict[str, str]:
        present = [self.entries[c] for c in spec.canaries if c in self.entries]
        if not present:
            return {}
        return dict(self.context.handle.hash(self.context.spec.path, present).digests)

    def remembered(self, newest: Backup, canary_hashes: dict[str, str], spec: AnomalySpec) -> Backup:
        """The newest backup with what the next comparison needs: its manifest (heads carried over
        for unchanged files, measured ones for the sampled) and its canaries' hashes."""
        old = getattr(self, "base_manifest", {})
        manifest: dict[str, list[Any]] = {}
        for path, entry in self.entries.items():
            head = self.measured.get(path)
            kept = old.get(path)
            if head is None and kept and (kept[0], kept[1]) == (entry.size, entry.mtime_ns):
                manifest[path] = kept
            else:
                manifest[path] = [entry.size, entry.mtime_ns, *_stored(head)]
        hashes = canary_hashes or (self._canary_hashes(spec) if spec.canaries else {})
        return Backup(newest.id, newest.label, newest.time, {**newest.extra, "manifest": manifest, "canaries": hashes})


def _stored(head: Head | None) -> list[Any]:
    return [head.entropy, head.format, head.size] if head else [None, None, None]


def _head(row: list[Any] | None) -> Head | None:
    if not row or row[2] is None:
        return None
    return Head(row[2], row[3], row[4])
