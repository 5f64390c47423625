"""The fake target (tests/support/fake_target.py) answers as a real local target does for the same
tree, so the check tests built on it test the checks, not the fake's own ideas."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from agent.config import Target
from agent.errors import TargetUnavailable
from agent.targets.local import LocalTarget
from tests.support.fake_target import FakeTarget, target_context

FILES = {"a.txt": b"alpha\n", "sub/b.bin": bytes(range(256)) * 9, "sub/deeper/-rf": b"", "出货单.txt": "出货".encode()}
MTIME = 1_700_000_000.0


@pytest.fixture
def both(tmp_path: Path) -> tuple[LocalTarget, FakeTarget, str, str]:
    root = tmp_path / "tree"
    for relpath, data in FILES.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (MTIME, MTIME))
    local = LocalTarget(Target("disk", "local", "hdd", "office", {"require_mount": False}), target_context(time.time()))
    fake = FakeTarget("disk")
    fake.tree("/srv/tree", FILES, MTIME)
    return local, fake, str(root), "/srv/tree"


def test_scan_lists_the_same_files(both) -> None:
    local, fake, real_root, fake_root = both
    real, faked = local.scan(real_root), fake.scan(fake_root)
    assert sorted(real) == sorted(faked) == sorted(FILES)
    assert {p: (e.size, e.mtime) for p, e in real.items()} == {p: (e.size, e.mtime) for p, e in faked.items()}


def test_hash_gives_the_same_digests_and_sees_the_same_silent_change(both) -> None:
    local, fake, real_root, fake_root = both
    for handle, root in ((local, real_root), (fake, fake_root)):
        first = handle.hash(root, list(handle.scan(root).values()))
        assert not first.unreadable and not first.silently_changed
    real = local.hash(real_root, list(local.scan(real_root).values()))
    faked = fake.hash(fake_root, list(fake.scan(fake_root).values()))
    assert real.digests == faked.digests
    assert (real.files_from_cache, faked.files_from_cache) == (len(FILES), len(FILES))
    path = Path(real_root) / "a.txt"
    path.write_bytes(b"ALPHA\n")
    os.utime(path, (MTIME, MTIME))
    fake.corrupt(f"{fake_root}/a.txt")
    for handle, root in ((local, real_root), (fake, fake_root)):
        assert handle.hash(root, list(handle.scan(root).values())).silently_changed == ["a.txt"]


def test_probe_and_stat_agree(both) -> None:
    local, fake, real_root, fake_root = both
    for handle, root in ((local, real_root), (fake, fake_root)):
        assert handle.probe(root, require_tree=True).ok
        assert not handle.probe(root + "/missing", require_tree=True).ok
        assert not handle.probe(root + "/a.txt", require_tree=True).ok
        assert handle.stat(root + "/missing") is None
        assert handle.stat(root + "/a.txt").size == len(FILES["a.txt"])
        with pytest.raises(TargetUnavailable):
            handle.scan(root + "/missing")


def test_fetch_writes_the_same_files_and_refuses_to_leave_the_destination(both, tmp_path: Path) -> None:
    local, fake, real_root, fake_root = both
    for name, handle, root in (("real", local, real_root), ("fake", fake, fake_root)):
        destination = tmp_path / f"scratch-{name}"
        assert handle.fetch(root, sorted(FILES), str(destination)) == sum(len(v) for v in FILES.values())
        assert {p: (destination / p).read_bytes() for p in FILES} == FILES
        with pytest.raises(TargetUnavailable, match="leaves the scratch directory"):
            handle.fetch(root, ["../escape"], str(destination))


def test_a_broken_fake_raises_for_every_operation_it_was_told_to(both) -> None:
    _, fake, _, root = both
    fake.break_("timeout", operations={"hash"})
    assert fake.scan(root)
    with pytest.raises(TargetUnavailable, match="timed out"):
        fake.hash(root, list(fake.scan(root).values()))
    fake.heal()
    assert fake.hash(root, list(fake.scan(root).values())).digests
