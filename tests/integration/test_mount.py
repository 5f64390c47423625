"""Removable disks (local targets with require_mount): an unplugged disk whose empty mountpoint
directory remains must read `error: not mounted`, never `stale` or `pass`; a real mount passes.

The healthy case mounts a real tmpfs (root only; skipped with the reason otherwise) and then
unmounts it in the middle of the test: a real unplug, with the mountpoint directory left behind.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agent.models import Status
from tests.support.mounts import mounted_tmpfs
from tests.support.restic import ResticTemplate
from tests.support.sandbox import Sandbox, check_result, copy_result, mirror, statuses

pytestmark = pytest.mark.integration

DATASET = "shipping-docs"


def assert_not_mounted(copy) -> None:
    """reachable says `not mounted`; nothing else ran, so nothing reads stale, fail or pass."""
    reachable = check_result(copy, "reachable")
    assert reachable.status == Status.ERROR, statuses(copy)
    assert "not mounted" in reachable.detail
    assert copy.status == Status.ERROR
    for check in copy.checks:
        assert check.status in (Status.ERROR, Status.SKIP), statuses(copy)
        assert "stale" not in check.detail
    assert copy.last_backup_at is None and copy.age_seconds is None


def primary_on_droplet(sandbox: Sandbox, sample_tree: Path) -> dict:
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    return sandbox.files_copy("droplet", sample_tree, stamp=None)


@pytest.mark.parametrize("contents", ["empty-mountpoint", "files-left-on-root-fs"])
def test_unplugged_disk_reads_not_mounted(files_sandbox, sample_tree, root_fs_dir, contents):
    mountpoint = root_fs_dir / "backup-ssd"
    mountpoint.mkdir(parents=True)
    copy_dir = mountpoint / "shipping"
    if contents == "files-left-on-root-fs":
        # A sync that ran while the disk was away wrote onto the root filesystem: still not the disk.
        mirror(sample_tree, copy_dir)
    primary = primary_on_droplet(files_sandbox, sample_tree)
    files_sandbox.target("ssd", "ssd", "office", require_mount=None)  # ssd: require_mount defaults to true
    files_sandbox.dataset(DATASET, primary=primary, copies=[files_sandbox.files_copy("ssd", copy_dir)])
    assert files_sandbox.config().targets["ssd"].require_mount

    run = files_sandbox.verify()
    assert_not_mounted(copy_result(run, DATASET, "ssd"))
    assert not run.compliant


def test_unplugged_disk_holding_a_restic_repository_reads_not_mounted(sandbox, sample_tree, root_fs_dir, make_repo):
    mountpoint = root_fs_dir / "backup-hdd"
    repo = make_repo("restic", under=mountpoint)
    primary = primary_on_droplet(sandbox, sample_tree)
    sandbox.target("usb", "nas", "office", require_mount=True)  # explicit, on a medium that does not default to it
    sandbox.dataset(DATASET, primary=primary, copies=[sandbox.restic_copy("usb", repo)])

    copy = copy_result(sandbox.verify(), DATASET, "usb")
    assert_not_mounted(copy)
    assert check_result(copy, "restic-read-data").status == Status.SKIP


def test_real_mount_passes_and_unmounting_it_reads_not_mounted(sandbox, sample_tree, tmpfs_mount, make_repo,
                                                               restic_template: ResticTemplate):
    files_copy = mirror(sample_tree, tmpfs_mount / "shipping")
    repo = make_repo("restic", under=tmpfs_mount)
    primary = primary_on_droplet(sandbox, sample_tree)
    sandbox.target("ssd", "ssd", "office", require_mount=None)
    sandbox.dataset(DATASET, primary=primary, copies=[
        sandbox.files_copy("ssd", files_copy),
        sandbox.restic_copy("ssd", repo),
    ], policy={"copies": 2, "media": 2, "offsite": 1})

    run = sandbox.verify()
    for copy in run.datasets[0].copies:
        assert copy.status == Status.PASS, statuses(copy)
    for copy in run.datasets[0].copies[1:]:
        assert f"mounted at {tmpfs_mount}" in check_result(copy, "reachable").detail
    assert run.compliant

    # Unplug: the tmpfs goes away, its empty mountpoint directory stays on the root filesystem.
    done = subprocess.run(["umount", str(tmpfs_mount)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert tmpfs_mount.is_dir() and not os.listdir(tmpfs_mount)

    run = sandbox.verify()
    for copy in run.datasets[0].copies[1:]:
        assert_not_mounted(copy)
    assert not run.compliant


def test_declared_mountpoint_catches_an_unplugged_disk_under_another_mount(sandbox, sample_tree, tmpfs_mount):
    """When /mnt itself is a mounted filesystem, "not on the root filesystem" cannot tell an unplugged
    disk from a plugged one; a declared `mountpoint` can. Outer tmpfs = /mnt, inner tmpfs = the disk."""
    disk_mountpoint = tmpfs_mount / "backup-hdd"
    disk_mountpoint.mkdir()
    mirror(sample_tree, disk_mountpoint / "shipping")  # synced into the bare directory: the disk is not there
    primary = primary_on_droplet(sandbox, sample_tree)
    sandbox.target("hdd", "hdd", "kc-home", require_mount=None, mountpoint=str(disk_mountpoint))
    sandbox.dataset(DATASET, primary=primary, copies=[sandbox.files_copy("hdd", disk_mountpoint / "shipping")],
                    policy={"copies": 2, "media": 2, "offsite": 1})

    run = sandbox.verify()
    assert_not_mounted(run.datasets[0].copies[1])
    assert f"expected at {disk_mountpoint}" in check_result(run.datasets[0].copies[1], "reachable").detail

    with mounted_tmpfs(disk_mountpoint, "size=16m"):
        mirror(sample_tree, disk_mountpoint / "shipping")
        run = sandbox.verify()
        assert run.datasets[0].copies[1].status == Status.PASS, statuses(run.datasets[0].copies[1])
