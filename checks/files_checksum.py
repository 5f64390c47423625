"""files-checksum: SHA-256 of every file of a plain copy, compared with the primary.

Only primary files unchanged since the copy's last sync (mtime at or before it) are expected
to match; newer ones are reported as pending, not failed. A primary file dated in the future
(beyond now + agent.clock.CLOCK_SKEW_SECONDS) proves nothing about when it changed, so it is
compared all the same (a copy that differs fails) and counted as files_future_dated; copy files
dated in the future are counted too (copy_files_future_dated). Mismatched, missing and extra files
are counted and the first few paths named. A file whose content changed while its size and
mtime did not (against the agent's own last hash) is reported as silent corruption.

A target that cannot afford to read everything every run (s3: objects without a full-object
SHA-256 are downloaded in a sample bounded by sample_bytes) lists the rest as not verified: they
are neither counted as matches nor hidden — the detail and measured values say how many files
were verified, how (S3 checksum, download, unchanged since an earlier verification), and how
many were left for a later run."""

from __future__ import annotations

from agent.checking import CopyContext
from agent.clock import CLOCK_SKEW_SECONDS, in_future
from agent.errors import TargetUnavailable
from agent.models import CheckResult, Status
from agent.output import name_paths
from agent.units import format_duration

ID = "files-checksum"
FORMS = ("files", "objects")
ROLES = ("backup",)
# Sync stamps and similar bookkeeping files on the copy are not data.
MTIME_SLACK_SECONDS = 2.0  # FAT/exFAT and some rsync setups round mtimes to 2 s




def run(context: CopyContext) -> CheckResult:
    spec = context.spec
    last_sync = context.last_backup_at
    if last_sync is None:
        return CheckResult(ID, Status.ERROR, "the copy's last sync time is unknown, so which files must match cannot be decided")
    try:
        primary_entries = context.primary.entries()
        copy_entries = context.facts.get("entries")
        if copy_entries is None:
            copy_entries = context.handle.scan(spec.path)
            context.facts["entries"] = copy_entries
        if spec.stamp:
            copy_entries = {p: e for p, e in copy_entries.items() if p != spec.stamp}
        cutoff = last_sync.timestamp() + MTIME_SLACK_SECONDS
        future = sorted(p for p, e in primary_entries.items() if in_future(e.mtime, context.now))
        copy_future = sum(1 for e in copy_entries.values() if in_future(e.mtime, context.now))
        future_set = set(future)
        # An mtime ahead of the clock cannot say "changed after the sync": such a file is compared.
        expected = {p: e for p, e in primary_entries.items() if e.mtime <= cutoff or p in future_set}
        pending = len(primary_entries) - len(expected)
        missing = sorted(p for p in expected if p not in copy_entries)
        extra = sorted(p for p in copy_entries if p not in primary_entries)
        common = [p for p in expected if p in copy_entries]
        size_mismatch = [p for p in common if copy_entries[p].size != expected[p].size]
        to_hash = [p for p in common if copy_entries[p].size == expected[p].size]
        primary_hashes = context.primary.digests(to_hash, context.options.progress)
        with context.task("hash") as task:
            copy_outcome = context.handle.hash(spec.path, [copy_entries[p] for p in to_hash], progress=task.add)
    except TargetUnavailable as error:
        return CheckResult(ID, Status.ERROR, f"cannot read the files: {error}")

    mismatched = sorted(size_mismatch + [
        p for p in to_hash
        if p in primary_hashes.digests and p in copy_outcome.digests and primary_hashes.digests[p] != copy_outcome.digests[p]
    ])
    unreadable = sorted(set(primary_hashes.unreadable) | set(copy_outcome.unreadable))
    bytes_verified = sum(copy_entries[p].size for p in copy_outcome.digests)
    not_verified = sorted(set(copy_outcome.not_verified) & set(to_hash))
    verified = len(common) - len(not_verified) - len([p for p in to_hash if p in unreadable])
    measured = {
        "files_compared": len(common),
        "files_verified": verified,
        "files_not_verified": len(not_verified),
        "files_pending": pending,
        "mismatched": len(mismatched),
        "missing": len(missing),
        "extra": len(extra),
        "bytes_verified": bytes_verified,
        "bytes_read": copy_outcome.bytes_read,
        "files_future_dated": len(future),
        "copy_files_future_dated": copy_future,
    }
    how = _how(copy_outcome.methods)
    if copy_outcome.methods:
        for method in ("checksum", "download", "earlier"):
            measured[f"verified_by_{method}"] = sum(1 for m in copy_outcome.methods.values() if m == method)
    problems = []
    dated = _future_note(future, copy_future)
    if mismatched:
        problems.append(f"{len(mismatched)} mismatched ({name_paths(mismatched)})")
    if missing:
        problems.append(f"{len(missing)} missing ({name_paths(missing)})")
    if extra:
        problems.append(f"{len(extra)} extra ({name_paths(extra)})")
    if copy_outcome.silently_changed:
        problems.append(f"silent corruption on the copy: content changed with size and mtime unchanged "
                        f"({name_paths(copy_outcome.silently_changed)})")
    if primary_hashes.silently_changed:
        problems.append(f"suspected corruption at the source: primary content changed with size and mtime "
                        f"unchanged ({name_paths(primary_hashes.silently_changed)})")
    if problems:
        return CheckResult(ID, Status.FAIL, "; ".join(problems) + dated, measured)
    if unreadable:
        return CheckResult(ID, Status.ERROR, f"{len(unreadable)} unreadable ({name_paths(unreadable)})", measured)
    if not common and expected:
        return CheckResult(ID, Status.FAIL, "no file of the primary is on the copy", measured)
    if common and not verified:
        return CheckResult(ID, Status.ERROR, f"none of {len(common)} files could be verified this run "
                           f"({len(not_verified)} left for a later run: sample budget)", measured)
    if not expected:
        return CheckResult(ID, Status.ERROR, "no primary file is old enough to have been synced; nothing could be compared",
                           measured)
    later = (f"; {len(not_verified)} not verified this run (sample budget; later runs continue: "
             f"{name_paths(not_verified)})") if not_verified else ""
    return CheckResult(ID, Status.PASS,
                       f"{verified} files match the primary{how} ({pending} changed since the last sync, not compared)"
                       f"{later}{dated}",
                       measured)


def _future_note(future: list[str], copy_future: int) -> str:
    """'; N primary files dated in the future …' (and the copy's count), or '' when none are."""
    note = ""
    if future:
        note += (f"; {len(future)} primary files dated in the future (beyond now + "
                 f"{format_duration(CLOCK_SKEW_SECONDS)}), compared all the same: {name_paths(future)}")
    if copy_future:
        note += f"; {copy_future} files of the copy dated in the future"
    return note


def _how(methods: dict[str, str]) -> str:
    """Return ' (by S3 checksum: 3, downloaded: 2, unchanged since verified: 5)' or '' when not told."""
    if not methods:
        return ""
    labels = {"checksum": "by S3 SHA-256 checksum", "download": "downloaded and hashed",
              "earlier": "unchanged since an earlier verification"}
    counts = [f"{labels.get(m, m)}: {sum(1 for v in methods.values() if v == m)}"
              for m in ("checksum", "download", "earlier") if m in methods.values()]
    return " [" + ", ".join(counts) + "]"
