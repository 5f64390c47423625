"""freshness: time of the last good backup against the process RPO.

restic: the newest snapshot of this dataset (snapshot_filter: tags, host, path). files and
objects: the stamp file's mtime when configured, else the newest mtime in the tree. Age above the
RPO fails; no snapshot at all fails; a time that cannot be read is an error. The primary is the
live source: it is checked only when it has a stamp (e.g. written by the dump job)."""

from __future__ import annotations

import posixpath

from agent.checking import CopyContext
from agent.clock import CLOCK_SKEW_SECONDS, age_seconds, from_timestamp, in_future, iso
from agent.errors import TargetUnavailable
from agent.models import CheckResult, Status
from agent.names import show
from agent.restic import ResticError
from agent.units import format_duration

ID = "freshness"
FORMS = ("files", "restic", "objects")
ROLES = ("primary", "backup")


def run(context: CopyContext) -> CheckResult:
    spec = context.spec
    if spec.role == "primary" and not spec.stamp:
        return CheckResult(ID, Status.SKIP, "primary is the live source (set stamp to check its dump job)")
    try:
        last, source = _last_backup(context)
    except (TargetUnavailable, ResticError) as error:
        return CheckResult(ID, Status.ERROR, f"cannot read the last backup time: {error}")
    if last is None:
        return CheckResult(ID, Status.FAIL, source)
    # Kept even when in the future: files-checksum then expects every primary file on the copy.
    context.last_backup_at = last
    rpo = context.dataset.process.rpo_seconds
    age = age_seconds(last, context.now)
    measured = {"last_backup_at": iso(last), "age_seconds": round(age, 3) if age is not None else None,
                "rpo_seconds": rpo}
    if age is None:
        ahead = (last - context.now).total_seconds()
        measured["future_by_seconds"] = round(ahead, 3)
        return CheckResult(ID, Status.ERROR,
                           f"last backup time {iso(last)} ({source}) is {format_duration(ahead)} ahead of this host's "
                           f"clock (more than the {format_duration(CLOCK_SKEW_SECONDS)} allowed for clock skew): how "
                           f"old the backup is cannot be known, so it is not counted fresh; check the clock of the "
                           f"host that wrote it{_credible(context)}", measured)
    if age > rpo:
        return CheckResult(ID, Status.FAIL,
                           f"stale: last backup {format_duration(age)} ago, RPO {format_duration(rpo)} ({source})", measured)
    return CheckResult(ID, Status.PASS, f"last backup {format_duration(age)} ago, within RPO {format_duration(rpo)} ({source})",
                       measured)


def _last_backup(context: CopyContext):
    spec = context.spec
    if spec.form == "restic":
        own = context.dataset_snapshots()
        if not own:
            where = f" matching {spec.snapshot_filter}" if spec.snapshot_filter else ""
            return None, f"no snapshot for this dataset{where} ({len(context.repository_snapshots())} in the repository)"
        newest = own[-1]
        return newest.time, f"snapshot {newest.short_id}"
    if spec.stamp:
        stamp_path = posixpath.join(spec.path, spec.stamp)
        entry = context.handle.stat(stamp_path)
        if entry is None:
            return None, f"stamp {spec.stamp} is missing"
        return from_timestamp(entry.mtime), f"stamp {spec.stamp}"
    entries = context.copy_entries()
    if not entries:
        return None, "the copy holds no files"
    newest = max(entries.values(), key=lambda e: e.mtime)
    return from_timestamp(newest.mtime), f"newest file {show(newest.relpath)}"


def _credible(context: CopyContext) -> str:
    """'; newest … not in the future: …' naming the newest snapshot or file the clock can vouch for."""
    now = context.now
    rpo = context.dataset.process.rpo_seconds
    if context.spec.form == "restic":
        snapshots = context.dataset_snapshots()  # listed already: the last backup time came from them
        credible = [s for s in snapshots if not in_future(s.time, now)]
        if not credible:
            return "; every snapshot of this dataset is dated in the future"
        newest = credible[-1]
        return (f"; newest snapshot not in the future: {newest.short_id} at {iso(newest.time)}, "
                f"{format_duration(age_seconds(newest.time, now))} ago (RPO {format_duration(rpo)})")
    if context.spec.stamp:
        return ""
    entries = context.copy_entries()  # listed already: the last backup time came from them
    if not entries:
        return ""
    credible = [e for e in entries.values() if not in_future(e.mtime, now)]
    if not credible:
        return "; every file of the copy is dated in the future"
    newest = max(credible, key=lambda e: e.mtime)
    return (f"; newest file not in the future: {show(newest.relpath)}, "
            f"{format_duration(age_seconds(newest.mtime, now))} ago (RPO {format_duration(rpo)})")
