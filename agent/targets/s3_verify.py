"""How an S3 object's content is proven against a SHA-256, without trusting what S3 says an
object is unless S3 really says it:
- an object uploaded with a full-object SHA-256 (`ChecksumSHA256` without a `-N` part suffix) is
  compared by that value: the server computed and checked it on upload, no bytes are moved;
- every other object can only be proven by reading it: each run downloads and hashes a sample
  bounded by the target's `sample_bytes`, objects never verified or changed since (new ETag, size
  or LastModified) first, then the longest-unverified ones, so the sample rotates through the bucket;
- an ETag is never compared as an MD5: a multipart ETag (`…-N`) is an MD5 of part MD5s, and
  SSE-KMS ETags are not MD5s at all;
- what is not verified this run is counted as such (HashOutcome.not_verified), never as a match.
Digests are remembered in the HashCache with the object's identity (size, LastModified, ETag), so
an object hashed earlier and unchanged since counts as verified until `agent.rehash_every` expires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.clock import in_future
from agent.errors import TargetUnavailable
from agent.hash_cache import CacheRow
from agent.hashing import FileEntry, HashOutcome

if TYPE_CHECKING:
    from agent.targets.s3 import S3Target

HEAD_WORKERS = 8
CHECKSUM = "checksum"
DOWNLOAD = "download"
EARLIER = "earlier"
Pending = tuple["ObjectEntry", CacheRow | None]


@dataclass(frozen=True)
class ObjectEntry(FileEntry):
    """One object under a copy's prefix: FileEntry (mtime = LastModified) plus what S3 says of it."""

    etag: str = ""
    checksum_sha256: str | None = None  # base64, as S3 returns it; None when unknown or absent
    checksum_type: str | None = None  # FULL_OBJECT or COMPOSITE when the server says


def full_object_sha256(checksum: str | None, checksum_type: str | None) -> str | None:
    """Given ChecksumSHA256 and ChecksumType as S3 returns them, return the content's SHA-256 in hex.

    Return None when the value is not the hash of the content: absent, a composite multipart
    checksum (a hash of the parts' hashes, written with a `-N` part count) or not decodable.
    """
    if not checksum or checksum_type == "COMPOSITE" or "-" in checksum:
        return None
    try:
        raw = base64.b64decode(checksum, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def legacy_identity(etag: str) -> str:
    """How a hash cache of version 1 named an ETag (a 56-bit hash, agent.hashing._V1_IDENTITY)."""
    return f"etag-sha256-56:{int.from_bytes(hashlib.sha256(etag.encode()).digest()[:7], 'big')}"


def same_object(row: CacheRow | None, entry: ObjectEntry) -> bool:
    """Whether a cached row was made for this very object version (size, LastModified, ETag)."""
    return (row is not None and row.identity is not None and row.size == entry.size
            and row.mtime_ns == entry.mtime_ns and row.identity in (entry.etag, legacy_identity(entry.etag)))


def cache_row(entry: ObjectEntry, method: str, digest: str, now: float) -> CacheRow:
    return CacheRow(entry.size, entry.mtime_ns, 0, 0, digest, now, identity=entry.etag, method=method)


@dataclass
class SampleBudget:
    """The bytes a target may still download this run, shared by all copies on it."""

    left: int
    took_any: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def choose(self, candidates: Iterable[Pending]) -> list[Pending]:
        """Pick what to download within the budget.

        Order: objects never hashed or changed since (their identity differs from the cached one)
        first, then those verified longest ago. One object larger than the whole budget is still
        taken when nothing else was downloaded this run, so a big object is not skipped forever;
        empty objects cost nothing and are always taken.
        """
        def order(item: Pending) -> tuple:
            entry, row = item
            known = same_object(row, entry)
            return (1 if known else 0, row.hashed_at if known else 0.0, entry.relpath)  # type: ignore[union-attr]

        chosen = []
        with self._lock:
            for entry, row in sorted(candidates, key=order):
                if entry.size == 0 or entry.size <= self.left or not self.took_any:
                    chosen.append((entry, row))
                    self.left = max(0, self.left - entry.size)
                    self.took_any = self.took_any or entry.size > 0
        return chosen


@dataclass
class Verification:
    """What one hash() call has found so far."""

    digests: dict[str, str] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    rows: list[tuple] = field(default_factory=list)
    silently_changed: list[str] = field(default_factory=list)
    bytes_read: int = 0
    read_at: dict[str, float] = field(default_factory=dict)

    def proven(self, key: str, entry: ObjectEntry, method: str, digest: str, now: float) -> None:
        self.digests[entry.relpath] = digest
        self.methods[entry.relpath] = method
        self.read_at[entry.relpath] = now
        self.rows.append((key, *cache_row(entry, method, digest, now)))


def verify(target: S3Target, path: str, entries: list[FileEntry],
           progress: Callable[[int], None] | None = None) -> HashOutcome:
    """Return SHA-256 of the given objects under path: from an earlier verification of the
    unchanged object, from S3's full-object checksum, or by downloading a bounded rotating sample."""
    prefix = target.prefix(path)
    context = target.context
    found = Verification()
    pending: list[Pending] = []
    for entry in entries:
        entry = entry if isinstance(entry, ObjectEntry) else ObjectEntry(entry.relpath, entry.size, entry.mtime)
        row = context.hash_cache.lookup(target.cache_key(prefix + entry.relpath))
        if (same_object(row, entry) and context.now - row.hashed_at < context.rehash_every  # type: ignore[union-attr]
                and not in_future(row.hashed_at, context.now)):  # type: ignore[union-attr]
            found.digests[entry.relpath] = row.sha256  # type: ignore[union-attr]
            found.read_at[entry.relpath] = row.hashed_at  # type: ignore[union-attr]
            # A remembered S3 checksum of this very object version is what HeadObject would say again.
            found.methods[entry.relpath] = CHECKSUM if row.method == CHECKSUM else EARLIER  # type: ignore[union-attr]
        else:
            pending.append((entry, row))
    from_cache = len(found.digests)
    to_download = _by_checksum(target, prefix, pending, found)
    chosen = target.budget.choose(to_download)
    chosen_paths = {entry.relpath for entry, _ in chosen}
    not_verified = sorted(entry.relpath for entry, _ in to_download if entry.relpath not in chosen_paths)
    _by_download(target, prefix, chosen, found, progress)
    context.hash_cache.store_many(found.rows)
    return HashOutcome(found.digests, found.unreadable, sorted(found.silently_changed), found.bytes_read, from_cache,
                       not_verified=not_verified, methods=found.methods, read_at=found.read_at)


def _by_checksum(target: S3Target, prefix: str, pending: list[Pending], found: Verification) -> list[Pending]:
    """Where S3 holds a full-object SHA-256, that is the content hash: no bytes need to move.
    Return the objects that must be downloaded instead."""
    def head(item: Pending) -> tuple[ObjectEntry, CacheRow | None, ObjectEntry | None, str | None]:
        entry, row = item
        try:
            now_there = target.stat(prefix + entry.relpath)
        except TargetUnavailable as error:
            return entry, row, None, str(error)
        if now_there is None:
            return entry, row, None, "object disappeared during the check"
        return entry, row, ObjectEntry(entry.relpath, now_there.size, now_there.mtime, etag=now_there.etag,
                                       checksum_sha256=now_there.checksum_sha256,
                                       checksum_type=now_there.checksum_type), None

    to_download: list[Pending] = []
    if not pending:
        return to_download
    with ThreadPoolExecutor(max_workers=HEAD_WORKERS) as pool:
        for entry, row, headed, problem in pool.map(head, pending):
            if headed is None:
                found.unreadable[entry.relpath] = problem or "unreadable"
                continue
            digest = full_object_sha256(headed.checksum_sha256, headed.checksum_type)
            if digest:
                found.proven(target.cache_key(prefix + headed.relpath), headed, CHECKSUM, digest, target.context.now)
            else:
                to_download.append((headed, row))
    return to_download


def _by_download(target: S3Target, prefix: str, chosen: list[Pending], found: Verification,
                 progress: Callable[[int], None] | None) -> None:
    def download(item: Pending) -> tuple[ObjectEntry, CacheRow | None, tuple[str, int] | None, str | None]:
        entry, row = item
        try:
            return entry, row, target.download_sha256(prefix + entry.relpath), None
        except TargetUnavailable as error:
            return entry, row, None, str(error)

    if not chosen:
        return
    with ThreadPoolExecutor(max_workers=max(1, target.context.hash_workers)) as pool:
        for entry, row, result, problem in pool.map(download, chosen):
            if problem or result is None:
                found.unreadable[entry.relpath] = problem or "unreadable"
                continue
            digest, size = result
            found.bytes_read += size
            if progress:
                progress(size)
            if same_object(row, entry) and row.sha256 != digest:  # type: ignore[union-attr]
                # Same ETag, size and LastModified, different bytes: the provider lost data.
                found.silently_changed.append(entry.relpath)
            found.proven(target.cache_key(prefix + entry.relpath), entry, DOWNLOAD, digest, target.context.now)
