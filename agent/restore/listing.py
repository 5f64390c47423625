"""What the backup holds: the newest snapshot's files (restic), or a plain copy's files, with the
time one metadata round trip on the copy takes (the fixed cost of a restore from it)."""

from __future__ import annotations

import posixpath
import time
from typing import Any

from agent.checking import CopyContext
from agent.errors import TargetUnavailable
from agent.models import Status
from agent.restic import ResticError, Snapshot
from agent.restic.parse import file_entries, snapshot_root
from agent.restore.model import BackupListing, NothingToRestore, RestoreOutcome

LISTING_SIZE_SOURCE = "restic ls (file sizes summed; a hard link counted once per name)"
# What a listing may fail with; ValueError: restic printed something that is not the JSON it documents.
LISTING_ERRORS = (NothingToRestore, ValueError, ResticError, TargetUnavailable)


def list_backup(context: CopyContext) -> BackupListing:
    """Return the newest backup's file list. Raise ResticError, TargetUnavailable or NothingToRestore."""
    spec = context.spec
    if spec.form == "restic":
        return restic_listing(context, newest_snapshot(context))
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


def newest_snapshot(context: CopyContext) -> Snapshot:
    """The dataset's newest snapshot, as freshness listed it. Raise NothingToRestore or ResticError."""
    snapshots = context.dataset_snapshots()  # listed by freshness; a failed listing raises again
    if not snapshots:
        raise NothingToRestore("no snapshot of this dataset to restore", Status.FAIL)
    return snapshots[-1]


def restic_listing(context: CopyContext, snapshot: Snapshot) -> BackupListing:
    """The snapshot's files, timed. Raise ResticError or ValueError."""
    started = time.monotonic()
    nodes = [node for node in context.restic.ls(snapshot.id) if node.get("type") == "file"]
    overhead = time.monotonic() - started
    prefix = snapshot_root(nodes, snapshot.paths)
    # The restore size from the listing in hand: every file node's size, the sum `restic stats
    # --mode restore-size` makes, except that ls shows no inode, so a hard link counts once per
    # name where stats counts it once. Never less than what restic restores, so a projection from
    # it errs long only; it is confirmed with stats (a second key derivation and index load,
    # ≈ 0.4 s of CPU) only when it would fail the RTO — see agent.restore.project.
    listed = sum(int(node.get("size", 0)) for node in nodes)
    return BackupListing(file_entries(nodes, prefix), listed, overhead, f"snapshot {snapshot.short_id}", snapshot,
                         prefix, LISTING_SIZE_SOURCE)


def listing_failed(error: Exception, mode: str) -> RestoreOutcome:
    """The outcome of a listing that could not be had: the copy's problem, never a pass."""
    measured = {"mode": mode}
    if isinstance(error, NothingToRestore):
        return RestoreOutcome(error.status, str(error), measured)
    if isinstance(error, ResticError):
        return RestoreOutcome(Status.ERROR, f"cannot list the backup: {error}", measured)
    if isinstance(error, TargetUnavailable):
        return RestoreOutcome(Status.ERROR, f"cannot list the copy: {error}", measured)
    return RestoreOutcome(Status.ERROR, f"cannot read the backup's listing: {error}", measured)


def listing_measured(listing: BackupListing, mode: str) -> dict[str, Any]:
    """What a listing contributes to the restore test's figures."""
    measured: dict[str, Any] = {"mode": mode, "source": listing.source, "files_in_backup": len(listing.entries),
                                "full_size_bytes": listing.full_size, "full_size_source": listing.size_source,
                                "overhead_seconds": round(listing.overhead_seconds, 3),
                                "listing_seconds": round(listing.overhead_seconds, 3)}
    if listing.snapshot:
        measured["snapshot"] = listing.snapshot.short_id
    return measured
