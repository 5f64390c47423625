"""Which files are restored and how, decided before the first byte: from the backup's listing, or,
for a full restic restore, from the primary while restic lists the snapshot alongside the restore."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from agent import clock
from agent.checking import MTIME_SLACK_SECONDS, CopyContext
from agent.clock import in_future
from agent.config import RestoreTestSpec
from agent.hashing import FileEntry
from agent.restic import Snapshot
from agent.restore.model import BackupListing

SAME_MTIME_SECONDS = 1e-4  # restic keeps nanoseconds; a float of epoch seconds keeps about 0.2 µs
RECENT_SHARE = 4  # a quarter of a sample (at least one file) is the most recently changed files
ALONGSIDE_VERIFY_SHARE = 0.5  # above this share of changed bytes, one --verify restore beats a confirming second one


@dataclass(frozen=True)
class Plan:
    payload: int  # bytes the scratch check sizes the restore by
    comparable: list[str]  # files the primary is hashed for (a superset of those it vouches for)
    restic_verify: bool
    relpaths: list[str] | None = None  # None: everything in the snapshot
    snapshot: Snapshot | None = None
    sized_by: str = "the backup's listing"


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


def unchanged(context: CopyContext, backed_up: FileEntry, primary: FileEntry | None) -> bool:
    """Whether a primary file is unchanged since the backup, so the restored bytes must equal it."""
    if primary is None:
        return False
    if context.spec.form == "restic":
        return primary.size == backed_up.size and abs(primary.mtime - backed_up.mtime) <= SAME_MTIME_SECONDS
    # A plain copy: the primary file was not modified after the copy's last sync. An mtime in the
    # future says nothing about when it changed: such a file is held against the primary too.
    cutoff = (context.last_backup_at.timestamp() if context.last_backup_at else 0.0) + MTIME_SLACK_SECONDS
    return primary.mtime <= cutoff or in_future(primary.mtime, context.now)


def plan_from_listing(context: CopyContext, listing: BackupListing, relpaths: list[str],
                      primary_entries: dict[str, FileEntry]) -> Plan:
    """Restore these files of the listing. Which ones the primary can vouch for (unchanged since the
    backup); restic's --verify (a second read of everything restored) is needed only for the others."""
    comparable = [p for p in relpaths if unchanged(context, listing.entries[p], primary_entries.get(p))]
    return Plan(sum(listing.entries[p].size for p in relpaths), comparable, len(comparable) < len(relpaths),
                relpaths, snapshot=listing.snapshot)


def plan_alongside(snapshot: Snapshot, primary_entries: dict[str, FileEntry], known_full_size: int,
                   now: datetime | None = None) -> Plan | None:
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
    # A file dated in the future is hashed too: unchanged() then holds it against the primary when
    # the backup recorded the same size and mtime.
    now = now or clock.now()  # the planning moment
    hashed = [p for p, e in primary_entries.items() if e.mtime <= taken or in_future(e.mtime, now)]
    changed_bytes = primary_bytes - sum(primary_entries[p].size for p in hashed)
    sized_by = ("the primary's size" if primary_bytes >= known_full_size
                else "this copy's restore size when last listed")
    return Plan(payload, sorted(hashed), changed_bytes > ALONGSIDE_VERIFY_SHARE * primary_bytes,
                snapshot=snapshot, sized_by=sized_by)


def complete_alongside(context: CopyContext, plan: Plan, listing: BackupListing,
                       primary_entries: dict[str, FileEntry]) -> Plan:
    """A plan made alongside, once the listing is in: every file of the snapshot restored, and held
    against the primary where it was hashed and the listing shows it unchanged since the backup."""
    hashed = set(plan.comparable)
    relpaths = sorted(listing.entries)
    comparable = [p for p in relpaths if p in hashed and unchanged(context, listing.entries[p], primary_entries.get(p))]
    return replace(plan, relpaths=relpaths, comparable=comparable)
