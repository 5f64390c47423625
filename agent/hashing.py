"""SHA-256 of file trees: parallel and incremental.

Incremental: a cache keyed by path, size, mtime, inode and ctime. Any write through the kernel
(even one that restores the mtime afterwards) changes ctime, so a changed file is always re-read;
entries older than `rehash_every` are re-read anyway so media-level bit rot is found within that
cycle. A re-read whose size and mtime match the cached entry but whose hash does not is silent
corruption, reported by the caller. Parallel: hashlib releases the GIL, so threads scale.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from agent import names, space
from agent.clock import in_future
from agent.errors import AgentError

CHUNK = 1 << 20


@dataclass(frozen=True)
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


def scan_tree(root: str) -> dict[str, FileEntry]:
    """Given a directory, return its regular files (symlinks not followed) keyed by relative path."""
    entries: dict[str, FileEntry] = {}
    root = os.path.abspath(root)
    stack = [root]
    while stack:
        directory = stack.pop()
        with os.scandir(directory) as iterator:
            for item in iterator:
                if item.is_dir(follow_symlinks=False):
                    stack.append(item.path)
                elif item.is_file(follow_symlinks=False):
                    st = item.stat(follow_symlinks=False)
                    relpath = os.path.relpath(item.path, root)
                    entries[relpath] = FileEntry(relpath, st.st_size, st.st_mtime, st.st_ino, st.st_ctime_ns, st.st_dev)
    return entries


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
    return digest.hexdigest()


class HashCache:
    """A SQLite cache of file hashes, one per agent state directory. Thread-safe for lookups and stores.

    Keys are the bytes of the name (agent.names.to_bytes), stored as BLOBs: a file name need not be
    UTF-8, and SQLite's TEXT cannot hold the lone surrogates that stand for such bytes. Writes are
    transactions (all of a batch or none of it); a full disk raises NoSpaceError naming the state
    directory, any other SQLite failure AgentError, never a bare sqlite3 traceback.

    read_only (verify --dry-run): what is cached is used, nothing is stored, the file is not created.
    """

    SCHEMA_VERSION = 1  # 0: keys stored as TEXT (before non-UTF-8 names were kept)

    def __init__(self, path: Path | None, read_only: bool = False):
        self._lock = threading.Lock()
        self._path = path
        self.read_only = read_only
        if read_only:
            self._open_read_only(path)
            return
        try:
            with self._writing("opening the hash cache"):
                self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
                with self._db:
                    self._db.execute(
                        "CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
                        " inode INTEGER, ctime_ns INTEGER, sha256 TEXT, hashed_at REAL)"
                    )
                    if self._db.execute("PRAGMA user_version").fetchone()[0] < self.SCHEMA_VERSION:
                        # Once: the same key as bytes, so cached digests (and the silent-corruption
                        # history they carry) survive the change. A TEXT 'x' never equals a BLOB x'78'.
                        self._db.execute("UPDATE hashes SET path = CAST(path AS BLOB) WHERE typeof(path) = 'text'")
                        self._db.execute(f"PRAGMA user_version = {self.SCHEMA_VERSION}")
        except sqlite3.Error as error:
            raise AgentError(f"cannot open the hash cache {path}: {error}") from error

    def _open_read_only(self, path: Path | None) -> None:
        if path is not None and Path(path).exists():
            try:
                self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
                if self._db.execute("PRAGMA user_version").fetchone()[0] >= self.SCHEMA_VERSION:
                    return
                self._db.close()  # an older cache is simply not used: its keys would never match
            except sqlite3.Error as error:
                raise AgentError(f"cannot read the hash cache {path}: {error}") from error
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute("CREATE TABLE hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
                         " inode INTEGER, ctime_ns INTEGER, sha256 TEXT, hashed_at REAL)")

    def _writing(self, what: str):
        if self._path is None:
            return contextlib.nullcontext()
        return space.writing(Path(self._path).parent, f"{what} {self._path}")

    def lookup(self, path: str) -> tuple | None:
        with self._lock:
            try:
                return self._db.execute(
                    "SELECT size, mtime_ns, inode, ctime_ns, sha256, hashed_at FROM hashes WHERE path = ?",
                    (names.to_bytes(path),)
                ).fetchone()
            except sqlite3.Error as error:
                raise AgentError(f"cannot read the hash cache {self._path}: {error}") from error

    def store_many(self, rows: Iterable[tuple]) -> None:
        if self.read_only:
            return
        encoded = [(names.to_bytes(row[0]), *row[1:]) for row in rows]
        with self._lock:
            try:
                with self._writing("updating the hash cache"), self._db:
                    self._db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?, ?, ?)", encoded)
            except BaseException as error:
                # A COMMIT that failed (a full disk) can leave the transaction open: end it, so the
                # batch is all gone and the next one does not ride on it.
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.rollback()
                if isinstance(error, sqlite3.Error):
                    raise AgentError(f"cannot update the hash cache {self._path}: {error}") from error
                raise

    def close(self) -> None:
        self._db.close()


def split_cached(
    entries: Iterable[FileEntry],
    key: Callable[[FileEntry], str],
    *,
    cache: HashCache,
    now: float,
    rehash_every: float,
) -> tuple[dict[str, str], list[tuple[FileEntry, tuple | None]]]:
    """Given entries and how to name each in the cache, return (digests taken from the cache, entries to read).

    A file whose cached entry matches size, mtime, inode and ctime and is younger than
    `rehash_every` seconds is taken from the cache; every other file must be read. Shared by every
    target kind (local paths, ssh://user@host:port/path keys) so the rule lives in one place.
    """
    digests: dict[str, str] = {}
    to_read: list[tuple[FileEntry, tuple | None]] = []
    for entry in entries:
        cached = cache.lookup(key(entry))
        if (
            cached
            and cached[0] == entry.size
            and cached[1] == entry.mtime_ns
            and cached[2] == entry.inode
            and cached[3] == entry.ctime_ns
            and now - cached[5] < rehash_every
            and not in_future(cached[5], now)  # hashed "later" than now: a clock ran ahead; read again
        ):
            digests[entry.relpath] = cached[4]
        else:
            to_read.append((entry, cached))
    return digests, to_read


def store_read(
    read: Iterable[tuple[FileEntry, tuple | None, str]],
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
        if cached and cached[0] == entry.size and cached[1] == entry.mtime_ns and cached[4] != digest:
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
) -> HashOutcome:
    """Given a tree root and the entries to hash, return their SHA-256, reading only what changed
    (see split_cached for when a file is read), in parallel.
    """
    root = os.path.abspath(root)

    def key(entry: FileEntry) -> str:
        return os.path.join(root, entry.relpath)

    digests, to_read = split_cached(entries, key, cache=cache, now=now, rehash_every=rehash_every)
    from_cache = len(digests)

    def read(item: tuple[FileEntry, tuple | None]) -> tuple[FileEntry, tuple | None, str | None, str | None]:
        entry, cached = item
        try:
            digest = sha256_file(os.path.join(root, entry.relpath))
        except OSError as error:
            return entry, cached, None, error.strerror or str(error)
        if progress:
            progress(entry.size)
        return entry, cached, digest, None

    unreadable: dict[str, str] = {}
    done: list[tuple[FileEntry, tuple | None, str]] = []
    bytes_read = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for entry, cached, digest, problem in pool.map(read, to_read):
            if digest is None:
                unreadable[entry.relpath] = problem or "unreadable"
                continue
            bytes_read += entry.size
            done.append((entry, cached, digest))
    fresh, silently_changed = store_read(done, key, cache=cache, now=now)
    digests.update(fresh)
    return HashOutcome(digests, unreadable, silently_changed, bytes_read, from_cache)
