"""Real mounts for the tests that are about them: a tmpfs mounted for a block, and whether a
directory is on the root filesystem (the empty mountpoint an unplugged disk leaves behind)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def on_root_filesystem(path: Path) -> bool:
    """Independent of the product's own disk module: same device as / means not a separate mount."""
    return os.stat(path).st_dev == os.stat("/").st_dev


@contextlib.contextmanager
def mounted_tmpfs(mountpoint: Path, options: str) -> Iterator[Path]:
    """Mount a real tmpfs at mountpoint for the block (skip the test with the reason if this machine
    does not allow it) and unmount it afterwards, lazily if something still holds it."""
    if os.geteuid() != 0 or shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mountpoint)],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        if os.path.ismount(mountpoint):
            subprocess.run(["umount", str(mountpoint)], capture_output=True, timeout=30)
        if os.path.ismount(mountpoint):
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, timeout=30)
