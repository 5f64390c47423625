"""Bringing files back into scratch and reading them there: a restic restore (watched for its
first file and its progress), and the SHA-256 of each restored file.

Threads here return what they measured; nothing is written from two threads."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from agent.hashing import sha256_file
from agent.progress import Task
from agent.restic import ResticRepository, include_pattern, restore_arguments

FIRST_FILE_POLL_SECONDS = 0.02


def in_background(function: Callable, *args) -> Future:
    """Run function(*args) on a thread of its own; nobody waits for it on an early return."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=function.__name__.strip("_"))
    future = pool.submit(function, *args)
    pool.shutdown(wait=False)
    return future


def restore_restic(restic: ResticRepository, snapshot_id: str, includes: Iterable[str] | None, scratch: Path, *,
                   verify: bool, timeout: float, task: Task | None = None, time_first_file: bool = False) -> float | None:
    """Restore the snapshot (only the `includes`, snapshot paths, when given) into scratch. With
    time_first_file, return how long restic took to create its first file there (None when none
    appeared before it ended); else None. Raise ResticError."""
    arguments = restore_arguments(snapshot_id, str(scratch), [include_pattern(path) for path in includes or ()], verify)
    stop = threading.Event()
    started = time.monotonic()
    # The restore's own fixed cost: until restic creates its first file, it is opening the
    # repository, loading the index and walking the tree, whatever the size of the data.
    first_file = in_background(_first_file_seconds, scratch, stop, started) if time_first_file else None
    watcher = None
    if task is not None and task.owner.enabled:
        # restic 0.14 prints no restore progress we can parse: watch the bytes land instead.
        watcher = threading.Thread(target=_watch_bytes, args=(scratch, stop, task), name="restore-progress",
                                   daemon=True)
        watcher.start()
    try:
        restic.run(*arguments, timeout=timeout)
    finally:
        stop.set()
        if watcher:
            watcher.join()
    return first_file.result() if first_file else None


def _first_file_seconds(root: Path, stop: threading.Event, started: float) -> float | None:
    while not stop.wait(FIRST_FILE_POLL_SECONDS):
        if _has_file(root):
            return time.monotonic() - started
    return None


def _watch_bytes(root: Path, stop: threading.Event, task: Task) -> None:
    while not stop.wait(task.owner.interval):
        task.update(_tree_bytes(root))


def _has_file(root: Path) -> bool:
    for _, _, files in os.walk(root):
        if files:
            return True
    return False


def _tree_bytes(root: Path) -> int:
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                pass
    return total


@dataclass(frozen=True)
class Restored:
    """What came back: digests and sizes of the restored files, and those that could not be read.
    A file that is not there is absent from all three."""

    digests: dict[str, str]
    unreadable: dict[str, str]
    sizes: dict[str, int]


@dataclass(frozen=True)
class _Read:
    relpath: str
    size: int | None = None
    digest: str | None = None
    problem: str | None = None


def hash_restored(root: Path, relpaths: list[str], workers: int,
                  progress: Callable[[int], None] | None = None) -> Restored:
    """Hash the restored files under root, `workers` at a time."""
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="restore-hash") as pool:
        reads = list(pool.map(lambda relpath: _read(root, relpath, progress), relpaths))
    return Restored({r.relpath: r.digest for r in reads if r.digest is not None},
                    {r.relpath: r.problem for r in reads if r.problem is not None},
                    {r.relpath: r.size for r in reads if r.size is not None})


def _read(root: Path, relpath: str, progress: Callable[[int], None] | None) -> _Read:
    path = root / relpath
    try:
        size = os.lstat(path).st_size
    except FileNotFoundError:
        return _Read(relpath)
    except OSError as error:
        return _Read(relpath, problem=error.strerror or str(error))
    try:
        digest = sha256_file(str(path))
    except OSError as error:
        return _Read(relpath, size, problem=error.strerror or str(error))
    if progress:
        progress(size)
    return _Read(relpath, size, digest)
