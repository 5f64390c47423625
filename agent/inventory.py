"""Inventory: every copy of every dataset with what can be learnt cheaply — reachable or why not,
last backup time and age, size, snapshot count — without checksums or restic check."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agent.checking import CopyContext, PrimaryManifest, RunOptions
from agent.clock import age_seconds, iso
from agent.config import Config, CopySpec, Dataset
from agent.errors import TargetUnavailable
from agent.models import Status
from agent.restic import ResticError, select_snapshots
from agent.run import Session
from checks import freshness, reachable


def describe_copy(session: Session, dataset: Dataset, spec: CopySpec) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "dataset": dataset.name, "process": dataset.process.name, "target": spec.target.name,
        "kind": spec.target.kind, "role": spec.role, "form": spec.form, "medium": spec.target.medium,
        "detected_medium": None, "location": spec.target.location, "reachable": False, "reason": None,
        "last_backup_at": None, "age_seconds": None, "rpo_seconds": dataset.process.rpo_seconds,
        "size_bytes": None, "files": None, "snapshots": None,
    }
    handle = session.handle(spec.target.name)
    context = CopyContext(dataset, spec, handle, PrimaryManifest(dataset, handle), session.config.agent,
                          session.state, session.started, RunOptions())
    probe = reachable.run(context)
    entry["detected_medium"] = probe.measured.get("detected_medium")
    if probe.status != Status.PASS:
        entry["reason"] = probe.detail
        return entry
    entry["reachable"] = True
    try:
        if spec.form == "restic":
            context.restic = session.restic_repository(spec)
            own = select_snapshots(context.restic.snapshots(), spec.snapshot_filter)
            context.facts["snapshots"] = own
            entry["snapshots"] = len(own)
            if own:
                stats = context.restic.stats(own[-1].id)
                entry["size_bytes"] = stats.get("total_size")
                entry["files"] = stats.get("total_file_count")
        else:
            entries = handle.scan(spec.path)
            context.facts["entries"] = entries
            entry["size_bytes"] = sum(e.size for e in entries.values())
            entry["files"] = len(entries)
    except (ResticError, TargetUnavailable) as error:
        entry["reason"] = str(error)
    fresh = freshness.run(context) if spec.role == "backup" or spec.stamp else None
    if fresh is not None and context.last_backup_at is not None:
        entry["last_backup_at"] = iso(context.last_backup_at)
        age = age_seconds(context.last_backup_at, session.started)
        entry["age_seconds"] = round(age, 3) if age is not None else None
    elif fresh is not None and fresh.status != Status.PASS and not entry["reason"]:
        entry["reason"] = fresh.detail
    return entry


def build_inventory(config: Config, datasets: list[Dataset], target_filter: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    session = Session(config)
    try:
        work = [(d, s) for d in datasets for s in d.all_copies if not target_filter or s.target.name in target_filter]
        with ThreadPoolExecutor(max_workers=config.agent.concurrency) as pool:
            return list(pool.map(lambda item: describe_copy(session, *item), work))
    finally:
        session.close()
