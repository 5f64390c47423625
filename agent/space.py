"""Room on the disks the agent writes its own files to (state directory, records store).

A full state directory must read as that — "no space left on the state directory PATH", exit 3 —
not as a SQLite traceback or, worse, as a broken record chain. Two doors: `require_room` before a
run starts (so a night is not spent verifying what cannot be recorded), and `writing`, which turns
the errors a full disk raises at any write (ENOSPC, EDQUOT, SQLITE_FULL, and SQLite's "disk I/O
error" when its shared-memory file cannot grow) into NoSpaceError.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from agent.errors import NoSpaceError

# Below this a run is not started: a run's records, its hash-cache updates and state.json need
# far less, but a disk this close to full fills during the run (restic's cache, the WAL).
MIN_FREE_BYTES = 4 * 1024 * 1024
MIN_FREE_INODES = 16
_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def free_space(path: Path) -> tuple[int, int | None]:
    """Given a path (it need not exist yet), return (free bytes, free inodes or None when the
    filesystem does not count inodes) on the filesystem that holds it, as this user may use them."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    stat = os.statvfs(probe)
    privileged = os.geteuid() == 0  # root may use the blocks reserved for it
    free_bytes = (stat.f_bfree if privileged else stat.f_bavail) * stat.f_frsize
    free_inodes = None if stat.f_files == 0 else (stat.f_ffree if privileged else stat.f_favail)
    return free_bytes, free_inodes


def nearly_full(path: Path) -> bool:
    try:
        free_bytes, free_inodes = free_space(path)
    except OSError:
        return False
    return free_bytes < MIN_FREE_BYTES or (free_inodes is not None and free_inodes < MIN_FREE_INODES)


def require_room(directory: Path, needs: str, place: str = "state directory") -> None:
    """Before a run: raise NoSpaceError when directory's filesystem is (nearly) full."""
    if nearly_full(directory):
        free_bytes, _ = free_space(directory)
        raise NoSpaceError(directory, f"{free_bytes // 1024} KiB free, {MIN_FREE_BYTES // 1048576} MiB needed for "
                           f"{needs}; nothing was checked or written", place)


def is_no_space(error: BaseException, directory: Path | None = None) -> bool:
    """Given an error from a write, say whether a full disk caused it. SQLite reports a full disk
    as SQLITE_FULL, or as an I/O error when its -shm file cannot grow; an I/O error counts as "full"
    only when the directory's filesystem is in fact (nearly) full."""
    if isinstance(error, OSError):
        return error.errno in _NO_SPACE_ERRNOS
    if isinstance(error, sqlite3.Error):
        name = getattr(error, "sqlite_errorname", "") or ""
        if name == "SQLITE_FULL" or "database or disk is full" in str(error):
            return True
        io_error = name.startswith("SQLITE_IOERR") or "disk I/O error" in str(error)
        return io_error and directory is not None and nearly_full(directory)
    return False


@contextlib.contextmanager
def writing(directory: Path, what: str, place: str = "state directory") -> Iterator[None]:
    """Run a write; turn the error a full disk raises into NoSpaceError naming the directory."""
    try:
        yield
    except (OSError, sqlite3.Error) as error:
        if is_no_space(error, directory):
            raise NoSpaceError(directory, what, place) from error
        raise
