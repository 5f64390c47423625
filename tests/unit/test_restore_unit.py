"""The restore test's pure parts: sample choice, schedule, scratch safety, progress lines.

The restores themselves run against real restic in tests/integration/test_restore.py.
"""

from __future__ import annotations

import io
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent import interrupt
from agent.config import RestoreTestSpec
from agent.errors import TargetUnavailable
from agent.hashing import FileEntry
from agent.models import Status
from agent.progress import Progress
from agent.restic import Snapshot
from agent.restore.plan import choose_sample, plan_alongside
from agent.scratch import ScratchDir, ScratchError, active, required_bytes
from agent.targets.base import receive_file, safe_relpath
from checks import restore_test

MiB = 2**20


def entries(*specs: tuple[str, int, float]) -> dict[str, FileEntry]:
    return {path: FileEntry(path, size, mtime) for path, size, mtime in specs}


FILES = entries(("a", MiB, 100), ("b", MiB, 200), ("c", MiB, 300), ("d", MiB, 400), ("e", MiB, 500),
                ("f", MiB, 600), ("g", MiB, 700), ("h", 10 * MiB, 50))


def test_sample_always_holds_the_newest_files_then_the_least_recently_tested():
    limits = RestoreTestSpec(sample_files=4, sample_bytes=64 * MiB)
    first = choose_sample(FILES, limits, {}, full=False)
    assert first[0] == "g"  # newest
    assert len(first) == 4
    tested = {p: 1000.0 for p in first}
    second = choose_sample(FILES, limits, tested, full=False)
    assert second[0] == "g"  # still the newest first
    assert not (set(second[1:]) & set(first))  # the rest rotates to files not tested yet


def test_sample_respects_the_byte_budget_and_full_takes_everything():
    limits = RestoreTestSpec(sample_files=10, sample_bytes=3 * MiB)
    chosen = choose_sample(FILES, limits, {}, full=False)
    assert sum(FILES[p].size for p in chosen) <= 3 * MiB and "h" not in chosen
    assert choose_sample(FILES, limits, {}, full=True) == sorted(FILES)


def test_a_full_restore_started_before_the_listing_is_sized_and_planned_from_the_primary():
    snapshot = Snapshot("f" * 64, "ffffffff", datetime.fromtimestamp(450, UTC), "vm", ("/data",), ())
    plan = plan_alongside(snapshot, FILES, known_full_size=0)
    assert plan.payload == 17 * MiB and plan.sized_by == "the primary's size"
    # Files modified after the snapshot began cannot vouch for the backup; the others are hashed meanwhile.
    assert plan.comparable == ["a", "b", "c", "d", "h"]
    assert plan.restic_verify is False  # 3 MiB of 17 changed: those few are confirmed with --verify afterwards
    # A primary that shrank since the copy was last listed: the listed size sizes the scratch check.
    shrunk = plan_alongside(snapshot, entries(("a", MiB, 100)), known_full_size=17 * MiB)
    assert shrunk.payload == 17 * MiB and shrunk.sized_by == "this copy's restore size when last listed"
    # Most bytes changed since the snapshot: one restore with restic's --verify instead of two.
    busy = plan_alongside(snapshot, entries(("a", MiB, 100), ("b", 4 * MiB, 900)), known_full_size=0)
    assert busy.restic_verify is True
    # Nothing to size the scratch check by: None, so the listing comes first.
    assert plan_alongside(snapshot, {}, known_full_size=0) is None


def test_relative_paths_cannot_leave_the_scratch_directory():
    assert safe_relpath("docs/x.txt") == "docs/x.txt"
    for bad in ("../etc/passwd", "/etc/passwd", "a/../../b"):
        with pytest.raises(TargetUnavailable):
            safe_relpath(bad)


def test_a_fetch_stops_writing_at_the_next_chunk_once_a_stop_is_requested(tmp_path: Path):
    def chunks():
        yield b"first"
        interrupt.cancelled.set()  # SIGTERM arrives mid-file
        yield b"second"
        raise AssertionError("read on after the stop")

    try:
        with pytest.raises(TargetUnavailable, match="stopped by a signal while restoring a/b.bin"):
            receive_file(chunks(), str(tmp_path), "a/b.bin")
    finally:
        interrupt.cancelled.clear()
    assert (tmp_path / "a" / "b.bin").read_bytes() == b"first"  # in scratch, which its owner removes


def test_scratch_is_private_and_removed_even_with_read_only_directories(tmp_path: Path):
    base = tmp_path / "scratch"
    with ScratchDir(base, "ds/target", 1000) as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
        assert path in active()
        locked = path / "data" / "ro"
        locked.mkdir(parents=True)
        (locked / "f").write_text("x")
        locked.chmod(0o500)
    assert not path.exists() and active() == []
    assert list(base.iterdir()) == []


def test_scratch_is_removed_after_an_exception(tmp_path: Path):
    with pytest.raises(KeyboardInterrupt), ScratchDir(tmp_path / "s", "x", 10) as path:
        (path / "file").write_text("partial")
        raise KeyboardInterrupt
    assert not path.exists()


def test_scratch_refuses_to_overlap_the_primary_or_to_overfill(tmp_path: Path):
    primary = tmp_path / "primary"
    primary.mkdir()
    for base in (primary / "scratch", tmp_path):
        with pytest.raises(ScratchError, match="overlaps"), ScratchDir(base, "x", 10, [str(primary)]):
            pass
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    with pytest.raises(ScratchError, match="nothing restored"), ScratchDir(tmp_path / "s", "x", free):
        pass
    assert not (tmp_path / "s").exists() or list((tmp_path / "s").iterdir()) == []
    assert required_bytes(100 * MiB) == 110 * MiB + 8 * MiB


def test_scratch_overlap_is_refused_before_anything_is_created(tmp_path: Path):
    """Inside the primary, inside another copy, or there through a symlink: refused, and not one
    directory made (the scratch base and its parents used to be created first)."""
    primary = tmp_path / "primary"
    primary.mkdir()
    copy = tmp_path / "hdd" / "mirror"
    copy.mkdir(parents=True)
    (tmp_path / "link").symlink_to(primary, target_is_directory=True)
    for base in (primary / "scratch" / "deeper", copy / "restores", tmp_path / "link" / "restores"):
        with pytest.raises(ScratchError, match="nothing was created"), \
                ScratchDir(base, "x", 10, [str(primary), str(copy)]):
            pass
    assert list(primary.iterdir()) == [] and list(copy.iterdir()) == []


def context(restore_test_mode=None, every=None, state=None, now=None):
    now = now or datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    return SimpleNamespace(
        options=SimpleNamespace(restore_test=restore_test_mode),
        dataset=SimpleNamespace(restore_test=RestoreTestSpec(every_seconds=every)),
        now=now,
    ), state or {}


def test_schedule_runs_when_asked_when_due_and_after_a_failure():
    week = 7 * 86400.0
    now = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    assert restore_test.due(*context("full"))[0] == "full"
    assert restore_test.due(*context())[0] is None
    assert restore_test.due(*context(every=week))[0] == "sample"  # never tested
    recent = {"last_run": (now - timedelta(days=3)).isoformat(), "last_status": "pass"}
    mode, why = restore_test.due(*context(every=week, state=recent))
    assert mode is None and "not due" in why
    almost = {"last_run": (now - timedelta(days=7) + timedelta(minutes=20)).isoformat(), "last_status": "pass"}
    assert restore_test.due(*context(every=week, state=almost))[0] == "sample"  # the timer's jitter
    failed = {"last_run": (now - timedelta(days=1)).isoformat(), "last_status": str(Status.FAIL)}
    assert restore_test.due(*context(every=week, state=failed))[0] == "sample"


def test_progress_shows_bytes_rate_and_eta_only_when_enabled():
    from rich.console import Console

    stream = io.StringIO()
    terminal = Progress(enabled=True, interval=0.01, console=Console(file=stream, force_terminal=True, width=160))
    task = terminal.task("restore ds from nas", 4 * MiB)
    other = terminal.task("hash platform-db on hdd", 1000, unit="files")
    task.add(MiB)
    other.update(10)
    assert task.line().startswith("  restore ds from nas: 1.0 MiB / 4.0 MiB") and "/s" in task.line()
    assert "10 files / 1,000" in other.line()
    task.close()
    other.close()
    text = stream.getvalue()
    assert "done in" in text and "restore ds from nas" in text and "hash platform-db on hdd" in text
    assert terminal._display is None, "the display stops once no task is open"
    quiet = io.StringIO()
    silent = Progress(enabled=False, console=Console(file=quiet)).task("x", 10)
    silent.add(5)
    silent.close()
    assert quiet.getvalue() == ""


def test_scratch_left_by_a_killed_run_is_removed_by_the_next(tmp_path: Path):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    base = tmp_path / "scratch"
    abandoned = base / f"restore-ds-nas-{dead.pid}.k1ll3d"
    (abandoned / "data").mkdir(parents=True)
    (abandoned / "data" / "f").write_bytes(b"x" * 100)
    live = base / "restore-ds-nas-1.init0"  # PID 1 is alive: never touched
    live.mkdir()
    unrelated = base / "operator-notes"
    unrelated.mkdir()
    with ScratchDir(base, "ds-nas", 10) as path:
        assert str(os.getpid()) in path.name
        assert not abandoned.exists()
    assert live.exists() and unrelated.exists()


def test_a_kind_that_cannot_restore_yet_is_an_error_never_a_pass():
    from agent.config import Target
    from agent.restore import restore_and_verify
    from agent.targets.base import TargetContext, UnsupportedTarget

    target = Target("offsite", "s3", "object-storage", "cloud-hk")
    handle = UnsupportedTarget(target, TargetContext(None, 0.0, 0.0, 1, 1.0), "not built")
    context = SimpleNamespace(spec=SimpleNamespace(form="objects", target=target, path="prefix/"), handle=handle)
    outcome = restore_and_verify(context, full=False)
    assert outcome.status == Status.ERROR and "not supported" in outcome.detail


def test_a_rotation_that_cannot_cover_the_cycle_is_named():
    settings = SimpleNamespace(schedule_interval_seconds=86400.0)
    spec = RestoreTestSpec(every_seconds=7 * 86400.0, sample_files=4, cycle_seconds=30 * 86400.0)
    ctx = SimpleNamespace(dataset=SimpleNamespace(restore_test=spec), settings=settings)
    assert restore_test.rotation_shortfall(ctx, 12) is None  # 4 tests × 3 rotating files
    message = restore_test.rotation_shortfall(ctx, 20)
    assert "cannot reach all 20 files" in message and "sample_files" in message
