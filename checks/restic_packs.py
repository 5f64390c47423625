"""restic-packs: every file of a restic repository named by the SHA-256 of its content (packs under
data/, index/, snapshots/, keys/) is hashed where it lies and compared with its name — without the
password and, on an SSH target, without moving the bytes (the host's `sha256sum`; only digests
cross the network); on S3 through the objects' full SHA-256 checksums where the bucket keeps them,
else downloaded within the target's sample budget.

It uses the agent's incremental hashing: a file appearing since the last run (a new backup's
packs) has no digest in the hash cache and is read that run; an unchanged one is read again on its
night of the agent.rehash_every cycle (spread by bytes, agent.hashing.reread_slots) or when its
digest expires, so every file is re-read within the cycle. Coverage is the share of the
repository's files and bytes whose content was hashed within that cycle and matched — counted
from when each was really read, never from groups.

A file whose content does not hash to its name fails, named with what it holds (pack, index,
snapshot, key); a file that cannot be read, or that the sample budget left unverified, is an error.
`restic check` (restic-structure, restic-read-data) keeps its place: it proves the structure and,
with the password, that blobs decrypt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.checking import CopyContext
from agent.clock import in_future
from agent.errors import TargetUnavailable
from agent.hashing import FileEntry, HashOutcome
from agent.models import CheckResult, Status
from agent.restic.layout import RepositoryFiles, describe, expected_digest, sort_files
from agent.units import format_size

ID = "restic-packs"
FORMS = ("restic",)
ROLES = ("primary", "backup")
NAMED = 3  # files named in a detail before the rest are counted


@dataclass
class Coverage:
    """The repository's files and bytes, those hashed within the cycle and matching, those read this run."""

    files: int = 0
    bytes: int = 0
    files_covered: int = 0
    bytes_covered: int = 0
    files_read: int = 0
    bytes_read: int = 0

    def measured(self) -> dict[str, Any]:
        return {
            "files": self.files, "bytes": self.bytes,
            "files_covered": self.files_covered, "bytes_covered": self.bytes_covered,
            "files_read": self.files_read, "bytes_read": self.bytes_read,
            "pack_coverage_ratio": round(self.files_covered / self.files, 4) if self.files else 0.0,
            "pack_coverage_bytes_ratio": round(self.bytes_covered / self.bytes, 4) if self.bytes else 0.0,
        }


def run(context: CopyContext) -> CheckResult:
    try:
        files = sort_files(context.copy_entries())
    except TargetUnavailable as error:
        return CheckResult(ID, Status.ERROR, f"cannot list the repository's files: {error}")
    if not files.named:
        return CheckResult(ID, Status.ERROR, "no restic repository file (data/, index/, snapshots/, keys/) under "
                           f"{context.spec.path}: nothing to prove")
    try:
        outcome = _hash(context, files.named)
    except TargetUnavailable as error:
        return CheckResult(ID, Status.ERROR, f"cannot hash the repository's files: {error}")
    return judge(files, outcome, context.now.timestamp(), context.settings.rehash_every_seconds)


def judge(files: RepositoryFiles, outcome: HashOutcome, now: float, cycle: float) -> CheckResult:
    """The verdict on a repository's hashed files (pure: the unit tests' table)."""
    mismatched = sorted(p for p, d in outcome.digests.items() if d != expected_digest(p))
    coverage = count(files.named, outcome, now, cycle, set(mismatched))
    measured = {**coverage.measured(), "mismatched": len(mismatched), "unreadable": len(outcome.unreadable),
                "not_verified": len(outcome.not_verified), "in_flight": len(files.in_flight),
                "strays": len(files.strays)}
    for method in sorted(set(outcome.methods.values())):
        measured[f"verified_by_{method}"] = sum(1 for m in outcome.methods.values() if m == method)
    covered = (f"coverage {measured['pack_coverage_ratio']:.0%} of {coverage.files} files, "
               f"{measured['pack_coverage_bytes_ratio']:.0%} of {format_size(coverage.bytes)} hashed within the cycle; "
               f"{coverage.files_read} files ({format_size(coverage.bytes_read)}) read this run")
    if mismatched:
        named = "; ".join(f"{describe(p)} hashes to {outcome.digests[p][:16]}…" for p in mismatched[:NAMED])
        return CheckResult(ID, Status.FAIL, f"{len(mismatched)} repository file(s) do not hash to their names: "
                           f"{named}{_more(mismatched)}{_unreadable(outcome)}; {covered}", measured)
    if outcome.unreadable:
        return CheckResult(ID, Status.ERROR, f"{_unreadable(outcome)[2:]}; {covered}", measured)
    if outcome.not_verified:
        left = outcome.not_verified
        return CheckResult(ID, Status.ERROR, f"{len(left)} repository file(s) not verified this run, left by the "
                           f"target's sample budget (sample_bytes): {', '.join(left[:NAMED])}{_more(left)}; a new "
                           f"backup's packs must be hashed the night they appear; {covered}", measured)
    notes = "".join(f"; {n} {what} not compared" for n, what in (
        (len(files.in_flight), "file(s) restic is still writing"), (len(files.strays), "stray file(s) not named by a hash"))
        if n)
    return CheckResult(ID, Status.PASS, f"{coverage.files} repository files hash to their names{notes}; {covered}",
                       measured)


def count(named: list[FileEntry], outcome: HashOutcome, now: float, cycle: float, mismatched: set[str]) -> Coverage:
    """Count the files and bytes hashed within the cycle (and matching) and those read this run."""
    coverage = Coverage(files=len(named), bytes=sum(e.size for e in named), bytes_read=outcome.bytes_read)
    for entry in named:
        when = outcome.read_at.get(entry.relpath)
        if when is None or entry.relpath in mismatched or entry.relpath not in outcome.digests:
            continue
        if when >= now:
            coverage.files_read += 1
        if now - when < cycle and not in_future(when, now):
            coverage.files_covered += 1
            coverage.bytes_covered += entry.size
    return coverage


def _hash(context: CopyContext, named: list[FileEntry]) -> HashOutcome:
    """Hash the files a chunk at a time (the handle's hash_chunk); return the outcomes merged."""
    chunk = context.handle.hash_chunk or len(named)
    merged = HashOutcome({}, {}, [], 0, 0)
    with context.task("hash restic repository files", sum(e.size for e in named)) as task:
        for start in range(0, len(named), chunk):
            merged = merged.merged(context.handle.hash(context.spec.path, named[start:start + chunk],
                                                       progress=task.add))
    return merged


def _more(names: list[str]) -> str:
    return f" and {len(names) - NAMED} more" if len(names) > NAMED else ""


def _unreadable(outcome: HashOutcome) -> str:
    if not outcome.unreadable:
        return ""
    items = sorted(outcome.unreadable.items())
    named = "; ".join(f"{describe(p)}: {why}" for p, why in items[:NAMED])
    return f"; {len(items)} repository file(s) could not be read: {named}{_more([p for p, _ in items])}"
