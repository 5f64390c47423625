"""Restore tests from remote copies over SSH, against the session's real sshd: a plain mirror on
the "nas" fetched over SFTP, and restic over SFTP restoring into the agent's local scratch.

Healthy → pass with the throughput and projected full restore time recorded; a file altered in
the remote copy (an edited mirror file, a flipped byte in the pack holding a file's data) → fail
naming that file. The restic repository is the session's template (tests/support/restic.py),
copied per test; the sshd serves this machine's filesystem, so a local path is the remote path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.models import Status
from agent.restore import LISTING_SIZE_SOURCE
from tests.support.restic import FRESH_TAG, PASSWORD, flip_bytes, pack_files
from tests.support.restore import assert_measured_pass, leftover_scratch, restore_test, tree_size
from tests.support.sandbox import Sandbox, mirror

pytestmark = pytest.mark.integration

DATASET = "platform-db"
BIG = "db/blob.bin"  # the largest file: its data lives in the repository's largest pack
EDITED = "docs/2026/出货单 11月.txt"


def ssh_target(sshd, medium: str, location: str) -> dict:
    return {"kind": "ssh", "medium": medium, "location": location, **sshd.options(connect_timeout="5s")}


def ssh_layout(sandbox: Sandbox, sshd, primary: Path, copy: dict) -> None:
    """The primary on the "droplet" and one copy on the "nas", both the test sshd."""
    sandbox.targets["droplet"] = ssh_target(sshd, "cloud-vm", "do-sgp1")
    sandbox.targets["nas"] = ssh_target(sshd, "nas", "office")
    sandbox.dataset(DATASET, Sandbox.files_copy("droplet", primary, stamp=None), [copy],
                    policy={"copies": 2, "media": 2, "offsite": 1})


@pytest.fixture
def primary(sandbox: Sandbox, restic_template) -> Path:
    """A private primary: the backed-up tree with its mtimes (copytree keeps them to the nanosecond)."""
    return Path(shutil.copytree(restic_template.data, sandbox.root / "droplet" / "data"))


def files_copy(sandbox: Sandbox, primary: Path) -> Path:
    copy = mirror(primary, sandbox.root / "nas" / "mirror")
    return copy


def test_plain_copy_over_ssh_restores_and_passes(sandbox, sshd, primary):
    copy = files_copy(sandbox, primary)
    ssh_layout(sandbox, sshd, primary, Sandbox.files_copy("nas", copy))
    restore = restore_test(sandbox, DATASET, "nas")
    assert_measured_pass(restore, 6, tree_size(primary))
    assert restore.measured["compared_with_primary"] == 6
    assert leftover_scratch(sandbox) == []


def test_file_altered_in_the_remote_plain_copy_fails_naming_it(sandbox, sshd, primary):
    copy = files_copy(sandbox, primary)
    (copy / EDITED).write_text("出货 / shipping note, edited on the NAS\n", encoding="utf-8")
    ssh_layout(sandbox, sshd, primary, Sandbox.files_copy("nas", copy))
    restore = restore_test(sandbox, DATASET, "nas")
    assert restore.status == Status.FAIL, restore.detail
    assert EDITED in restore.detail
    assert leftover_scratch(sandbox) == []


def restic_copy(sandbox: Sandbox, make_repo) -> tuple[Path, dict]:
    repo = make_repo("restic", sandbox.root / "nas")
    return repo, sandbox.restic_copy("nas", repo, snapshot_filter={"tags": [FRESH_TAG]})


def test_restic_over_sftp_restores_and_passes(sandbox, sshd, primary, make_repo, caplog):
    _, copy = restic_copy(sandbox, make_repo)
    ssh_layout(sandbox, sshd, primary, copy)
    with caplog.at_level("DEBUG"):
        restore = restore_test(sandbox, DATASET, "nas")
    assert_measured_pass(restore, 6, tree_size(primary))
    assert restore.measured["full_size_source"] == LISTING_SIZE_SOURCE  # restic stats only to confirm an RTO miss
    assert restore.measured["compared_with_primary"] == 6
    assert "sftp:root@127.0.0.1:" in caplog.text  # restic really went through the sshd
    assert PASSWORD not in caplog.text and PASSWORD not in restore.detail
    assert leftover_scratch(sandbox) == []


def test_file_altered_in_the_restic_repository_over_sftp_fails_naming_it(sandbox, sshd, primary, make_repo):
    repo, copy = restic_copy(sandbox, make_repo)
    flip_bytes(pack_files(repo)[0])  # the pack holding db/blob.bin's data
    ssh_layout(sandbox, sshd, primary, copy)
    restore = restore_test(sandbox, DATASET, "nas")
    assert restore.status == Status.FAIL, restore.detail
    assert BIG in restore.detail
    assert leftover_scratch(sandbox) == []
