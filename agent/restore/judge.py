"""The content verdict on what a restore brought back, in small steps, each returning a small
frozen value: what came back (restoring.hash_restored), what it is held against (the primary or
the backup's own record), restic's --verify where the primary cannot vouch, the plain copy's own
hashes, the findings, and the verdict with the projection against the RTO.

Content proof, per restored file:
- where the primary file is unchanged since the backup, the restored bytes must equal the primary's;
- otherwise they are held against the backup's own record: restic's `restore --verify` (every
  restored blob re-hashed against the repository) plus the size in `restic ls`; for a plain copy,
  the copy's own hash, computed where the copy lives.
- a primary file whose content differs while its size and mtime equal the backup's is reported as
  suspected corruption at the source: restic proved the restored bytes are what was backed up.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.checking import CopyContext, PrimaryManifest
from agent.clock import CLOCK_SKEW_SECONDS, in_future, iso
from agent.errors import TargetUnavailable
from agent.hashing import FileEntry, HashOutcome
from agent.models import Status
from agent.output import name_paths
from agent.progress import DISABLED
from agent.restore.model import BackupListing, RestoreOutcome
from agent.restore.plan import SAME_MTIME_SECONDS
from agent.restore.project import Projection, project, restic_restore_size
from agent.restore.restoring import Restored, hash_restored, restore_restic
from agent.units import format_duration


@dataclass(frozen=True)
class PrimaryHashes:
    """The primary's side of the comparison, hashed on its own thread while the restore runs."""

    outcome: HashOutcome | None
    error: TargetUnavailable | None
    seconds: float


def hash_primary(primary: PrimaryManifest, relpaths: list[str]) -> PrimaryHashes:
    started = time.monotonic()
    try:
        return PrimaryHashes(primary.digests(relpaths), None, time.monotonic() - started)
    except TargetUnavailable as error:
        return PrimaryHashes(None, error, time.monotonic() - started)


@dataclass(frozen=True)
class Comparison:
    """What the restored files are held against, prepared before the restore."""

    primary_entries: dict[str, FileEntry]
    comparable: list[str]  # files the primary was hashed for
    primary_hashes: Future | None  # of PrimaryHashes; None when nothing was to be hashed
    restic_verified: bool  # the restore ran with restic's --verify
    notes: tuple[str, ...]
    scratch: Path


@dataclass(frozen=True)
class Held:
    """Which restored files are held against the primary and which against the backup's record,
    and those the primary says differ: changed since the backup, or (same size and mtime) suspect."""

    with_primary: list[str]
    with_record: list[str]
    differs: list[str] = field(default_factory=list)
    source_suspect: list[str] = field(default_factory=list)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CopyHashes:
    """A plain copy's own hashes of the files held against it: those that differ, those unproven."""

    mismatch: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Findings:
    missing: list[str]
    wrong_size: list[str]
    differs: list[str]
    record_mismatch: list[str]
    source_suspect: list[str]
    unreadable: dict[str, str]
    verified: list[str]

    def problems(self) -> list[str]:
        problems = []
        if self.missing:
            problems.append(f"{len(self.missing)} not restored ({name_paths(self.missing)})")
        if self.wrong_size:
            problems.append(f"{len(self.wrong_size)} restored with the wrong size ({name_paths(self.wrong_size)})")
        if self.differs:
            problems.append(f"{len(self.differs)} restored files differ from the primary ({name_paths(self.differs)})")
        if self.record_mismatch:
            problems.append(f"{len(self.record_mismatch)} restored files differ from the copy itself "
                            f"({name_paths(self.record_mismatch)})")
        if self.source_suspect:
            problems.append("suspected corruption at the source: primary content differs from the backup while size "
                            f"and mtime are unchanged ({name_paths(self.source_suspect)})")
        return problems

    def content_ok(self, asked: int) -> bool:
        return not self.problems() and not self.unreadable and len(self.verified) == asked


def judge(context: CopyContext, listing: BackupListing, relpaths: list[str], root: Path, restore_seconds: float,
          comparison: Comparison) -> RestoreOutcome:
    """Given what was asked for and restored under root, and what to hold it against, return the
    verdict with the figures it adds. Raise ResticError when the confirming restore fails."""
    label = f"check restored {context.dataset.name} from {context.spec.target.name}"
    with (context.options.progress or DISABLED).task(label, None) as task:
        restored = hash_restored(root, relpaths, context.settings.hash_workers, task.add)
    if not restored.sizes and not restored.unreadable:
        return RestoreOutcome(Status.ERROR, f"nothing was restored from {listing.source} "
                                            f"({len(relpaths)} files asked for)")
    backup = listing.entries
    wrong_size = {p for p in restored.digests if restored.sizes[p] != backup[p].size}
    candidates = [p for p in restored.digests if p not in wrong_size]
    held = hold(context, backup, candidates, restored.digests, comparison)
    figures = confirm_with_restic(context, listing, held, comparison)
    try:
        copy = hash_copy(context, backup, held.with_record, restored.digests)
    except TargetUnavailable as error:
        return RestoreOutcome(Status.ERROR, f"cannot hash the copy to compare: {error}", figures)
    findings = find(relpaths, restored, sorted(wrong_size), held, copy)
    projection = project(listing, sum(restored.sizes.values()), restore_seconds, context.dataset.process.rto_seconds,
                         lambda: restic_restore_size(context.restic, listing))
    figures.update(projection.measured())
    figures.update(_figures(findings, restored, held, projection, listing))
    return verdict(context, listing, relpaths, findings, restored, held, projection, comparison, figures)


def hold(context: CopyContext, backup: dict[str, FileEntry], candidates: list[str], digests: dict[str, str],
         comparison: Comparison) -> Held:
    """Hold each restored file against the primary where the plan chose it (unchanged since the
    backup, hashed during the restore), else against the backup's own record."""
    chosen = set(comparison.comparable)
    with_primary = [p for p in candidates if p in chosen]
    with_record = [p for p in candidates if p not in chosen]
    if not with_primary:
        return Held(with_primary, with_record)
    hashes: PrimaryHashes = comparison.primary_hashes.result()
    if hashes.error is not None:
        return Held([], with_record + with_primary, notes=(f"primary unreadable ({hashes.error})",))
    tolerance = SAME_MTIME_SECONDS if context.spec.form == "restic" else 1.0
    differs, suspect = [], []
    for p in with_primary:
        theirs = hashes.outcome.digests.get(p)
        if theirs is None or theirs == digests[p]:
            continue
        primary = comparison.primary_entries[p]
        # restic: the confirming --verify proves the restored bytes are the backed-up bytes. A
        # plain copy made with its mtimes kept (rsync -a) carries the same evidence more weakly;
        # files-checksum's own hash history says which side changed.
        same_metadata = primary.size == backup[p].size and abs(primary.mtime - backup[p].mtime) <= tolerance
        (suspect if same_metadata else differs).append(p)
    unreadable = [p for p in hashes.outcome.unreadable if p in chosen]
    if not unreadable:
        return Held(with_primary, with_record, differs, suspect)
    # Not the restore test's finding (the primary's own checks report it): hold these against the
    # backup's record instead.
    note = (f"{len(unreadable)} primary files unreadable ({name_paths(unreadable)}); "
            "held against the backup's record")
    moved = set(unreadable)
    return Held([p for p in with_primary if p not in moved], with_record + [p for p in unreadable if p in digests],
                differs, suspect, (note,))


def confirm_with_restic(context: CopyContext, listing: BackupListing, held: Held,
                        comparison: Comparison) -> dict[str, Any]:
    """When the restore ran without --verify (the primary was to vouch for every file), restore
    again with --verify whatever the primary could not vouch for and every file about to be blamed
    on the source, so the verdict rests on restic's own check of the backed-up bytes. Return the
    figure it adds. Raise ResticError."""
    if context.spec.form != "restic" or comparison.restic_verified:
        return {}
    unproven = sorted(set(held.source_suspect) | set(held.with_record))
    if not unproven:
        return {}
    restore_restic(context.restic, listing.snapshot.id, [listing.root_prefix + p for p in unproven],
                   comparison.scratch / "confirm", verify=True, timeout=context.settings.command_timeout_seconds)
    return {"confirmed_with_restic_verify": len(unproven)}


def hash_copy(context: CopyContext, backup: dict[str, FileEntry], with_record: list[str],
              digests: dict[str, str]) -> CopyHashes:
    """A plain copy's own hash of each file held against the backup's record, computed where the
    copy lives (restic's record is its --verify). Raise TargetUnavailable."""
    if not with_record or context.spec.form == "restic":
        return CopyHashes()
    outcome = context.handle.hash(context.spec.path, [backup[p] for p in with_record])
    mismatch = sorted(p for p in with_record if p in outcome.digests and outcome.digests[p] != digests[p])
    unreadable = dict(outcome.unreadable)
    unreadable.update({p: "the copy's hash is not available" for p in with_record
                       if p not in outcome.digests and p not in outcome.unreadable})
    return CopyHashes(mismatch, unreadable)


def find(relpaths: list[str], restored: Restored, wrong_size: list[str], held: Held, copy: CopyHashes) -> Findings:
    """Every file that was not restored, or not as backed up, and the ones proven."""
    missing = sorted(p for p in relpaths if p not in restored.sizes and p not in restored.unreadable)
    unreadable = {**restored.unreadable, **copy.unreadable}
    bad = set(missing) | set(wrong_size) | set(held.differs) | set(held.source_suspect) | set(copy.mismatch)
    verified = sorted(p for p in restored.digests if p not in bad and p not in unreadable)
    return Findings(missing, wrong_size, held.differs, copy.mismatch, held.source_suspect,
                    unreadable, verified)


def _figures(findings: Findings, restored: Restored, held: Held, projection: Projection,
             listing: BackupListing) -> dict[str, Any]:
    coverage_bytes = sum(listing.entries[p].size for p in findings.verified)
    return {
        "files": len(findings.verified),
        "files_restored": len(restored.sizes),
        "bytes_restored": projection.bytes_restored,
        "restore_seconds": round(projection.restore_seconds, 3),
        "throughput_bytes_per_second": round(projection.throughput, 1) if projection.throughput else None,
        "projected_restore_seconds": projection.seconds,
        "rto_seconds": projection.rto,
        "compared_with_primary": len(held.with_primary),
        "compared_with_backup_record": len(held.with_record),
        "sample_bytes_share": (round(coverage_bytes / projection.full_size, 4) if projection.full_size else 1.0),
    }


def verdict(context: CopyContext, listing: BackupListing, relpaths: list[str], findings: Findings,
            restored: Restored, held: Held, projection: Projection, comparison: Comparison,
            figures: dict[str, Any]) -> RestoreOutcome:
    """fail for a file not restored as backed up or a projection over the RTO; error for what could
    not be compared or projected, or a snapshot dated in the future; else pass."""
    problems = findings.problems() + [p for p in (projection.problem(),) if p]
    what = (f"restored {len(restored.sizes)} of {len(relpaths)} files from {listing.source}, "
            f"{projection.timing_text()}")
    verified = findings.verified
    if problems:
        return RestoreOutcome(Status.FAIL, "; ".join(problems) + f" — {what}", figures, verified,
                              content_ok=findings.content_ok(len(relpaths)))
    if findings.unreadable:
        return RestoreOutcome(Status.ERROR, f"{len(findings.unreadable)} files could not be compared "
                                            f"({name_paths(list(findings.unreadable))}) — {what}", figures, verified)
    if projection.seconds is None:
        return RestoreOutcome(Status.ERROR, f"{projection.projection_text()} — {what}", figures, verified)
    proof = (f"all {len(verified)} match ({len(held.with_primary)} the primary, "
             f"{len(held.with_record)} the backup's own record)")
    future = sorted(p for p in relpaths
                    if p in comparison.primary_entries and in_future(comparison.primary_entries[p].mtime, context.now))
    figures["primary_files_future_dated"] = len(future)
    notes = [*comparison.notes, *held.notes, *_future_note(future)]
    detail = f"{what}: {proof}; {projection.projection_text()}" + "".join(f"; {note}" for note in notes)
    snapshot = listing.snapshot
    if snapshot and in_future(snapshot.time, context.now):
        # Which snapshot is the newest cannot be told when one is dated ahead of the clock: the
        # restore proved this one, not that the latest backup restores.
        return RestoreOutcome(Status.ERROR, f"{detail}; but snapshot {snapshot.short_id} is dated "
                                            f"{iso(snapshot.time)}, in the future, so it may not be the newest "
                                            "backup", figures, verified, content_ok=True)
    return RestoreOutcome(Status.PASS, detail, figures, verified, content_ok=True)


def _future_note(future: list[str]) -> list[str]:
    """Name the restored files the primary dates in the future (held against the primary all the same)."""
    if not future:
        return []
    return [f"{len(future)} primary files dated in the future (beyond now + {format_duration(CLOCK_SKEW_SECONDS)}), "
            f"compared all the same: {name_paths(future)}"]
