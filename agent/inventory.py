"""Inventory: every copy of every dataset with what can be learnt cheaply — reachable or why not,
last backup time and age, size, snapshot count — without checksums or restic check."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agent.checking import CopyContext, RunOptions
from agent.clock import age_seconds, iso
from agent.config import Config, CopySpec, Dataset
from agent.errors import TargetUnavailable
from agent.models import Status
from agent.restic import ResticError
from agent.run import Session
from agent.units import format_duration, format_size
from checks import freshness, reachable


def describe_copy(session: Session, dataset: Dataset, spec: CopySpec) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "dataset": dataset.name, "process": dataset.process.name, "target": spec.target.name,
        "kind": spec.target.kind, "role": spec.role, "form": spec.form, "medium": spec.target.medium,
        "detected_medium": None, "location": spec.target.location, "reachable": False, "reason": None,
        "last_backup_at": None, "age_seconds": None, "rpo_seconds": dataset.process.rpo_seconds,
        "size_bytes": None, "files": None, "snapshots": None,
    }
    try:
        context = session.copy_context(dataset, spec, RunOptions())
    except Exception as error:  # noqa: BLE001 - as verify says it: the copy cannot be looked at
        entry["reason"] = f"cannot open target: {error}"
        return entry
    probe = reachable.run(context)
    entry["detected_medium"] = probe.measured.get("detected_medium")
    if probe.status != Status.PASS:
        entry["reason"] = probe.detail
        return entry
    entry["reachable"] = True
    try:
        _measure(context, entry)
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


def _measure(context: CopyContext, entry: dict[str, Any]) -> None:
    """Size, file count and snapshot count of a reachable copy, read through the context so that
    freshness reuses the listing. Raise ResticError, TargetUnavailable."""
    if context.spec.form == "restic":
        own = context.dataset_snapshots()
        entry["snapshots"] = len(own)
        if own:
            stats = context.restic.stats(own[-1].id)
            entry["size_bytes"] = stats.get("total_size")
            entry["files"] = stats.get("total_file_count")
    else:
        entries = context.copy_entries()
        entry["size_bytes"] = sum(e.size for e in entries.values())
        entry["files"] = len(entries)


def build_inventory(config: Config, datasets: list[Dataset], target_filter: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    session = Session(config)
    try:
        # In a fleet, only this agent's targets: the others are out of its reach (`fleet status` shows them).
        work = [(d, s) for d in datasets for s in d.all_copies
                if (not target_filter or s.target.name in target_filter) and config.is_mine(s.target)]
        with ThreadPoolExecutor(max_workers=config.agent.concurrency) as pool:
            return list(pool.map(lambda item: describe_copy(session, *item), work))
    finally:
        session.close()


def inventory_table(entries: list[dict[str, Any]]) -> str:
    """The inventory as the terminal shows it: one line per copy, its state last."""
    lines = [f"{'DATASET':<18} {'TARGET':<9} {'ROLE':<8} {'FORM':<8} {'MEDIUM':<15} {'LOCATION':<10} "
             f"{'AGE':>8} {'SIZE':>10} {'SNAPS':>5}  STATE"]
    for e in entries:
        medium = e["medium"] + (f"({e['detected_medium']})" if e["detected_medium"] and e["detected_medium"] != e["medium"] else "")
        state = "ok" if e["reachable"] and not e["reason"] else (e["reason"] or "unreachable")
        if state == "ok" and e["age_seconds"] is not None and e["age_seconds"] > e["rpo_seconds"]:
            state = f"stale (RPO {format_duration(e['rpo_seconds'])})"
        lines.append(f"{e['dataset']:<18} {e['target']:<9} {e['role']:<8} {e['form']:<8} {medium:<15} {e['location']:<10} "
                     f"{format_duration(e['age_seconds']):>8} {format_size(e['size_bytes']):>10} "
                     f"{'' if e['snapshots'] is None else e['snapshots']:>5}  {state}")
    return "\n".join(lines)
