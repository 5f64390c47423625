"""agent.hashing's incremental rule, one row per situation: when a cached digest is taken
(split_cached) and when a fresh read is silent corruption (store_read). Shared by every target
kind, so these rows are what a local disk, an SSH host and the fake target all obey."""

from __future__ import annotations

import pytest

from agent.hash_cache import CacheRow, HashCache
from agent.hashing import FileEntry, split_cached, store_read

NOW = 1_800_000_000.0
DAY = 86400.0
REHASH = 30 * DAY
ENTRY = FileEntry("db/dump.sql", 1000, 1_700_000_000.25, 42, 1_700_000_100_000_000_000)
OLD = "a" * 64
NEW = "b" * 64


def key(entry: FileEntry) -> str:
    return "/srv/data/" + entry.relpath


def cached_row(entry: FileEntry = ENTRY, *, size: int | None = None, mtime_ns: int | None = None,
               inode: int | None = None, ctime_ns: int | None = None, hashed_at: float = NOW - DAY) -> tuple:
    return (key(entry), entry.size if size is None else size, entry.mtime_ns if mtime_ns is None else mtime_ns,
            entry.inode if inode is None else inode, entry.ctime_ns if ctime_ns is None else ctime_ns, OLD, hashed_at)


@pytest.mark.parametrize(("row", "taken"), [
    (None, False),  # never hashed
    (cached_row(), True),  # unchanged, hashed yesterday
    (cached_row(size=999), False),
    (cached_row(mtime_ns=ENTRY.mtime_ns + 1), False),
    (cached_row(inode=43), False),  # replaced by another file (rename over it)
    (cached_row(ctime_ns=ENTRY.ctime_ns + 1), False),  # written through the kernel, mtime put back
    (cached_row(hashed_at=NOW - REHASH + 60), True),  # within the re-read cycle
    (cached_row(hashed_at=NOW - REHASH - 60), False),  # older than the cycle: read again for bit rot
    (cached_row(hashed_at=NOW + 60), True),  # a minute ahead: within the clock skew
    (cached_row(hashed_at=NOW + 2 * DAY), False),  # hashed "in the future": a clock ran ahead
], ids=["never", "unchanged", "size", "mtime", "inode", "ctime", "young", "old", "skew", "future"])
def test_split_cached(row: tuple | None, taken: bool) -> None:
    cache = HashCache(None)
    if row:
        cache.store_many([row])
    digests, to_read = split_cached([ENTRY], key, cache=cache, now=NOW, rehash_every=REHASH)
    assert digests == ({ENTRY.relpath: OLD} if taken else {})
    assert [entry for entry, _ in to_read] == ([] if taken else [ENTRY])
    if not taken:
        travelled = to_read[0][1]
        assert (tuple(travelled)[:6] if travelled else None) == (row[1:] if row else None), \
            "the cached row travels with the entry to store_read"


@pytest.mark.parametrize(("row", "digest", "silent"), [
    (None, NEW, False),  # first time
    (cached_row(), OLD, False),  # read again, same content
    (cached_row(), NEW, True),  # same size and mtime, other content: nothing honest does that
    (cached_row(ctime_ns=1), NEW, True),  # ctime moved (a write that put the mtime back): still silent
    (cached_row(size=999), NEW, False),  # the size changed: an ordinary edit
    (cached_row(mtime_ns=1), NEW, False),  # the mtime changed: an ordinary edit
], ids=["first", "same", "silent", "silent-ctime", "resized", "touched"])
def test_store_read(row: tuple | None, digest: str, silent: bool) -> None:
    cache = HashCache(None)
    cached = CacheRow(*row[1:]) if row else None
    digests, silently_changed = store_read([(ENTRY, cached, digest)], key, cache=cache, now=NOW)
    assert digests == {ENTRY.relpath: digest}
    assert silently_changed == ([ENTRY.relpath] if silent else [])
    stored = cache.lookup(key(ENTRY))
    assert tuple(stored)[:6] == (ENTRY.size, ENTRY.mtime_ns, ENTRY.inode, ENTRY.ctime_ns, digest, NOW), \
        "the fresh read replaces the row"


def test_a_read_only_cache_answers_but_stores_nothing() -> None:
    cache = HashCache(None, read_only=True)
    digests, silent = store_read([(ENTRY, None, NEW)], key, cache=cache, now=NOW)
    assert digests == {ENTRY.relpath: NEW} and silent == []
    assert cache.lookup(key(ENTRY)) is None
