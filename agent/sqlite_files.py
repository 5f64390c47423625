"""Reading the agent's SQLite files without writing to them, even on a full disk, and telling a
damaged file (tampering or bit rot: the caller's verdict) from one that cannot be read just now
(an I/O error, no room for SQLite's shared-memory file, a lock: no verdict at all)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

# A file SQLite cannot open in place is read from a copy in memory up to this size.
SNAPSHOT_LIMIT_BYTES = 512 * 1024 * 1024


def is_damage(error: BaseException) -> bool:
    """Given a SQLite error, say whether the file itself is damaged (corrupt, not a database) as
    opposed to unreadable just now (I/O error, no room for the shared-memory file, locked)."""
    text = str(error).lower()
    if "could not decode" in text:
        return True  # text that is no longer UTF-8: the bytes were changed (Python's check, not SQLite's)
    name = getattr(error, "sqlite_errorname", "") or ""
    if name:
        return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
    return "malformed" in text or "not a database" in text


def open_readonly(path: Path) -> tuple[sqlite3.Connection, bool]:
    """Open path read-only; return (connection, read from an in-memory copy).

    A database in WAL mode needs its -shm file even to be read, which fails on a full disk
    ("disk I/O error"); then, when every committed transaction is in the main file, it is read
    from a copy in memory. Raise sqlite3.Error: damage (is_damage) or an unreadable file."""
    try:
        db = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=60)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except BaseException:
            db.close()
            raise
        return db, False
    except sqlite3.Error as error:
        if is_damage(error):
            raise
        copy = snapshot(Path(path))
        if copy is None:
            raise
        return copy, True


def snapshot(path: Path) -> sqlite3.Connection | None:
    """Return an in-memory copy of the database, when every committed transaction is in the main
    file (the WAL is empty or absent) and the file did not change while it was read; else None."""
    wal = Path(f"{path}-wal")
    try:
        if wal.exists() and wal.stat().st_size:
            return None
        before = path.stat()
        if before.st_size > SNAPSHOT_LIMIT_BYTES:
            return None
        data = bytearray(path.read_bytes())
        after = path.stat()
        if wal.exists() and wal.stat().st_size:
            return None
    except OSError:
        return None
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(data) != before.st_size:
        return None
    if len(data) >= 20 and data[18] == 2 and data[19] == 2:
        data[18] = data[19] = 1  # the WAL-mode marks: an in-memory copy can only be read in rollback mode
    copy = sqlite3.connect(":memory:")
    try:
        copy.deserialize(bytes(data))
        copy.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as error:
        copy.close()
        if is_damage(error):
            raise
        return None
    return copy
