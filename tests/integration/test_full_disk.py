"""A full state directory, for real: a small tmpfs mounted as the state directory (or as restic's
cache) and filled to the last byte. Needs root (the tests skip with the reason otherwise).

The agent must say "no space left on the state directory PATH" (exit 3, no traceback) and write
nothing partial — records all or nothing, state.json, the hash cache and the metrics file as they
were; `restic check` on a full cache must end within seconds as an error (restic itself retries
for an hour), and `records verify` of an intact chain on a full disk must never say BROKEN."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import SecretRef
from agent.errors import NoSpaceError
from agent.hash_cache import HashCache
from agent.models import Status
from agent.records import RecordStore
from agent.restic import ResticError, ResticFailure, ResticRepository
from agent.state import StateStore
from agent.targets.base import ResticLocation
from tests.support.mounts import mounted_tmpfs
from tests.support.records import make_rows
from tests.support.restic import restic_layout
from tests.support.sandbox import copy_result, statuses
from tests.support.site import agent, write_site

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


def fill(directory: Path, leave: int = 0) -> None:
    """Fill directory's filesystem until at most `leave` bytes are free (tmpfs: nothing is reserved)."""
    with (directory / "filler").open("wb") as filler:
        block = b"\0" * 4096
        try:
            while True:
                stat = os.statvfs(directory)
                if stat.f_bavail * stat.f_frsize <= leave:
                    break
                filler.write(block)
                filler.flush()
        except OSError:
            pass


def agent_files(state: Path) -> dict[str, bytes]:
    """What the agent keeps in the state directory, bytes and all (not the filler, the lock, nor
    SQLite's -shm index, which readers update)."""
    return {p.name: p.read_bytes() for p in state.iterdir()
            if p.is_file() and p.name not in ("filler", "run.lock") and not p.name.endswith("-shm")}


@pytest.fixture()
def full_site(tmp_path: Path) -> Iterator[Path]:
    """A site whose state directory is a 16 MiB tmpfs: one recorded `verify`, then the tmpfs filled."""
    config = write_site(tmp_path / "site")
    state = config.parent / "state"
    state.mkdir()
    with mounted_tmpfs(state, "size=16m,mode=0755"):
        done = agent(config, "verify")
        assert done.returncode == 0, done.stderr
        fill(state)
        yield config


def test_verify_on_a_full_state_directory_says_so_and_writes_nothing(full_site: Path) -> None:
    state = full_site.parent / "state"
    metrics = full_site.parent / "metrics" / "backup_agent.prom"
    before, metrics_before = agent_files(state), metrics.read_bytes()
    done = agent(full_site, "verify")
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"no space left on the state directory {state}" in done.stderr
    assert "Traceback" not in done.stderr and "disk I/O error" not in done.stderr
    assert agent_files(state) == before, "records, head, state.json, hash cache, last-run.prom untouched"
    assert metrics.read_bytes() == metrics_before


def test_records_verify_of_an_intact_chain_on_a_full_disk_is_not_broken(full_site: Path) -> None:
    done = agent(full_site, "records", "verify")
    assert "BROKEN" not in done.stderr
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("chain intact:")


def test_a_store_that_cannot_be_read_is_no_verdict(tmp_path: Path) -> None:
    """Committed records still in the WAL (a writer holds the store open) and no room for SQLite's
    shared-memory file: `records verify` cannot read, and says that (exit 3), not BROKEN."""
    config = write_site(tmp_path / "site")
    state = config.parent / "state"
    state.mkdir()
    with mounted_tmpfs(state, "size=8m,mode=0755"):
        writer = RecordStore(state / "records.sqlite")
        try:
            writer.append(make_rows(30))
            for leftover in state.glob("records.sqlite-shm"):
                leftover.unlink()  # as if the writer's process had died; the WAL keeps the records
            fill(state)
            done = agent(config, "records", "verify")
        finally:
            writer.close()
    assert "BROKEN" not in done.stderr and "Traceback" not in done.stderr
    assert done.returncode == 3, done.stdout + done.stderr
    assert "cannot read the records store" in done.stderr and "not a verdict" in done.stderr
    assert f"no space left on the state directory {state}" in done.stderr


def test_an_append_on_a_full_disk_writes_nothing_and_says_why(tmp_path: Path) -> None:
    """The transaction fails at COMMIT (SQLite then rolls back itself): NoSpaceError naming the
    directory, not "cannot rollback — no transaction is active"; the store and its head as before."""
    state = tmp_path / "state"
    state.mkdir()
    with mounted_tmpfs(state, "size=8m,mode=0755"):
        path = state / "records.sqlite"
        with RecordStore(path) as store:
            store.append(make_rows(12))
            head = Path(f"{path}.head").read_bytes()
            fill(state, leave=64 * 1024)
            with pytest.raises(NoSpaceError, match=f"no space left on the state directory {state}"):
                store.append(make_rows(400, first=13))
        (state / "filler").unlink()
        assert Path(f"{path}.head").read_bytes() == head
        with RecordStore(path) as store:
            report = store.verify_chain()
            assert report.ok and report.records == 12, report
            assert store.append(make_rows(1, first=13)) == (13, 13)
        assert not list(state.glob("*.tmp")) and not list(state.glob(".*.tmp"))


def test_state_and_hash_cache_on_a_full_disk_are_left_as_they_were(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with mounted_tmpfs(state, "size=4m,mode=0755"):
        saved = StateStore(state / "state.json")
        saved.put("read-data", "nas", {"group": 3})
        saved.save()
        cache = HashCache(state / "hash-cache.sqlite")
        cache.store_many([("/a", 1, 1, 1, 1, "aa", 1.0)])
        fill(state)
        before = agent_files(state)
        saved.put("read-data", "nas", {"group": 4, "padding": "x" * 100_000})
        with pytest.raises(NoSpaceError, match=str(state)):
            saved.save()
        with pytest.raises(NoSpaceError, match=str(state)):
            cache.store_many([(f"/file-{i}", i, i, i, i, "b" * 64, 2.0) for i in range(5000)])
        assert cache.lookup("/file-1") is None, "all of the batch or none of it"
        cache.close()
        assert agent_files(state) == before
        assert json.loads((state / "state.json").read_text()) == {"read-data": {"nas": {"group": 3}}}


@pytest.mark.parametrize("free", [8 * 1024, 0], ids=["almost-full", "full"])
def test_restic_check_on_a_full_cache_ends_within_seconds(tmp_path: Path, make_repo, restic_template, free: int) -> None:
    """restic 0.14 retries every write into a full cache with growing pauses, about 45 s per file
    (an hour and more for a real repository); the agent stops it at the first such line, with
    SIGINT so restic removes its lock. With no room at all restic cannot even open the cache and
    runs without one: a real check, as quick as ever."""
    repo = make_repo()
    cache = tmp_path / "cache"
    cache.mkdir()
    with mounted_tmpfs(cache, "size=1m,mode=0700"):
        fill(cache, leave=free)
        repository = ResticRepository(ResticLocation(str(repo)), SecretRef(file=str(restic_template.password_file)),
                                      cache, timeout=120)
        started = time.monotonic()
        try:
            repository.check()
            outcome = None
        except ResticError as error:
            outcome = error
        seconds = time.monotonic() - started
    assert seconds < 20, f"took {seconds:.0f}s"
    assert list((repo / "locks").iterdir()) == [], "restic removed its lock"
    if free:
        assert outcome is not None and outcome.kind is ResticFailure.NO_SPACE, outcome
        assert f"restic's cache directory {cache} is full" in str(outcome)
    else:
        assert outcome is None, outcome  # a real check, without a cache


def test_a_run_whose_restic_cache_is_full_reports_errors_within_seconds(sandbox, restic_template, make_repo) -> None:
    """The same through a whole run: restic's cache (STATE_DIR/restic-cache) on a tmpfs with 8 KiB
    left. The restic copy is an error naming the full cache, and the run ends in seconds. Before,
    restic spent about 45 s of retries on every file it could not cache (one here; hundreds to
    thousands in a real repository, hence the 1 h command timeout) and the copy passed late."""
    repo = make_repo()
    restic_layout(sandbox, restic_template, repo)
    cache = sandbox.root / "state" / "restic-cache"
    cache.mkdir(parents=True)
    with mounted_tmpfs(cache, "size=1m,mode=0700"):
        fill(cache, leave=8 * 1024)
        started = time.monotonic()
        run = sandbox.verify()
        seconds = time.monotonic() - started
    copy = copy_result(run, "platform-db", "nas")
    assert seconds < 60, f"took {seconds:.0f}s"
    assert copy.status == Status.ERROR, statuses(copy)
    full = [c for c in copy.checks if "is full" in c.detail]
    assert full and all(c.status == Status.ERROR for c in full), statuses(copy)
    assert str(cache) in full[0].detail
    assert list((repo / "locks").iterdir()) == []
