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

from array import array
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.checking import MTIME_SLACK_SECONDS, CopyContext
from agent.clock import CLOCK_SKEW_SECONDS, in_future
from agent.errors import TargetUnavailable
from agent.hashing import FileEntry, HashOutcome
from agent.manifest import Manifest, as_manifest, merge_join
from agent.models import CheckResult, Status
from agent.output import NAMED_PATHS, name_paths
from agent.progress import DISABLED
from agent.units import format_duration

ID = "files-checksum"
FORMS = ("files", "objects")
ROLES = ("backup",)


@dataclass
class _Names:
    """How many paths a list holds, and the first few in name order (all a detail names)."""

    count: int = 0
    first: list[str] = field(default_factory=list)

    def add(self, path: str) -> None:
        self.count += 1
        if len(self.first) < NAMED_PATHS:
            self.first.append(path)

    def extend(self, paths: list[str]) -> None:
        for path in paths:
            self.add(path)

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0


def _named(*lists: _Names) -> str:
    """name_paths of the lists together, from their first few and their counts."""
    count = sum(len(names) for names in lists)
    shown = name_paths(sorted(path for names in lists for path in names.first)[:NAMED_PATHS])
    return shown + (f", … (+{count - NAMED_PATHS})" if count > NAMED_PATHS else "")


@dataclass
class _Listing:
    """Which files must match, decided from the two file lists before any content is read: the
    names in counts and first few, the pairs to hash as positions in the two manifests."""

    primary: Manifest
    copy: Manifest
    primary_entries: Mapping[str, FileEntry]  # as the target listed them (s3: objects with their ETag)
    copy_entries: Mapping[str, FileEntry]
    expected: int = 0  # primary files unchanged since the sync (or dated in the future)
    pending: int = 0  # primary files changed since the sync: not compared
    missing: _Names = field(default_factory=_Names)
    extra: _Names = field(default_factory=_Names)
    common: int = 0
    size_mismatch: _Names = field(default_factory=_Names)
    to_hash: tuple[array, array] = field(default_factory=lambda: (array("I"), array("I")))  # < 4 G files
    future: _Names = field(default_factory=_Names)  # primary files dated in the future
    copy_future: int = 0


@dataclass
class _Tally:
    """What hashing the pairs found, chunk by chunk."""

    mismatched: _Names = field(default_factory=_Names)
    unreadable: _Names = field(default_factory=_Names)
    not_verified: list[str] = field(default_factory=list)
    copy_silent: _Names = field(default_factory=_Names)
    primary_silent: _Names = field(default_factory=_Names)
    methods: Counter = field(default_factory=Counter)
    bytes_verified: int = 0
    bytes_read: int = 0
    bytes_reread: int = 0
    primary_bytes_read: int = 0
    primary_bytes_reread: int = 0

    def add(self, pairs: list[tuple[FileEntry, FileEntry]], primary: HashOutcome, copy: HashOutcome) -> None:
        unreadable = set(primary.unreadable) | set(copy.unreadable)
        for _, copy_entry in pairs:
            name = copy_entry.relpath
            theirs, ours = primary.digests.get(name), copy.digests.get(name)
            if theirs is not None and ours is not None and theirs != ours:
                self.mismatched.add(name)
            if ours is not None:
                self.bytes_verified += copy_entry.size
            if name in unreadable:
                self.unreadable.add(name)
        self.not_verified += copy.not_verified
        self.copy_silent.extend(copy.silently_changed)
        self.primary_silent.extend(primary.silently_changed)
        self.methods.update(copy.methods.values())
        self.bytes_read += copy.bytes_read
        self.bytes_reread += copy.bytes_reread
        self.primary_bytes_read += primary.bytes_read
        self.primary_bytes_reread += primary.bytes_reread


def run(context: CopyContext) -> CheckResult:
    last_sync = context.last_backup_at
    if last_sync is None:
        return CheckResult(ID, Status.ERROR, "the copy's last sync time is unknown, so which files must match cannot be decided")
    try:
        listing = _listing(context, last_sync.timestamp() + MTIME_SLACK_SECONDS)
        tally = _hash_pairs(context, listing)
    except TargetUnavailable as error:
        return CheckResult(ID, Status.ERROR, f"cannot read the files: {error}")
    return _verdict(listing, tally)


def _listing(context: CopyContext, cutoff: float) -> _Listing:
    """Compare the primary's and the copy's file lists, walking both in name order. Raise TargetUnavailable."""
    primary_entries, copy_entries = context.primary.entries(), context.copy_entries(without_stamp=True)
    primary, copy = as_manifest(primary_entries), as_manifest(copy_entries)
    listing = _Listing(primary, copy, primary_entries, copy_entries)
    now = context.now
    for i, j in merge_join(primary, copy):
        if j >= 0 and in_future(copy.mtime(j), now):
            listing.copy_future += 1
        if i < 0:
            listing.extra.add(copy.name(j))
            continue
        mtime = primary.mtime(i)
        future = in_future(mtime, now)
        if future:
            listing.future.add(primary.name(i))
        # An mtime ahead of the clock cannot say "changed after the sync": such a file is compared.
        if not (mtime <= cutoff or future):
            listing.pending += 1
            continue
        listing.expected += 1
        if j < 0:
            listing.missing.add(primary.name(i))
            continue
        listing.common += 1
        if copy.size(j) != primary.size(i):
            listing.size_mismatch.add(primary.name(i))
        else:
            listing.to_hash[0].append(i)
            listing.to_hash[1].append(j)
    return listing


def _hash_pairs(context: CopyContext, listing: _Listing) -> _Tally:
    """Hash the pairs to compare on both sides, a chunk of files at a time (the handle's
    hash_chunk), keeping only counts and the first few names. Raise TargetUnavailable."""
    tally = _Tally()
    ours, theirs = listing.to_hash[1], listing.to_hash[0]
    chunk = context.handle.hash_chunk or len(ours) or 1
    progress = context.options.progress
    label = f"hash {context.dataset.name} primary on {context.primary.handle.target.name}"
    with context.task("hash") as task, (progress or DISABLED).task(label, None) as primary_task:
        for start in range(0, len(ours), chunk):
            pairs = [(_entry(listing.primary, listing.primary_entries, i), _entry(listing.copy, listing.copy_entries, j))
                     for i, j in zip(theirs[start:start + chunk], ours[start:start + chunk], strict=True)]
            primary = context.primary.hash_entries([p for p, _ in pairs], primary_task.add)
            copy = context.handle.hash(context.spec.path, [c for _, c in pairs], progress=task.add)
            tally.add(pairs, primary, copy)
    return tally


def _entry(manifest: Manifest, listed: Mapping[str, FileEntry], index: int) -> FileEntry:
    """The entry as the target listed it: a kind that lists into a dict may carry more than the
    manifest keeps (s3: the ETag and checksum its hash() needs)."""
    return manifest.entry(index) if listed is manifest else listed[manifest.name(index)]


def _verdict(listing: _Listing, tally: _Tally) -> CheckResult:
    not_verified = sorted(tally.not_verified)
    verified = listing.common - len(not_verified) - len(tally.unreadable)
    measured = _measured(listing, tally, verified, not_verified)
    dated = _future_note(listing.future, listing.copy_future)
    problems = _problems(listing, tally)
    if problems:
        return CheckResult(ID, Status.FAIL, "; ".join(problems) + dated, measured)
    if tally.unreadable:
        return CheckResult(ID, Status.ERROR, f"{len(tally.unreadable)} unreadable ({_named(tally.unreadable)})", measured)
    if not listing.common and listing.expected:
        return CheckResult(ID, Status.FAIL, "no file of the primary is on the copy", measured)
    if listing.common and not verified:
        return CheckResult(ID, Status.ERROR, f"none of {listing.common} files could be verified this run "
                           f"({len(not_verified)} left for a later run: sample budget)", measured)
    if not listing.expected:
        return CheckResult(ID, Status.ERROR, "no primary file is old enough to have been synced; nothing could be compared",
                           measured)
    later = (f"; {len(not_verified)} not verified this run (sample budget; later runs continue: "
             f"{name_paths(not_verified)})") if not_verified else ""
    return CheckResult(ID, Status.PASS,
                       f"{verified} files match the primary{_how(tally.methods)} ({listing.pending} changed "
                       f"since the last sync, not compared){later}{dated}",
                       measured)


def _measured(listing: _Listing, tally: _Tally, verified: int, not_verified: list[str]) -> dict[str, Any]:
    mismatched = len(listing.size_mismatch) + len(tally.mismatched)
    measured: dict[str, Any] = {
        "files_compared": listing.common,
        "files_verified": verified,
        "files_not_verified": len(not_verified),
        "files_pending": listing.pending,
        "mismatched": mismatched,
        "missing": len(listing.missing),
        "extra": len(listing.extra),
        "bytes_verified": tally.bytes_verified,
        "bytes_read": tally.bytes_read,
        "files_future_dated": len(listing.future),
        "copy_files_future_dated": listing.copy_future,
        # Both sides' reads (the primary's are shared: a second copy finds them done), and of
        # those the bit-rot re-reads of unchanged files (about 1/cycle of the bytes a night).
        "bytes_reread": tally.bytes_reread,
        "primary_bytes_read": tally.primary_bytes_read,
        "primary_bytes_reread": tally.primary_bytes_reread,
    }
    if tally.methods:
        for method in ("checksum", "download", "earlier"):
            measured[f"verified_by_{method}"] = tally.methods.get(method, 0)
    return measured


def _problems(listing: _Listing, tally: _Tally) -> list[str]:
    """What proves the copy wrong: each a phrase naming the first few paths."""
    problems = []
    mismatched = len(listing.size_mismatch) + len(tally.mismatched)
    if mismatched:
        problems.append(f"{mismatched} mismatched ({_named(listing.size_mismatch, tally.mismatched)})")
    if listing.missing:
        problems.append(f"{len(listing.missing)} missing ({_named(listing.missing)})")
    if listing.extra:
        problems.append(f"{len(listing.extra)} extra ({_named(listing.extra)})")
    if tally.copy_silent:
        problems.append(f"silent corruption on the copy: content changed with size and mtime unchanged "
                        f"({_named(tally.copy_silent)})")
    if tally.primary_silent:
        problems.append(f"suspected corruption at the source: primary content changed with size and mtime "
                        f"unchanged ({_named(tally.primary_silent)})")
    return problems


def _future_note(future: _Names, copy_future: int) -> str:
    """'; N primary files dated in the future …' (and the copy's count), or '' when none are."""
    note = ""
    if future:
        note += (f"; {len(future)} primary files dated in the future (beyond now + "
                 f"{format_duration(CLOCK_SKEW_SECONDS)}), compared all the same: {_named(future)}")
    if copy_future:
        note += f"; {copy_future} files of the copy dated in the future"
    return note


def _how(methods: Counter) -> str:
    """Return ' (by S3 checksum: 3, downloaded: 2, unchanged since verified: 5)' or '' when not told."""
    if not methods:
        return ""
    labels = {"checksum": "by S3 SHA-256 checksum", "download": "downloaded and hashed",
              "earlier": "unchanged since an earlier verification"}
    counts = [f"{labels.get(m, m)}: {methods[m]}" for m in ("checksum", "download", "earlier") if methods.get(m)]
    return " [" + ", ".join(counts) + "]"
