"""agent.hashing.hash_tree's pool on real files: the digests are those of the content, in any
number of workers; an unreadable file is named, never hashed as empty; the run's CPU budget caps
how many tasks read and hash at once, whatever the number of workers; a million futures are never
made up front (at most two tasks per worker wait)."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from agent import hashing
from agent.hash_cache import HashCache
from agent.hashing import FileEntry, hash_tree


def write(root: Path, count: int, size: int = 3000) -> list[FileEntry]:
    entries = []
    for index in range(count):
        path = root / f"d{index % 4}" / f"f{index:04d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes([index % 251]) * (size + index))
        st = path.stat()
        entries.append(FileEntry(str(path.relative_to(root)), st.st_size, st.st_mtime, st.st_ino, st.st_ctime_ns))
    return entries


class CountingBudget:
    """A semaphore that remembers how many holders it had at once."""

    def __init__(self, slots: int):
        self._semaphore = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self.holders = self.most = 0

    def __enter__(self):
        self._semaphore.acquire()
        with self._lock:
            self.holders += 1
            self.most = max(self.most, self.holders)
        time.sleep(0.001)  # long enough for the other workers to try
        return self

    def __exit__(self, *exc):
        with self._lock:
            self.holders -= 1
        self._semaphore.release()


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_digests_are_the_contents(tmp_path: Path, workers: int) -> None:
    entries = write(tmp_path, 40)
    outcome = hash_tree(str(tmp_path), entries, cache=HashCache(None), now=time.time(), rehash_every=86400,
                        workers=workers)
    assert outcome.digests == {e.relpath: hashlib.sha256((tmp_path / e.relpath).read_bytes()).hexdigest()
                               for e in entries}
    assert outcome.bytes_read == sum(e.size for e in entries) and not outcome.unreadable


def test_a_vanished_file_is_unreadable_not_empty(tmp_path: Path) -> None:
    entries = write(tmp_path, 10)
    (tmp_path / entries[3].relpath).unlink()
    outcome = hash_tree(str(tmp_path), entries, cache=HashCache(None), now=time.time(), rehash_every=86400, workers=2)
    assert outcome.unreadable == {entries[3].relpath: "No such file or directory"}
    assert len(outcome.digests) == 9 and outcome.bytes_read == sum(e.size for e in entries) - entries[3].size


def test_the_cpu_budget_caps_the_tasks_at_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashing, "_TASK_FILES", 2)  # many small tasks
    entries = write(tmp_path, 60)
    budget = CountingBudget(1)
    outcome = hash_tree(str(tmp_path), entries, cache=HashCache(None), now=time.time(), rehash_every=86400,
                        workers=4, cpu=budget)
    assert len(outcome.digests) == 60
    assert budget.most == 1, "four workers, one slot: one task at a time"


def test_at_most_two_tasks_per_worker_are_queued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashing, "_TASK_FILES", 1)
    entries = write(tmp_path, 50, size=10)
    handed: list[int] = []
    done: list[int] = []
    original = hashing._read_task

    def read(root, task):
        done.append(1)
        return original(root, task)

    def queued(root, tasks):
        for task in original_queue(root, tasks):
            handed.append(len(done))  # the pool takes its next task
            yield task

    original_queue = hashing._prefetched
    monkeypatch.setattr(hashing, "_read_task", read)
    monkeypatch.setattr(hashing, "_prefetched", queued)
    hash_tree(str(tmp_path), entries, cache=HashCache(None), now=time.time(), rehash_every=86400, workers=3)
    # when the n-th task is taken from the list, at least n - 2 × 3 tasks were finished
    assert all(finished >= index - 6 for index, finished in enumerate(handed)), handed


def test_the_readahead_holds_back_a_bounded_number_of_tasks(tmp_path: Path) -> None:
    pulled = []

    def tasks():
        for index in range(200):
            pulled.append(index)
            yield [(FileEntry(f"f{index}", 10, 0.0), None)]  # small files: nothing to prefetch

    first = next(hashing._prefetched(str(tmp_path), tasks()))
    assert first[0][0].relpath == "f0" and len(pulled) <= hashing._PREFETCH_TASKS + 1
