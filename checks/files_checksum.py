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

from dataclasses import dataclass
from typing import Any

from agent.checking import MTIME_SLACK_SECONDS, CopyContext
from agent.clock import CLOCK_SKEW_SECONDS, in_future
from agent.errors import TargetUnavailable
from agent.hashing import FileEntry, HashOutcome
from agent.models import CheckResult, Status
from agent.output import name_paths
from agent.units import format_duration

ID = "files-checksum"
FORMS = ("files", "objects")
ROLES = ("backup",)


@dataclass
class _Listing:
    """Which files must match, decided from the two file lists before any content is read."""

    copy_entries: dict[str, FileEntry]
    expected: dict[str, FileEntry]  # primary files unchanged since the sync (or dated in the future)
    pending: int  # primary files changed since the sync: not compared
    missing: list[str]
    extra: list[str]
    common: list[str]
    size_mismatch: list[str]
    to_hash: list[str]
    future: list[str]  # primary files dated in the future
    copy_future: int


def run(context: CopyContext) -> CheckResult:
    last_sync = context.last_backup_at
    if last_sync is None:
        return CheckResult(ID, Status.ERROR, "the copy's last sync time is unknown, so which files must match cannot be decided")
    try:
        listing = _listing(context, last_sync.timestamp() + MTIME_SLACK_SECONDS)
        primary_hashes = context.primary.digests(listing.to_hash, context.options.progress)
        with context.task("hash") as task:
            copy_outcome = context.handle.hash(context.spec.path, [listing.copy_entries[p] for p in listing.to_hash],
                                               progress=task.add)
    except TargetUnavailable as error:
        return CheckResult(ID, Status.ERROR, f"cannot read the files: {error}")
    return _verdict(listing, primary_hashes, copy_outcome)


def _listing(context: CopyContext, cutoff: float) -> _Listing:
    """Compare the primary's and the copy's file lists. Raise TargetUnavailable."""
    primary_entries = context.primary.entries()
    copy_entries = context.copy_entries(without_stamp=True)
    future = sorted(p for p, e in primary_entries.items() if in_future(e.mtime, context.now))
    future_set = set(future)
    # An mtime ahead of the clock cannot say "changed after the sync": such a file is compared.
    expected = {p: e for p, e in primary_entries.items() if e.mtime <= cutoff or p in future_set}
    common = [p for p in expected if p in copy_entries]
    return _Listing(
        copy_entries=copy_entries,
        expected=expected,
        pending=len(primary_entries) - len(expected),
        missing=sorted(p for p in expected if p not in copy_entries),
        extra=sorted(p for p in copy_entries if p not in primary_entries),
        common=common,
        size_mismatch=[p for p in common if copy_entries[p].size != expected[p].size],
        to_hash=[p for p in common if copy_entries[p].size == expected[p].size],
        future=future,
        copy_future=sum(1 for e in copy_entries.values() if in_future(e.mtime, context.now)),
    )


def _verdict(listing: _Listing, primary_hashes: HashOutcome, copy_outcome: HashOutcome) -> CheckResult:
    mismatched = sorted(listing.size_mismatch + [
        p for p in listing.to_hash
        if p in primary_hashes.digests and p in copy_outcome.digests and primary_hashes.digests[p] != copy_outcome.digests[p]
    ])
    unreadable = sorted(set(primary_hashes.unreadable) | set(copy_outcome.unreadable))
    not_verified = sorted(set(copy_outcome.not_verified) & set(listing.to_hash))
    verified = len(listing.common) - len(not_verified) - len([p for p in listing.to_hash if p in unreadable])
    measured = _measured(listing, copy_outcome, mismatched, verified, not_verified)
    dated = _future_note(listing.future, listing.copy_future)
    problems = _problems(listing, mismatched, primary_hashes, copy_outcome)
    common, expected = listing.common, listing.expected
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
                       f"{verified} files match the primary{_how(copy_outcome.methods)} ({listing.pending} changed "
                       f"since the last sync, not compared){later}{dated}",
                       measured)


def _measured(listing: _Listing, copy_outcome: HashOutcome, mismatched: list[str], verified: int,
              not_verified: list[str]) -> dict[str, Any]:
    measured: dict[str, Any] = {
        "files_compared": len(listing.common),
        "files_verified": verified,
        "files_not_verified": len(not_verified),
        "files_pending": listing.pending,
        "mismatched": len(mismatched),
        "missing": len(listing.missing),
        "extra": len(listing.extra),
        "bytes_verified": sum(listing.copy_entries[p].size for p in copy_outcome.digests),
        "bytes_read": copy_outcome.bytes_read,
        "files_future_dated": len(listing.future),
        "copy_files_future_dated": listing.copy_future,
    }
    if copy_outcome.methods:
        for method in ("checksum", "download", "earlier"):
            measured[f"verified_by_{method}"] = sum(1 for m in copy_outcome.methods.values() if m == method)
    return measured


def _problems(listing: _Listing, mismatched: list[str], primary_hashes: HashOutcome,
              copy_outcome: HashOutcome) -> list[str]:
    """What proves the copy wrong: each a phrase naming the first few paths."""
    problems = []
    if mismatched:
        problems.append(f"{len(mismatched)} mismatched ({name_paths(mismatched)})")
    if listing.missing:
        problems.append(f"{len(listing.missing)} missing ({name_paths(listing.missing)})")
    if listing.extra:
        problems.append(f"{len(listing.extra)} extra ({name_paths(listing.extra)})")
    if copy_outcome.silently_changed:
        problems.append(f"silent corruption on the copy: content changed with size and mtime unchanged "
                        f"({name_paths(copy_outcome.silently_changed)})")
    if primary_hashes.silently_changed:
        problems.append(f"suspected corruption at the source: primary content changed with size and mtime "
                        f"unchanged ({name_paths(primary_hashes.silently_changed)})")
    return problems


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
