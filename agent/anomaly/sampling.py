"""Which changed files are read for the entropy measure: files with a previous version first
(modified ones, renamed ones), then new ones, each group in an order fixed by a hash of the path
(the same files are not always the ones read, and no name decides it), within the dataset's
anomaly.sample_files and sample_bytes. Empty files are left out: they say nothing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from agent.anomaly.signals import Change, previous_versions
from agent.checking import CopyContext
from agent.config_model import AnomalySpec
from agent.scratch import ScratchDir


@dataclass(frozen=True)
class Candidate:
    relpath: str  # in the newest backup
    previous: str | None  # its previous version's path in the base backup (None: a new file)
    size: int


def candidates(change: Change, sizes: dict[str, int]) -> list[Candidate]:
    """Every changed file of the newest backup that could be sampled, with its previous version."""
    renamed = previous_versions(change)
    found = [Candidate(p, p, sizes.get(p, 0)) for p in change.modified]
    found += [Candidate(p, renamed.get(p), sizes.get(p, 0)) for p in change.added]
    return found


def choose(found: list[Candidate], spec: AnomalySpec) -> list[Candidate]:
    def order(candidate: Candidate) -> tuple[bool, str]:
        return candidate.previous is None, hashlib.sha256(candidate.relpath.encode("utf-8", "surrogateescape")).hexdigest()

    chosen: list[Candidate] = []
    budget = spec.sample_bytes
    for candidate in sorted(found, key=order):
        if len(chosen) >= spec.sample_files:
            break
        if 0 < candidate.size <= budget:
            chosen.append(candidate)
            budget -= candidate.size
    return chosen


def scratch(context: CopyContext, payload: int) -> ScratchDir:
    """A private scratch directory for the samples of one copy (agent.scratch: space checked first,
    never inside a copy, removed afterwards). Raise ScratchError on entry."""
    protected = [copy.path for copy in context.dataset.all_copies if copy.target.paths_on_this_machine]
    return ScratchDir(context.settings.scratch_dir, f"anomaly-{context.dataset.name}-{context.spec.target.name}",
                      payload, protected)
