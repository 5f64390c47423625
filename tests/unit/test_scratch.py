"""agent.scratch.overlapping: a restore's scratch base may neither lie in nor contain the primary or
a copy, however either is written (a trailing slash, `..`, a symlink, a base not created yet), while
a sibling that merely shares a prefix is fine. (The scratch directory itself: test_restore_unit.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.scratch import overlapping


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for directory in ("srv/data/sub", "srv/data2", "var/tmp"):
        (tmp_path / directory).mkdir(parents=True)
    os.symlink(tmp_path / "srv/data", tmp_path / "link-to-data")
    return tmp_path


@pytest.mark.parametrize(("base", "protected", "hit"), [
    ("var/tmp/scratch", ["srv/data"], None),
    ("srv/data/restores", ["srv/data"], "srv/data"),  # inside the primary (not created yet)
    ("srv/data/sub", ["srv/data"], "srv/data"),
    ("srv", ["srv/data"], "srv/data"),  # contains it
    ("srv/data", ["srv/data/"], "srv/data/"),  # the same, written with a slash
    ("srv/data2/scratch", ["srv/data"], None),  # a sibling sharing a prefix of the name
    ("srv/data2/../data/x", ["srv/data"], "srv/data"),
    ("link-to-data/scratch", ["srv/data"], "srv/data"),  # through a symlink
    ("var/tmp/scratch", ["link-to-data", "var/tmp/scratch/x"], "var/tmp/scratch/x"),
    ("var/tmp/scratch", [], None),
])
def test_overlapping(tree: Path, base: str, protected: list[str], hit: str | None) -> None:
    protected_paths = [str(tree / p) + ("/" if p.endswith("/") else "") for p in protected]
    found = overlapping(tree / base, protected_paths)
    assert found == (None if hit is None else str(tree / hit) + ("/" if hit.endswith("/") else ""))
