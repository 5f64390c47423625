"""The hash cache's rows (agent.hash_cache.CacheRow): one meaning per column, and caches written by
earlier versions keep working without ever matching an object they were not made for."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent.hash_cache import CacheRow, HashCache
from agent.names import to_bytes
from agent.targets.s3_verify import ObjectEntry, legacy_identity, same_object

DIGEST = "d" * 64
OBJECT = ObjectEntry("a.bin", 10, 1700000000.5, etag="0123abcd-2")
S3_KEY = "s3://127.0.0.1:9/b/copy/a.bin"
V1_TABLE = ("CREATE TABLE hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, inode INTEGER,"
            " ctime_ns INTEGER, sha256 TEXT, hashed_at REAL)")


def token(etag: str) -> int:
    return int(legacy_identity(etag).rsplit(":", 1)[1])


def write_version_1(path: Path) -> None:
    """A cache as version 1 wrote it: a file's row, and s3 rows with the method in inode (1 checksum,
    2 download) and a 56-bit token of the ETag in ctime_ns."""
    db = sqlite3.connect(path)
    with db:
        db.execute(V1_TABLE)
        db.executemany("INSERT INTO hashes VALUES (?, ?, ?, ?, ?, ?, ?)", [
            (to_bytes("/srv/data/a.txt"), 3, 111, 42, 222, DIGEST, 5.0),
            (to_bytes(S3_KEY), OBJECT.size, OBJECT.mtime_ns, 2, token(OBJECT.etag), DIGEST, 5.0),
            (to_bytes(S3_KEY + ".sum"), 4, 333, 1, token("e"), "c" * 64, 6.0),
        ])
        db.execute("PRAGMA user_version = 1")
    db.close()


def test_a_row_has_named_columns_and_files_leave_identity_and_method_empty():
    cache = HashCache(None)
    cache.store_many([("/srv/a", 1, 2, 3, 4, DIGEST, 5.0),
                      (S3_KEY, *CacheRow(10, 20, 0, 0, DIGEST, 6.0, identity="etag", method="checksum"))])
    assert cache.lookup("/srv/a") == CacheRow(1, 2, 3, 4, DIGEST, 5.0, None, None)
    found = cache.lookup(S3_KEY)
    assert (found.identity, found.method, found.sha256) == ("etag", "checksum", DIGEST)
    assert cache.lookup("/srv/missing") is None


def test_a_version_1_cache_is_migrated_once_and_keeps_what_it_remembers(tmp_path):
    path = tmp_path / "hash-cache.sqlite"
    write_version_1(path)
    cache = HashCache(path)
    assert cache.lookup("/srv/data/a.txt") == CacheRow(3, 111, 42, 222, DIGEST, 5.0, None, None)
    row = cache.lookup(S3_KEY)
    assert row == CacheRow(OBJECT.size, OBJECT.mtime_ns, 0, 0, DIGEST, 5.0, legacy_identity(OBJECT.etag), "download")
    assert same_object(row, OBJECT), "an old row of this very object version still counts"
    assert not same_object(row, ObjectEntry("a.bin", 10, 1700000000.5, etag="0123abcd-3")), "never another version"
    assert cache.lookup(S3_KEY + ".sum").method == "checksum"
    cache.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == HashCache.SCHEMA_VERSION == 2
    db.close()
    assert HashCache(path).lookup(S3_KEY) == row, "opened again: nothing rewritten twice"


def test_a_version_1_cache_is_read_the_same_way_without_writing(tmp_path):
    path = tmp_path / "hash-cache.sqlite"
    write_version_1(path)
    before = path.read_bytes()
    cache = HashCache(path, read_only=True)
    assert cache.lookup("/srv/data/a.txt").sha256 == DIGEST
    row = cache.lookup(S3_KEY)
    assert (row.identity, row.method) == (legacy_identity(OBJECT.etag), "download")
    assert same_object(row, OBJECT)
    cache.store_many([("/srv/b", 1, 1, 1, 1, DIGEST, 1.0)])
    cache.close()
    assert path.read_bytes() == before


def test_a_version_0_cache_is_migrated_through_both_steps(tmp_path):
    path = tmp_path / "hash-cache.sqlite"
    db = sqlite3.connect(path)
    with db:
        db.execute(V1_TABLE)
        db.execute("INSERT INTO hashes VALUES (?, ?, ?, ?, ?, ?, ?)", ("/srv/中文.txt", 1, 2, 3, 4, DIGEST, 5.0))
    db.close()
    cache = HashCache(path)
    assert cache.lookup("/srv/中文.txt") == CacheRow(1, 2, 3, 4, DIGEST, 5.0, None, None)


def test_a_version_0_cache_is_not_used_read_only(tmp_path):
    path = tmp_path / "hash-cache.sqlite"
    db = sqlite3.connect(path)
    with db:
        db.execute(V1_TABLE)
        db.execute("INSERT INTO hashes VALUES (?, ?, ?, ?, ?, ?, ?)", ("/srv/a", 1, 2, 3, 4, DIGEST, 5.0))
    db.close()
    assert HashCache(path, read_only=True).lookup("/srv/a") is None
