"""independence over the real sshd: identities read on the remote host by its own kernel.

The test server on 127.0.0.1 runs on this machine's kernel, so its boot id is the agent's and a
copy reached over SSH that is the primary's own tree (the same path, or hard links to its files)
is recognised as the same storage, with device and inode numbers read remotely (`stat`, `find
-printf %D %i`) and locally (os.stat) compared. The honest remote mirror still passes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agent.models import Status
from tests.support.restic import FRESH_TAG
from tests.support.sandbox import Sandbox, check_result, copy_result, dataset_result, mirror, statuses

pytestmark = pytest.mark.integration

DATASET = "platform-files"


def layout(sandbox: Sandbox, sshd, nas_copy: dict) -> None:
    """Primary local on droplet, the given copy on the ssh target nas, an honest local mirror on hdd."""
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.targets["nas"] = {"kind": "ssh", "medium": "nas", "location": "office", **sshd.options()}
    sandbox.target("hdd", "hdd", "kc-home")
    primary = sandbox.root / "droplet" / "data"
    sandbox.dataset(DATASET, primary=sandbox.files_copy("droplet", primary, stamp=None),
                    copies=[{"target": "nas", **nas_copy},
                            sandbox.files_copy("hdd", mirror(primary, sandbox.root / "hdd" / "data"))],
                    policy={"copies": 3, "media": 2, "offsite": 1})


@pytest.fixture
def primary(sandbox: Sandbox, sample_tree: Path) -> Path:
    return Path(shutil.copytree(sample_tree, sandbox.root / "droplet" / "data"))


def assert_nas_counted_once(run, *expected: str) -> None:
    nas = copy_result(run, DATASET, "nas")
    others = {c.name: c.status for c in nas.checks if c.name != "independence" and c.status != Status.SKIP}
    assert set(others.values()) == {Status.PASS}, statuses(nas)  # what let it count before
    independence = check_result(nas, "independence")
    assert independence.status == Status.FAIL, statuses(nas)
    for text in expected:
        assert text in independence.detail
    assert check_result(copy_result(run, DATASET, "hdd"), "independence").status == Status.PASS
    policy = dataset_result(run, DATASET).policy
    assert policy.measured["verified_copies"] == 2 and policy.measured["compliant"] is False


def test_an_honest_remote_mirror_is_independent(sandbox, sshd, primary):
    remote = mirror(primary, sandbox.root / "nas" / "data")
    layout(sandbox, sshd, {"form": "files", "path": str(remote), "stamp": ".last-sync"})
    run = sandbox.verify()
    for copy in dataset_result(run, DATASET).copies:
        assert copy.status == Status.PASS, statuses(copy)
    assert dataset_result(run, DATASET).policy.measured["compliant"] is True


def test_the_primarys_own_path_over_ssh_fails(sandbox, sshd, primary):
    layout(sandbox, sshd, {"form": "files", "path": str(primary)})
    run = sandbox.verify()
    assert_nas_counted_once(run, f"shares storage with the primary on droplet: the same directory {primary} (device")


def test_hard_links_to_the_primary_on_the_remote_side_fail(sandbox, sshd, primary):
    remote = sandbox.root / "nas" / "data"
    remote.parent.mkdir()
    subprocess.run(["cp", "-al", str(primary), str(remote)], check=True)
    (remote / ".last-sync").write_text("synced\n")
    layout(sandbox, sshd, {"form": "files", "path": str(remote), "stamp": ".last-sync"})
    run = sandbox.verify()
    count = sum(1 for p in primary.rglob("*") if p.is_file())
    assert_nas_counted_once(run, f"the primary on droplet: {count} of {count + 1} files are hard links to it")


def test_one_restic_repository_reached_locally_and_over_sftp_counts_once(sandbox, sshd, restic_template, make_repo):
    repo = make_repo("nas-repo")
    sandbox.agent["concurrency"] = 1  # one repository, two routes: not locked by its own second check
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("ssd", "ssd", "office")
    sandbox.targets["nas"] = {"kind": "ssh", "medium": "nas", "location": "office", **sshd.options()}
    tags = {"snapshot_filter": {"tags": [FRESH_TAG]}}
    sandbox.dataset(DATASET, primary=sandbox.files_copy("droplet", restic_template.data, stamp=None),
                    copies=[sandbox.restic_copy("ssd", repo, **tags), sandbox.restic_copy("nas", repo, **tags)],
                    policy={"copies": 3, "media": 2, "offsite": 1})
    run = sandbox.verify()
    nas = copy_result(run, DATASET, "nas")
    others = {c.name: c.status for c in nas.checks if c.name != "independence" and c.status != Status.SKIP}
    assert set(others.values()) == {Status.PASS}, statuses(nas)
    independence = check_result(nas, "independence")
    assert independence.status == Status.FAIL
    assert independence.detail.startswith("shares storage with copies[0] on ssd: the same restic repository (id ")
    assert f"the same directory {repo} (device" in independence.detail
    assert dataset_result(run, DATASET).policy.measured["verified_copies"] == 2
