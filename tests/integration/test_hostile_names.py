"""File names that look like options, carry a newline and a backslash, or are not UTF-8, through the
real checks on local copies: files-checksum on a plain mirror, and restore tests from a plain mirror
and from a real restic repository (restic lists a non-UTF-8 name as U+FFFD in `ls --json`).

A healthy copy passes; corrupting exactly one such file on the copy (same size, mtime put back with
os.utime; for restic, the bytes of that file's blob in its pack) fails, naming the file in the
agent's one display of names (agent.names.show: `\\xff` for an undecodable byte, `\\n`, `\\\\`)."""

from __future__ import annotations

import json
import shutil
import subprocess
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
from tests.support.restore import leftover_scratch, restore_test, restore_verify
from tests.support.sandbox import Sandbox, check_result, copy_result, statuses

pytestmark = pytest.mark.integration

DATASET = TAG


def plain_layout(sandbox: Sandbox) -> tuple[Path, Path]:
    primary = write_hostile_tree(sandbox.root / "droplet" / "data")
    copy = sandbox.root / "hdd" / "mirror"
    shutil.copytree(primary, copy)  # copy2: mtimes kept, as rsync -a
    (copy / ".last-sync").write_text("synced\n")
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("hdd", "hdd", "kc-home")
    sandbox.dataset(DATASET, Sandbox.files_copy("droplet", primary, stamp=None), [Sandbox.files_copy("hdd", copy)],
                    policy={"copies": 2, "media": 2, "offsite": 1})
    return primary, copy


def test_healthy_plain_copy_with_hostile_names_passes(files_sandbox):
    plain_layout(files_sandbox)
    copy = copy_result(files_sandbox.verify(), DATASET, "hdd")
    checksum = check_result(copy, "files-checksum")
    assert copy.status == Status.PASS, statuses(copy)
    assert checksum.measured["files_compared"] == TREE_FILES


@pytest.mark.parametrize("name", [*HOSTILE, "sub/-"], ids=[*HOSTILE_IDS, "sub-dash"])
def test_one_corrupted_hostile_name_fails_files_checksum_naming_it(files_sandbox, name):
    _, copy_dir = plain_layout(files_sandbox)
    corrupt_in_place(copy_dir / name)
    checksum = check_result(copy_result(files_sandbox.verify(), DATASET, "hdd"), "files-checksum")
    shown = HOSTILE.get(name, name)
    assert checksum.status == Status.FAIL, checksum.detail
    assert f"1 mismatched ({shown})" in checksum.detail


def test_hash_cache_keeps_non_utf8_names_across_runs(files_sandbox):
    """The second run takes every digest from the cache (keys are the names' bytes), and a silent
    change of the non-UTF-8 file after it is still named."""
    _, copy_dir = plain_layout(files_sandbox)
    first = check_result(copy_result(files_sandbox.verify(), DATASET, "hdd"), "files-checksum")
    assert first.status == Status.PASS, first.detail
    second = check_result(copy_result(files_sandbox.verify(), DATASET, "hdd"), "files-checksum")
    assert second.status == Status.PASS and second.measured["bytes_read"] == 0, second.detail
    corrupt_in_place(copy_dir / NOT_UTF8)
    third = check_result(copy_result(files_sandbox.verify(), DATASET, "hdd"), "files-checksum")
    assert third.status == Status.FAIL
    assert "silent corruption on the copy" in third.detail and "\\xff\\xfe" in third.detail


def test_restore_test_of_a_plain_copy_with_hostile_names(files_sandbox):
    _, copy_dir = plain_layout(files_sandbox)
    files_sandbox.datasets[DATASET]["restore_test"] = {"sample_files": 20}
    healthy = restore_test(files_sandbox, DATASET, "hdd")
    assert healthy.status == Status.PASS, healthy.detail
    assert healthy.measured["files"] == TREE_FILES
    corrupt_in_place(copy_dir / NOT_UTF8)
    broken = restore_test(files_sandbox, DATASET, "hdd")
    assert broken.status == Status.FAIL, broken.detail
    assert "\\xff\\xfe" in broken.detail
    assert leftover_scratch(files_sandbox) == []


# --- restic ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hostile_repo(tmp_path_factory, restic_template) -> tuple[Path, Path]:
    return make_hostile_repo(tmp_path_factory, restic_template)


def restic_layout(sandbox: Sandbox, hostile_repo, restic_template) -> tuple[Path, Path]:
    repo_template, data = hostile_repo
    primary = sandbox.root / "droplet" / "data"
    shutil.copytree(data, primary)  # the same files, mtimes kept to the nanosecond
    repo = sandbox.root / "ssd" / "repo"
    shutil.copytree(repo_template, repo)
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("ssd", "ssd", "office")
    sandbox.dataset(DATASET, Sandbox.files_copy("droplet", primary, stamp=None),
                    [sandbox.restic_copy("ssd", repo, snapshot_filter={"tags": [TAG]})],
                    policy={"copies": 2, "media": 2, "offsite": 1})
    sandbox.datasets[DATASET]["restore_test"] = {"sample_files": 20}
    return primary, repo


@pytest.mark.parametrize("mode", ["sample", "full"])
def test_restic_restore_test_with_hostile_names_passes(sandbox, hostile_repo, restic_template, mode):
    restic_layout(sandbox, hostile_repo, restic_template)
    restore = restore_test(sandbox, DATASET, "ssd", mode)
    assert restore.status == Status.PASS, restore.detail
    assert restore.measured["files"] == TREE_FILES
    assert restore.measured["compared_with_primary"] == TREE_FILES
    assert leftover_scratch(sandbox) == []


@pytest.mark.parametrize("name", list(HOSTILE), ids=HOSTILE_IDS)
def test_restic_blob_of_a_hostile_name_corrupted_fails_the_restore_test_naming_it(
        sandbox, hostile_repo, restic_template, name):
    primary, repo = restic_layout(sandbox, hostile_repo, restic_template)
    flip_blob_of(restic_template, repo, (primary / name).read_bytes())
    run = restore_verify(sandbox)
    copy = copy_result(run, DATASET, "ssd")
    restore = check_result(copy, "restore-test")
    assert restore.status == Status.FAIL, restore.detail
    assert HOSTILE[name] in restore.detail
    assert leftover_scratch(sandbox) == []


def test_restic_lists_a_non_utf8_name_lossily_in_json(hostile_repo, restic_template):
    """Why the agent asks restic twice: `ls --json` has U+FFFD where the name has bytes \\xff\\xfe."""
    repo, _ = hostile_repo
    output = subprocess.run(["restic", "--repo", str(repo), "ls", "--json", "latest"], env=restic_template.env(),
                            capture_output=True, check=True).stdout
    names = {json.loads(line).get("name") for line in output.splitlines()}
    assert "\ufffd\ufffd" in names and b"\xff\xfe" not in output
