"""Hostile file names over the real sshd: `-` (GNU sha256sum hashes standard input for it, even
after `--`), `-rf`, `--help`, a newline with a backslash, and bytes that are not UTF-8, on a
primary and a mirror both reached over SSH (so both sides are listed by remote `find` and hashed
by remote `sha256sum`), restored over SFTP, and restored by restic over SFTP.

Healthy copies pass; one such file corrupted on the copy (same size, mtime put back) fails,
naming it as the agent shows names (`\\xff\\xfe`, `a\\nb\\\\c`)."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

import pytest

from agent.models import Status
from tests.support.names import (
    HOSTILE,
    HOSTILE_IDS,
    NOT_UTF8,
    TAG,
    TREE_FILES,
    corrupt_in_place,
    flip_blob_of,
    make_hostile_repo,
    write_hostile_tree,
)
from tests.support.restore import leftover_scratch, restore_test
from tests.support.sandbox import Sandbox, check_result, copy_result, statuses
from tests.support.sshd import target_config

pytestmark = pytest.mark.integration

DATASET = TAG


def ssh_layout(sandbox: Sandbox, sshd, copy: dict) -> Path:
    """The hostile tree as the primary on the "droplet" and one copy on the "nas", both the test sshd."""
    primary = write_hostile_tree(sandbox.root / "droplet" / "data")
    sandbox.targets["droplet"] = target_config(sshd, "cloud-vm", "do-sgp1")
    sandbox.targets["nas"] = target_config(sshd, "nas", "office")
    sandbox.dataset(DATASET, Sandbox.files_copy("droplet", primary, stamp=None), [copy],
                    policy={"copies": 2, "media": 2, "offsite": 1})
    sandbox.datasets[DATASET]["restore_test"] = {"sample_files": 20}
    return primary


def mirror_layout(sandbox: Sandbox, sshd) -> tuple[Path, Path]:
    copy = sandbox.root / "nas" / "mirror"
    primary = ssh_layout(sandbox, sshd, Sandbox.files_copy("nas", copy))
    shutil.copytree(primary, copy)
    (copy / ".last-sync").write_text("synced\n")
    return primary, copy


def test_remote_sha256_of_hostile_names_is_the_files_own(ssh_target, tmp_path):
    """`-` must be the file, not standard input (whose digest would be that of empty input)."""
    write_hostile_tree(tmp_path)
    handle = ssh_target()
    entries = handle.scan(str(tmp_path))
    assert set(entries) == {*HOSTILE, "sub/-", "ordinary.txt"}
    outcome = handle.hash(str(tmp_path), list(entries.values()))
    assert outcome.unreadable == {}
    for name in entries:
        assert outcome.digests[name] == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest(), repr(name)


def test_a_relative_remote_path_that_looks_like_an_option_is_a_path(ssh_target):
    """A copy's path relative to the login's home, starting with `-`: listed, hashed and stat'ed as a path."""
    name = f"-rf-backup-agent-test-{uuid.uuid4().hex[:8]}"
    home = Path(os.path.expanduser("~root"))
    tree = home / name
    try:
        write_hostile_tree(tree)
        handle = ssh_target()
        assert handle.probe(name, require_tree=True).ok
        entries = handle.scan(name)
        assert set(entries) == {*HOSTILE, "sub/-", "ordinary.txt"}
        outcome = handle.hash(name, [entries["-"]])
        assert outcome.digests["-"] == hashlib.sha256((tree / "-").read_bytes()).hexdigest()
        assert handle.stat(f"{name}/-rf").size == (tree / "-rf").stat().st_size
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def test_healthy_remote_mirror_with_hostile_names_passes(files_sandbox, sshd):
    mirror_layout(files_sandbox, sshd)
    copy = copy_result(files_sandbox.verify(), DATASET, "nas")
    assert copy.status == Status.PASS, statuses(copy)
    assert check_result(copy, "files-checksum").measured["files_compared"] == TREE_FILES


@pytest.mark.parametrize("name", [*HOSTILE, "sub/-"], ids=[*HOSTILE_IDS, "sub-dash"])
def test_one_corrupted_hostile_name_on_the_remote_mirror_fails_naming_it(files_sandbox, sshd, name):
    _, copy_dir = mirror_layout(files_sandbox, sshd)
    corrupt_in_place(copy_dir / name)
    checksum = check_result(copy_result(files_sandbox.verify(), DATASET, "nas"), "files-checksum")
    assert checksum.status == Status.FAIL, checksum.detail
    assert f"1 mismatched ({HOSTILE.get(name, name)})" in checksum.detail


@pytest.mark.parametrize("name", ["-", NOT_UTF8], ids=["dash", "not-utf8"])
def test_restore_test_over_sftp_with_hostile_names(files_sandbox, sshd, name):
    _, copy_dir = mirror_layout(files_sandbox, sshd)
    healthy = restore_test(files_sandbox, DATASET, "nas")
    assert healthy.status == Status.PASS, healthy.detail
    assert healthy.measured["files"] == TREE_FILES
    corrupt_in_place(copy_dir / name)
    broken = restore_test(files_sandbox, DATASET, "nas")
    assert broken.status == Status.FAIL, broken.detail
    assert HOSTILE[name] in broken.detail
    assert leftover_scratch(files_sandbox) == []


@pytest.fixture(scope="session")
def hostile_repo(tmp_path_factory, restic_template) -> tuple[Path, Path]:
    return make_hostile_repo(tmp_path_factory, restic_template)


def test_restic_over_sftp_with_hostile_names_restores_and_fails_on_the_corrupted_one(
        sandbox, sshd, hostile_repo, restic_template):
    repo_template, data = hostile_repo
    repo = sandbox.root / "nas" / "repo"
    shutil.copytree(repo_template, repo)
    copy = sandbox.restic_copy("nas", repo, snapshot_filter={"tags": [TAG]})
    primary = ssh_layout(sandbox, sshd, copy)
    shutil.rmtree(primary)
    shutil.copytree(data, primary)  # the backed-up files, mtimes kept to the nanosecond
    healthy = restore_test(sandbox, DATASET, "nas")
    assert healthy.status == Status.PASS, healthy.detail
    assert healthy.measured["compared_with_primary"] == TREE_FILES
    flip_blob_of(restic_template, repo, (primary / NOT_UTF8).read_bytes())
    broken = restore_test(sandbox, DATASET, "nas")
    assert broken.status == Status.FAIL, broken.detail
    assert "\\xff\\xfe" in broken.detail
    assert leftover_scratch(sandbox) == []
