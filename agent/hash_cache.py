"""The hash cache: one SQLite table per agent state directory remembering each file's (or
object's) digest with what identifies that version of it (size, mtime, inode, ctime; an object's
ETag), so an unchanged file is not read again until its re-read falls due (agent.hashing)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from agent import names, space
from agent.errors import AgentError

_LOOKUP_BATCH = 500  # names per SELECT … IN (…): well under SQLite's limit on bound parameters


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
        self._columns = f"{_COLUMNS}, identity, method"
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
                    self._columns = f"{_COLUMNS}, {_V1_IDENTITY}, {_V1_METHOD}"
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
        return self.lookup_many([path]).get(path)

    def lookup_many(self, paths: list[str]) -> dict[str, CacheRow]:
        """The cached rows of the given names (those the cache has), a few hundred per SELECT."""
        found: dict[str, CacheRow] = {}
        with self._lock:
            try:
                for start in range(0, len(paths), _LOOKUP_BATCH):
                    batch = {names.to_bytes(path): path for path in paths[start:start + _LOOKUP_BATCH]}
                    query = f"SELECT path, {self._columns} FROM hashes WHERE path IN ({','.join('?' * len(batch))})"
                    for row in self._db.execute(query, list(batch)):
                        found[batch[bytes(row[0])]] = CacheRow(*row[1:])
            except sqlite3.Error as error:
                raise AgentError(f"cannot read the hash cache {self._path}: {error}") from error
        return found

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
        # Under the lock: a run interrupted while a worker still writes closes the cache from the
        # main thread, and closing an SQLite connection in use by another thread crashes the process.
        with self._lock:
            self._db.close()
