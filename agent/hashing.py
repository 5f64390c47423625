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
from typing import NamedTuple

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


class CacheRow(NamedTuple):
    """One remembered digest of the hash cache, keyed by a file's or object's name.

    A file is the same file while size, mtime, inode and ctime are; an object (s3) has no inode or
    ctime, so its `identity` (the ETag the digest belongs to) says it, and `method` how the digest
    was obtained. Each column means one thing for every kind."""

    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int
    sha256: str
    hashed_at: float
    identity: str | None = None  # objects: the ETag (legacy rows: "etag-sha256-56:N"); files: None
    method: str | None = None  # objects: "checksum" or "download"; files: None


# Version 2 gave objects their own identity and method columns; before, s3 rows kept the method
# (1 checksum, 2 download) in inode and a 56-bit hash of the ETag in ctime_ns. Those rows keep
# working through this one rewrite: the token is now written as text in identity, which a real
# ETag never equals, so an old row matches only the object version it was made for.
_S3_ROW = "substr(path, 1, 5) = CAST('s3://' AS BLOB)"
_V1_METHOD = f"CASE WHEN {_S3_ROW} THEN CASE inode WHEN 1 THEN 'checksum' WHEN 2 THEN 'download' END END"
_V1_IDENTITY = f"CASE WHEN {_S3_ROW} THEN 'etag-sha256-56:' || ctime_ns END"
_COLUMNS = "size, mtime_ns, inode, ctime_ns, sha256, hashed_at"
_TABLE = ("CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, inode INTEGER,"
          " ctime_ns INTEGER, sha256 TEXT, hashed_at REAL, identity TEXT, method TEXT)")


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

    SCHEMA_VERSION = 2  # 0: keys stored as TEXT (before non-UTF-8 names were kept); 1: no identity/method

    def __init__(self, path: Path | None, read_only: bool = False):
        self._lock = threading.Lock()
        self._path = path
        self.read_only = read_only
        self._select = f"SELECT {_COLUMNS}, identity, method FROM hashes WHERE path = ?"
        if read_only:
            self._open_read_only(path)
            return
        try:
            with self._writing("opening the hash cache"):
                self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
                with self._db:
                    self._db.execute("BEGIN")  # DDL included: a migration is whole or not at all
                    self._migrate()
        except sqlite3.Error as error:
            raise AgentError(f"cannot open the hash cache {path}: {error}") from error

    def _migrate(self) -> None:
        """Bring the cache to SCHEMA_VERSION in one transaction, keeping what it remembers."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(hashes)")}
        if not columns:
            self._db.execute(_TABLE)
            self._db.execute(f"PRAGMA user_version = {self.SCHEMA_VERSION}")
            return
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version < 1:
            # The same key as bytes, so cached digests (and the silent-corruption history they
            # carry) survive the change. A TEXT 'x' never equals a BLOB x'78'.
            self._db.execute("UPDATE hashes SET path = CAST(path AS BLOB) WHERE typeof(path) = 'text'")
        if "identity" not in columns:
            self._db.execute("ALTER TABLE hashes ADD COLUMN identity TEXT")
            self._db.execute("ALTER TABLE hashes ADD COLUMN method TEXT")
            self._db.execute(f"UPDATE hashes SET identity = {_V1_IDENTITY}, method = {_V1_METHOD}, inode = 0,"
                             f" ctime_ns = 0 WHERE {_S3_ROW}")
        if version < self.SCHEMA_VERSION:
            self._db.execute(f"PRAGMA user_version = {self.SCHEMA_VERSION}")

    def _open_read_only(self, path: Path | None) -> None:
        if path is not None and Path(path).exists():
            try:
                self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version == 1:  # read as version 2 would hold it (see _migrate), without writing
                    self._select = f"SELECT {_COLUMNS}, {_V1_IDENTITY}, {_V1_METHOD} FROM hashes WHERE path = ?"
                if version >= 1:
                    return
                self._db.close()  # an older cache is simply not used: its keys would never match
            except sqlite3.Error as error:
                raise AgentError(f"cannot read the hash cache {path}: {error}") from error
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(_TABLE)

    def _writing(self, what: str):
        if self._path is None:
            return contextlib.nullcontext()
        return space.writing(Path(self._path).parent, f"{what} {self._path}")

    def lookup(self, path: str) -> CacheRow | None:
        with self._lock:
            try:
                row = self._db.execute(self._select, (names.to_bytes(path),)).fetchone()
            except sqlite3.Error as error:
                raise AgentError(f"cannot read the hash cache {self._path}: {error}") from error
        return None if row is None else CacheRow(*row)

    def store_many(self, rows: Iterable[tuple]) -> None:
        """Store rows of (name, *CacheRow): a file's row may stop after hashed_at."""
        if self.read_only:
            return
        encoded = [(names.to_bytes(row[0]), *CacheRow(*row[1:])) for row in rows]
        with self._lock:
            try:
                with self._writing("updating the hash cache"), self._db:
                    self._db.executemany(f"INSERT OR REPLACE INTO hashes (path, {_COLUMNS}, identity, method)"
                                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", encoded)
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
) -> tuple[dict[str, str], list[tuple[FileEntry, CacheRow | None]]]:
    """Given entries and how to name each in the cache, return (digests taken from the cache, entries to read).

    A file whose cached entry matches size, mtime, inode and ctime and is younger than
    `rehash_every` seconds is taken from the cache; every other file must be read. Shared by every
    target kind (local paths, ssh://user@host:port/path keys) so the rule lives in one place.
    """
    digests: dict[str, str] = {}
    to_read: list[tuple[FileEntry, CacheRow | None]] = []
    for entry in entries:
        cached = cache.lookup(key(entry))
        if (
            cached
            and cached.size == entry.size
            and cached.mtime_ns == entry.mtime_ns
            and cached.inode == entry.inode
            and cached.ctime_ns == entry.ctime_ns
            and now - cached.hashed_at < rehash_every
            and not in_future(cached.hashed_at, now)  # hashed "later" than now: a clock ran ahead; read again
        ):
            digests[entry.relpath] = cached.sha256
        else:
            to_read.append((entry, cached))
    return digests, to_read


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
) -> HashOutcome:
    """Given a tree root and the entries to hash, return their SHA-256, reading only what changed
    (see split_cached for when a file is read), in parallel.
    """
    root = os.path.abspath(root)

    def key(entry: FileEntry) -> str:
        return os.path.join(root, entry.relpath)

    digests, to_read = split_cached(entries, key, cache=cache, now=now, rehash_every=rehash_every)
    from_cache = len(digests)

    def read(item: tuple[FileEntry, CacheRow | None]) -> tuple[FileEntry, CacheRow | None, str | None, str | None]:
        entry, cached = item
        try:
            digest = sha256_file(os.path.join(root, entry.relpath))
        except OSError as error:
            return entry, cached, None, error.strerror or str(error)
        if progress:
            progress(entry.size)
        return entry, cached, digest, None

    unreadable: dict[str, str] = {}
    done: list[tuple[FileEntry, CacheRow | None, str]] = []
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
