"""Local disks: which mounted filesystem holds a path, and what medium the kernel says it is.

The only module that talks to psutil and sysfs about disks. The detected medium is a hint:
virtual disks report rotational=1 on SSDs and vice versa, so it never decides a verdict.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class MountInfo:
    mountpoint: str
    device: str
    fstype: str

    @property
    def is_root(self) -> bool:
        return self.mountpoint == "/"


def mount_of(path: str) -> MountInfo:
    """Given an existing path, return the mounted filesystem that holds it (the longest mountpoint prefix)."""
    real = os.path.realpath(path)
    best: MountInfo | None = None
    for partition in psutil.disk_partitions(all=True):
        mountpoint = partition.mountpoint
        if real == mountpoint or real.startswith(mountpoint.rstrip("/") + "/"):
            if best is None or len(mountpoint) > len(best.mountpoint):
                best = MountInfo(mountpoint, partition.device, partition.fstype)
    if best is None:
        best = MountInfo("/", "", "")
    # psutil reads /proc/mounts; cross-check with the kernel's own view so a stale table cannot
    # make a bare directory look mounted.
    if best.mountpoint != "/" and not os.path.ismount(best.mountpoint):
        return MountInfo("/", "", "")
    return best


def detected_medium(device: str) -> str | None:
    """Given a block device (/dev/sda1, /dev/nvme0n1p2), return 'hdd', 'ssd' or None when unknown."""
    name = Path(device).name
    if not name or not Path("/sys/class/block", name).exists():
        return None
    block = Path("/sys/class/block", name).resolve()
    # A partition's queue/ lives on its parent disk.
    for candidate in (block, block.parent):
        rotational = candidate / "queue" / "rotational"
        if rotational.exists():
            try:
                return "hdd" if rotational.read_text().strip() == "1" else "ssd"
            except OSError:
                return None
    return None


def free_bytes(path: str) -> int:
    return psutil.disk_usage(path).free
