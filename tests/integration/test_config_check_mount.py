"""`config check` on a removable disk, really mounted (tmpfs) and really unplugged: mounted, its
copy paths are checked (a missing one is an error); unplugged, it is one warning, not an error."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.config_check import check_readiness

pytestmark = pytest.mark.integration


def disk_config(tmp_path: Path, mountpoint: Path):
    (tmp_path / "primary").mkdir(exist_ok=True)
    document = {
        "processes": {"p": {"rpo": "1d", "rto": "1d"}},
        "targets": {"here": {"kind": "local", "medium": "cloud-vm", "location": "sgp", "require_mount": False},
                    "ssd": {"kind": "local", "medium": "ssd", "location": "office", "mountpoint": str(mountpoint)}},
        "datasets": {"d": {"process": "p", "primary": {"target": "here", "form": "files", "path": "primary"},
                           "copies": [{"target": "ssd", "form": "files", "path": str(mountpoint / "d")},
                                      {"target": "ssd", "form": "files", "path": str(mountpoint / "e")}]}},
    }
    return parse_config(document, tmp_path / "targets.yaml", environ={})


def test_a_mounted_disk_has_its_paths_checked_and_an_unplugged_one_warns(tmp_path: Path, tmpfs_mount: Path) -> None:
    (tmpfs_mount / "d").mkdir()
    config = disk_config(tmp_path, tmpfs_mount)
    found = check_readiness(config)
    assert found.warnings == []
    assert found.errors == [f"datasets.d.copies[1].path: path does not exist: {tmpfs_mount / 'e'}"]

    subprocess.run(["umount", str(tmpfs_mount)], check=True, timeout=30)  # unplugged; the directory remains
    found = check_readiness(config)
    assert found.errors == []
    (warning,) = found.warnings
    assert warning.startswith("targets.ssd: not mounted") and "datasets.d.copies[0].path, datasets.d.copies[1].path" \
        in warning
