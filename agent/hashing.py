"""SHA-256 of file trees: parallel and incremental.

Incremental: a cache keyed by path, size, mtime, inode and ctime. Any write through the kernel
(even one that restores the mtime afterwards) changes ctime, so a changed file is always re-read;
entries older than `rehash_every` are re-read anyway so media-level bit rot is found within that
cycle. A re-read whose size and mtime match the cached entry but whose hash does not is silent
corruption, reported by the caller. Parallel: hashlib releases the GIL, so threads scale.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from agent.clock import in_future
from agent.hash_cache import CacheRow, HashCache

CHUNK = 1 << 20
# A task of the hashing pool: files read by one worker in a row, up to this many bytes or files
# (a 100-byte file costs less to read than to hand to a thread; a large one is a task of its own).
_TASK_BYTES = 4 << 20
_TASK_FILES = 256
_PREFETCH_MIN = 64 << 10  # smaller files cost more to prefetch (an open and a close) than to read
_PREFETCH_AHEAD = 64 << 20
_PREFETCH_TASKS = 16  # and never more tasks than this held back (small files are not prefetched)


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One regular file of a tree: path relative to the tree root, and its stat."""

    relpath: str
    size: int
    mtime: float
    inode: int = 0
    ctime_ns: int = 0
    device: int = 0  # st_dev: with the inode, says whether two trees share the file (a hard link)

    @property
    def mtime_ns(self) -> int:
        return int(round(self.mtime * 1e9))


@dataclass(frozen=True)
class HashOutcome:
    digests: dict[str, str]  # relpath -> sha256 hex
    unreadable: dict[str, str]  # relpath -> reason
    silently_changed: list[str]  # same size+mtime as last time, different content
    bytes_read: int
    files_from_cache: int
    # Files the target could not afford to verify this run (an S3 object without a full-object
    # checksum, outside this run's download sample): neither a match nor a mismatch, and said so.
    not_verified: list[str] = field(default_factory=list)
    # relpath -> how its digest was obtained where the kind has several ways
    # (s3: "checksum", "download", "earlier"); empty for kinds that always read the data.
    methods: dict[str, str] = field(default_factory=dict)
    # Of bytes_read, the bytes of files read again though unchanged since their cached digest:
    # the bit-rot re-reads (their night of the cycle, or an expired digest).
    bytes_reread: int = 0
    # relpath -> when its digest was last computed from its bytes (now, for those read this run;
    # s3: when S3's checksum was read): what coverage is counted from (checks/restic_packs).
    read_at: dict[str, float] = field(default_factory=dict)

    def merged(self, other: HashOutcome) -> HashOutcome:
        """This outcome and another's of other files (a tree hashed a chunk at a time), as one."""
        return HashOutcome(
            {**self.digests, **other.digests}, {**self.unreadable, **other.unreadable},
            [*self.silently_changed, *other.silently_changed], self.bytes_read + other.bytes_read,
            self.files_from_cache + other.files_from_cache, [*self.not_verified, *other.not_verified],
            {**self.methods, **other.methods}, self.bytes_reread + other.bytes_reread,
            {**self.read_at, **other.read_at})


def scan_tree(root: str) -> dict[str, FileEntry]:
    """Given a directory, return its regular files (symlinks not followed) keyed by relative path.
    (Targets list into the compact agent.manifest.Manifest; this is the same list as a dict.)"""
    from agent.manifest import scan

    return dict(scan(root).items())


_buffers = threading.local()


def _buffer() -> memoryview:
    """This thread's read buffer: one per worker for the whole run, not a fresh MiB per file."""
    view = getattr(_buffers, "view", None)
    if view is None:
        view = _buffers.view = memoryview(bytearray(CHUNK))
    return view


def sha256_file(path: str) -> str:
    """SHA-256 of a file's content, hex. Raise OSError."""
    view = _buffer()
    digest = hashlib.sha256()
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        while count := os.readv(descriptor, [view]):
            digest.update(view[:count])
    finally:
        os.close(descriptor)
    return digest.hexdigest()


def split_cached(
    entries: Iterable[FileEntry],
    key: Callable[[FileEntry], str],
    *,
    cache: HashCache,
    now: float,
    rehash_every: float,
    interval: float | None = None,
    read_at: dict[str, float] | None = None,
) -> tuple[dict[str, str], list[tuple[FileEntry, CacheRow | None]]]:
    """Given entries and how to name each in the cache, return (digests taken from the cache, entries to read).

    A file whose cached entry matches size, mtime, inode and ctime and is younger than
    `rehash_every` seconds is taken from the cache; every other file must be read. Shared by every
    target kind (local paths, ssh://user@host:port/path keys) so the rule lives in one place.

    With the schedule's `interval` (a night), the re-reads that find bit rot are spread over the
    cycle instead of all falling due the night the cache was filled: each unchanged file also has
    a night of the cycle (reread_slots) on which it is read again, so each night reads about
    1/cycle of the unchanged bytes; the expiry above still bounds every file's age.
    """
    entries = list(entries)
    keys = [key(entry) for entry in entries]
    rows = cache.lookup_many(keys)
    slots = reread_slots(entries, rehash_every, interval)
    cycle = cycle_nights(rehash_every, interval)
    tonight = int(now // interval) % cycle if interval and cycle > 1 else -1
    digests: dict[str, str] = {}
    to_read: list[tuple[FileEntry, CacheRow | None]] = []
    for index, entry in enumerate(entries):
        cached = rows.get(keys[index])
        if (
            cached
            and unchanged(entry, cached)
            and now - cached.hashed_at < rehash_every
            and not in_future(cached.hashed_at, now)  # hashed "later" than now: a clock ran ahead; read again
            # this file's night of the cycle (unless read within the last half night)
            and not (slots and slots[index] == tonight and now - cached.hashed_at >= interval / 2)
        ):
            digests[entry.relpath] = cached.sha256
            if read_at is not None:
                read_at[entry.relpath] = cached.hashed_at
        else:
            to_read.append((entry, cached))
    return digests, to_read


def unchanged(entry: FileEntry, cached: CacheRow | None) -> bool:
    """Whether a cached row was made for this very file: same size, mtime, inode and ctime."""
    return (cached is not None and cached.size == entry.size and cached.mtime_ns == entry.mtime_ns
            and cached.inode == entry.inode and cached.ctime_ns == entry.ctime_ns)


def cycle_nights(rehash_every: float, interval: float | None) -> int:
    """How many scheduled runs one re-read cycle spans (1: no spreading)."""
    if not interval or interval <= 0:
        return 1
    return max(1, int(rehash_every // interval))


def reread_slots(entries: list[FileEntry], rehash_every: float, interval: float | None) -> list[int]:
    """Each entry's night of the re-read cycle (0 … cycle-1), or [] when nothing is spread.

    Nights are given by bytes: the entries in name order are laid end to end over the cycle, and
    each falls on the night its middle lands on, so every night holds about 1/cycle of the bytes
    (a file larger than a night's share has a night to itself). Positions move only when files are
    added, removed or resized; a file whose night moves later is still read at expiry."""
    cycle = cycle_nights(rehash_every, interval)
    if cycle <= 1 or not entries:
        return []
    order = sorted(range(len(entries)), key=lambda i: entries[i].relpath)
    total = sum(entry.size + 1 for entry in entries)  # + 1: empty files are spread too
    slots = [0] * len(entries)
    before = 0
    for index in order:
        weight = entries[index].size + 1
        slots[index] = min(cycle - 1, int(cycle * (before + weight / 2) / total))
        before += weight
    return slots


def store_read(
    read: Iterable[tuple[FileEntry, CacheRow | None, str]],
    key: Callable[[FileEntry], str],
    *,
    cache: HashCache,
    now: float,
) -> tuple[dict[str, str], list[str]]:
    """Given freshly read (entry, cached row, digest) triples, store them and return (digests, silently changed).

    A digest that differs from the cached one while size and mtime did not change is silent
    corruption: nothing that writes through the kernel leaves both untouched.
    """
    digests: dict[str, str] = {}
    silently_changed: list[str] = []
    rows = []
    for entry, cached, digest in read:
        digests[entry.relpath] = digest
        if cached and cached.size == entry.size and cached.mtime_ns == entry.mtime_ns and cached.sha256 != digest:
            silently_changed.append(entry.relpath)
        rows.append((key(entry), entry.size, entry.mtime_ns, entry.inode, entry.ctime_ns, digest, now))
    cache.store_many(rows)
    return digests, sorted(silently_changed)


def hash_tree(
    root: str,
    entries: Iterable[FileEntry],
    *,
    cache: HashCache,
    now: float,
    rehash_every: float,
    workers: int,
    progress: Callable[[int], None] | None = None,
    interval: float | None = None,
    cpu: threading.Semaphore | None = None,
) -> HashOutcome:
    """Given a tree root and the entries to hash, return their SHA-256, reading only what changed
    (see split_cached for when a file is read), in parallel.

    Files go to the workers in tasks of several small files (or one large one), at most two tasks
    per worker waiting at a time, so memory does not grow with the number of files; callers with
    very many files hand them over in chunks (checks/files_checksum does). With the run's `cpu`
    budget, each task holds one of its slots while it reads and hashes."""
    root = os.path.abspath(root)

    def key(entry: FileEntry) -> str:
        return os.path.join(root, entry.relpath)

    read_at: dict[str, float] = {}
    digests, to_read = split_cached(entries, key, cache=cache, now=now, rehash_every=rehash_every, interval=interval,
                                    read_at=read_at)
    from_cache = len(digests)

    def read(task: list[tuple[FileEntry, CacheRow | None]]) -> list[tuple[FileEntry, CacheRow | None, str | None, str]]:
        with cpu or contextlib.nullcontext():
            results = _read_task(root, task)
        if progress:
            progress(sum(entry.size for entry, _, digest, _ in results if digest is not None))
        return results

    unreadable: dict[str, str] = {}
    done: list[tuple[FileEntry, CacheRow | None, str]] = []
    bytes_read = 0
    for entry, cached, digest, problem in _in_pool(read, _prefetched(root, _tasks(to_read)), workers):
        if digest is None:
            unreadable[entry.relpath] = problem or "unreadable"
            continue
        bytes_read += entry.size
        done.append((entry, cached, digest))
    fresh, silently_changed = store_read(done, key, cache=cache, now=now)
    digests.update(fresh)
    reread = sum(entry.size for entry, cached, _ in done if unchanged(entry, cached))
    read_at.update((entry.relpath, now) for entry, _, _ in done)
    return HashOutcome(digests, unreadable, silently_changed, bytes_read, from_cache, bytes_reread=reread,
                       read_at=read_at)


def _read_task(root: str, task: list[tuple[FileEntry, CacheRow | None]]
               ) -> list[tuple[FileEntry, CacheRow | None, str | None, str]]:
    """Read and hash a task's files: (entry, cached row, digest or None, why it could not be read)."""
    results: list[tuple[FileEntry, CacheRow | None, str | None, str]] = []
    for entry, cached in task:
        try:
            results.append((entry, cached, sha256_file(os.path.join(root, entry.relpath)), ""))
        except OSError as error:
            results.append((entry, cached, None, error.strerror or str(error)))
    return results


def _tasks(items: list[tuple[FileEntry, CacheRow | None]]) -> Iterator[list[tuple[FileEntry, CacheRow | None]]]:
    """Group files into tasks of up to _TASK_FILES files or _TASK_BYTES bytes."""
    task: list[tuple[FileEntry, CacheRow | None]] = []
    size = 0
    for item in items:
        task.append(item)
        size += item[0].size
        if size >= _TASK_BYTES or len(task) >= _TASK_FILES:
            yield task
            task, size = [], 0
    if task:
        yield task


def _prefetched(root: str, tasks: Iterator[list[tuple[FileEntry, CacheRow | None]]]
                ) -> Iterator[list[tuple[FileEntry, CacheRow | None]]]:
    """The tasks, with the larger files of those up to _PREFETCH_AHEAD bytes ahead handed to the
    kernel's readahead (posix_fadvise WILLNEED), so a cold disk reads ahead while the workers,
    which hold the CPU budget's slots, hash: a disk wants more reads in flight than there are cores."""
    ahead: collections.deque = collections.deque()
    queued = 0
    for task in tasks:
        ahead.append(task)
        for entry, _ in task:
            if entry.size >= _PREFETCH_MIN:
                queued += entry.size
                with contextlib.suppress(OSError):
                    descriptor = os.open(os.path.join(root, entry.relpath), os.O_RDONLY | os.O_CLOEXEC)
                    try:
                        os.posix_fadvise(descriptor, 0, entry.size, os.POSIX_FADV_WILLNEED)
                    finally:
                        os.close(descriptor)
        while ahead and (queued >= _PREFETCH_AHEAD or len(ahead) > _PREFETCH_TASKS):
            done = ahead.popleft()
            queued -= sum(entry.size for entry, _ in done if entry.size >= _PREFETCH_MIN)
            yield done
    yield from ahead


def _in_pool(work: Callable[[Any], list], tasks: Iterator[Any], workers: int) -> Iterator[Any]:
    """Run work(task) on `workers` threads, at most 2 × workers tasks submitted and not yet
    collected (a bounded queue: ThreadPoolExecutor.map would make every future up front); yield
    the items of each task's result in task order."""
    workers = max(1, workers)
    if workers == 1:
        for task in tasks:
            yield from work(task)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hash") as pool:
        pending: collections.deque = collections.deque()
        for task in tasks:
            pending.append(pool.submit(work, task))
            if len(pending) >= 2 * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
