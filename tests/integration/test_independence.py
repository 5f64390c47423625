"""independence on real trees and real restic: a "copy" that is the primary's own storage, or one
restic repository declared twice, fails and is counted once by 3-2-1.

Each attack here passed every other check before the independence check existed (the copy's
files hash like the primary's because they are the primary's), so 3-2-1 counted a copy that does
not exist; each test asserts that the other checks still pass, that independence fails naming what
is shared and with which copy, and that the verified count drops. The honest layouts beside them
(real mirrors, a separately initialised repository, a declared byte-level replica) still pass.
The bind mount runs the real CLI inside a private mount namespace (`unshare -m`), so nothing is
left mounted whatever happens to the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.models import Status
from agent.records import RecordStore
from tests.support.restic import FRESH_TAG, ResticTemplate
from tests.support.sandbox import Sandbox, check_result, copy_result, dataset_result, mirror, statuses

pytestmark = pytest.mark.integration

DATASET = "platform-files"
POLICY = {"copies": 3, "media": 2, "offsite": 1}
# Given the primary and the nas mirror, build the hdd copy; return its path as targets.yaml says it, and its stamp.
MakeCopy = Callable[[Path, Path], tuple[Path | str, str | None]]


def files_layout(sandbox: Sandbox, sample_tree: Path, make_hdd: MakeCopy) -> Path:
    """Primary on droplet, an honest mirror on nas, and on hdd whatever make_hdd builds. Return the primary."""
    primary = Path(shutil.copytree(sample_tree, sandbox.root / "droplet" / "data"))
    nas = mirror(primary, sandbox.root / "nas" / "data")
    (sandbox.root / "hdd").mkdir()
    hdd, stamp = make_hdd(primary, nas)
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("nas", "nas", "office")
    sandbox.target("hdd", "hdd", "kc-home")
    sandbox.dataset(DATASET, primary=sandbox.files_copy("droplet", primary, stamp=None),
                    copies=[sandbox.files_copy("nas", nas), sandbox.files_copy("hdd", hdd, stamp=stamp)],
                    policy=POLICY)
    return primary


def honest_mirror(primary: Path, nas: Path) -> tuple[Path | str, str | None]:
    return mirror(primary, primary.parents[1] / "hdd" / "data"), ".last-sync"


def hard_links_of_primary(primary: Path, nas: Path) -> tuple[Path | str, str | None]:
    hdd = primary.parents[1] / "hdd" / "data"
    subprocess.run(["cp", "-al", str(primary), str(hdd)], check=True)
    (hdd / ".last-sync").write_text("synced\n")  # a new file of its own: the rest are the primary's
    return hdd, ".last-sync"


def hard_links_of_nas(primary: Path, nas: Path) -> tuple[Path | str, str | None]:
    hdd = primary.parents[1] / "hdd" / "data"
    subprocess.run(["cp", "-al", str(nas), str(hdd)], check=True)
    return hdd, ".last-sync"


def dot_and_trailing_slash(primary: Path, nas: Path) -> tuple[Path | str, str | None]:
    return f"{primary.parent}/./{primary.name}/", None  # a stamp would be written into the primary


def dot_dot(primary: Path, nas: Path) -> tuple[Path | str, str | None]:
    return f"{nas.parent}/../{primary.parent.name}/{primary.name}", None


def symlinked_directory(primary: Path, nas: Path) -> tuple[Path | str, str | None]:
    link = primary.parents[1] / "hdd" / "data"
    link.symlink_to(primary, target_is_directory=True)
    return link, None


def files_count(tree: Path) -> int:
    return sum(1 for p in tree.rglob("*") if p.is_file())


def test_honest_mirrors_on_one_filesystem_are_independent(files_sandbox, sample_tree):
    files_layout(files_sandbox, sample_tree, honest_mirror)
    run = files_sandbox.verify()
    result = dataset_result(run, DATASET)
    for copy in result.copies:
        assert copy.status == Status.PASS, statuses(copy)
        assert check_result(copy, "independence").status == Status.PASS
    hdd = check_result(copy_result(run, DATASET, "hdd"), "independence")
    assert "not shared with the primary on droplet, copies[0] on nas" in hdd.detail
    assert result.policy.measured["verified_copies"] == 3 and result.policy.measured["compliant"] is True


@pytest.mark.parametrize(("make_hdd", "expected"), [
    (hard_links_of_primary, "shares storage with the primary on droplet: {n} of {n1} files are hard links to it "
                            "(same device and inode)"),
    (hard_links_of_nas, "shares storage with copies[0] on nas: {n1} of {n1} files are hard links to it"),
    (dot_and_trailing_slash, "shares storage with the primary on droplet: the same directory {primary} (device"),
    (dot_dot, "shares storage with the primary on droplet: the same directory {primary} (device"),
    (symlinked_directory, "shares storage with the primary on droplet: the same directory {primary} (device"),
], ids=["cp-al-primary", "cp-al-nas-mirror", "dot-and-trailing-slash", "dot-dot", "symlinked-directory"])
def test_a_copy_that_is_another_copys_storage_fails_and_counts_once(files_sandbox, sample_tree, make_hdd, expected):
    primary = files_layout(files_sandbox, sample_tree, make_hdd)
    run = files_sandbox.verify()

    hdd = copy_result(run, DATASET, "hdd")
    others = {c.name: c.status for c in hdd.checks if c.name != "independence" and c.status != Status.SKIP}
    assert set(others.values()) == {Status.PASS}, statuses(hdd)  # what let it count before
    independence = check_result(hdd, "independence")
    assert independence.status == Status.FAIL, statuses(hdd)
    n = files_count(primary)
    assert expected.format(n=n, n1=n + 1, primary=primary) in independence.detail
    assert hdd.status == Status.FAIL
    for name in ("droplet", "nas"):
        copy = copy_result(run, DATASET, name)
        assert copy.status == Status.PASS and check_result(copy, "independence").status == Status.PASS
    policy = dataset_result(run, DATASET).policy
    assert policy.measured["verified_copies"] == 2 and policy.measured["compliant"] is False
    assert "2 verified copies < 3" in policy.detail


def test_a_bind_mount_of_the_primary_fails_in_records_json_and_metrics(files_sandbox, sample_tree):
    """The real CLI inside a private mount namespace where hdd/data is a bind mount of the primary."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("a bind mount in a private namespace needs root, unshare(1) and mount(8)")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"unshare -m is not permitted here: {probe.stderr.strip()}")
    mountpoint = files_sandbox.root / "hdd" / "data"

    def bind_point(primary: Path, nas: Path) -> tuple[Path | str, str | None]:
        mountpoint.mkdir()
        return mountpoint, None

    primary = files_layout(files_sandbox, sample_tree, bind_point)
    files_sandbox.config()
    agent = [sys.executable, "-c", "from agent.cli import main; main()",
             "--config", str(files_sandbox.root / "targets.yaml"), "verify", "--json"]
    script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                           str(primary), str(mountpoint), *agent], capture_output=True, text=True, timeout=300)
    assert not os.path.ismount(mountpoint)  # the namespace died with the run: nothing left mounted
    assert done.returncode == 1, done.stderr

    document = json.loads(done.stdout)
    (dataset,) = document["datasets"]
    hdd = next(c for c in dataset["copies"] if c["target"] == "hdd")
    checks = {c["name"]: c for c in hdd["checks"]}
    assert checks["files-checksum"]["status"] == "pass"  # the primary's own bytes hash like the primary's
    assert checks["independence"]["status"] == "fail"
    assert (f"reached as {mountpoint} and as {primary} (a bind mount or another route to it)"
            in checks["independence"]["detail"])
    assert checks["independence"]["shares_with"] == [f"{DATASET}/primary/droplet"]
    assert hdd["status"] == "fail"
    assert dataset["policy"]["verified_copies"] == 2 and dataset["policy"]["compliant"] is False

    with RecordStore(files_sandbox.root / "state" / "records.sqlite") as store:
        rows = [r for r in store.rows() if r["target"] == "hdd"]
    (check_row,) = [r for r in rows if r["kind"] == "check" and r["check_name"] == "independence"]
    assert check_row["result"] == "fail" and "bind mount" in check_row["detail"]
    (copy_row,) = [r for r in rows if r["kind"] == "copy"]
    assert copy_row["result"] == "fail" and "independence: fail" in copy_row["detail"]

    metrics = (files_sandbox.root / "metrics" / "backup_agent.prom").read_text()
    assert (f'backup_agent_check_status{{check="independence",dataset="{DATASET}",process="lithera-platform",'
            'role="backup",status="fail",target="hdd"} 1.0') in metrics
    assert f'backup_agent_dataset_verified_copies{{dataset="{DATASET}",process="lithera-platform"}} 2.0' in metrics


# --- restic -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_repository(restic_template: ResticTemplate, tmp_path_factory) -> Path:
    """A second repository initialised by restic itself (its own id) holding the same data: what an
    honest second backup job writes."""
    repo = tmp_path_factory.mktemp("own-repository") / "repo"
    restic_template.restic(repo, "init")
    restic_template.restic(repo, "backup", "--tag", FRESH_TAG, str(restic_template.data))
    return repo


def restic_layout(sandbox: Sandbox, template: ResticTemplate, nas_repo: Path, ssd_repo: Path | str,
                  **ssd_options) -> None:
    """Primary on droplet, restic on nas and ssd. Targets one at a time, so one repository declared
    twice is not also locked by its own second check."""
    sandbox.agent["concurrency"] = 1
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("nas", "nas", "office")
    sandbox.target("ssd", "ssd", "office")
    tags = {"snapshot_filter": {"tags": [FRESH_TAG]}}
    sandbox.dataset(DATASET, primary=sandbox.files_copy("droplet", template.data, stamp=None),
                    copies=[sandbox.restic_copy("nas", nas_repo, **tags),
                            sandbox.restic_copy("ssd", ssd_repo, **tags, **ssd_options)],
                    policy=POLICY)


def assert_ssd_counted_once(run, *expected: str) -> None:
    ssd = copy_result(run, DATASET, "ssd")
    others = {c.name: c.status for c in ssd.checks if c.name != "independence" and c.status != Status.SKIP}
    assert set(others.values()) == {Status.PASS}, statuses(ssd)
    independence = check_result(ssd, "independence")
    assert independence.status == Status.FAIL, statuses(ssd)
    assert independence.detail.startswith("shares storage with copies[0] on nas: ")
    for text in expected:
        assert text in independence.detail
    assert check_result(copy_result(run, DATASET, "nas"), "independence").status == Status.PASS
    policy = dataset_result(run, DATASET).policy
    assert policy.measured["verified_copies"] == 2 and policy.measured["compliant"] is False


@pytest.mark.parametrize("route", ["same-path", "symlink", "dot-dot"])
def test_one_restic_repository_on_two_targets_counts_once(sandbox, restic_template, make_repo, route):
    repo = make_repo("nas-repo")
    if route == "symlink":
        (sandbox.root / "ssd").mkdir()
        (sandbox.root / "ssd" / "restic").symlink_to(repo, target_is_directory=True)
        ssd: Path | str = sandbox.root / "ssd" / "restic"
    else:
        ssd = str(repo) if route == "same-path" else f"{repo.parent}/../{repo.parent.name}/{repo.name}"
    restic_layout(sandbox, restic_template, repo, ssd)
    run = sandbox.verify()
    assert_ssd_counted_once(run, "the same restic repository (id ", f"the same directory {repo} (device")


def test_a_repository_inside_the_primarys_tree_fails(sandbox, restic_template, make_repo, own_repository):
    """It dies with the primary's disk; its checks pass and (the primary being the live source) nothing compared them."""
    primary = Path(shutil.copytree(restic_template.data, sandbox.root / "droplet" / "data"))
    inside = make_repo("restic", under=primary / ".backup")
    restic_layout(sandbox, restic_template, own_repository, inside)
    sandbox.datasets[DATASET]["primary"]["path"] = str(primary)
    run = sandbox.verify()
    copy = copy_result(run, DATASET, "ssd")
    others = {c.name: c.status for c in copy.checks if c.name != "independence" and c.status != Status.SKIP}
    assert set(others.values()) == {Status.PASS}, statuses(copy)
    ssd = check_result(copy, "independence")
    assert ssd.status == Status.FAIL, ssd.detail
    assert f"shares storage with the primary on droplet: it lies inside it ({inside} is under {primary})" in ssd.detail
    assert dataset_result(run, DATASET).policy.measured["verified_copies"] == 2


def test_a_separately_initialised_repository_is_independent(sandbox, restic_template, make_repo, own_repository):
    restic_layout(sandbox, restic_template, make_repo("nas-repo"), own_repository)
    run = sandbox.verify()
    result = dataset_result(run, DATASET)
    for copy in result.copies:
        assert copy.status == Status.PASS, statuses(copy)
    assert result.policy.measured["verified_copies"] == 3 and result.policy.measured["compliant"] is True


def test_a_byte_level_replica_fails_unless_declared_and_then_only_on_its_own_storage(sandbox, restic_template,
                                                                                       make_repo):
    nas, ssd = make_repo("nas-repo"), make_repo("ssd-repo")  # two rsync-style copies of one repository
    restic_layout(sandbox, restic_template, nas, ssd)
    run = sandbox.verify()
    assert_ssd_counted_once(run, "the same restic repository (id ")
    assert "directory" not in check_result(copy_result(run, DATASET, "ssd"), "independence").detail

    restic_layout(sandbox, restic_template, nas, ssd, replica=True)
    run = sandbox.verify()
    independence = check_result(copy_result(run, DATASET, "ssd"), "independence")
    assert independence.status == Status.PASS, independence.detail
    assert "as a declared replica of copies[0] on nas" in independence.detail
    assert dataset_result(run, DATASET).policy.measured["compliant"] is True

    # A "replica" made of hard links (cp -al) is the same storage: replica: true does not excuse it.
    linked = sandbox.root / "repos" / "ssd-linked"
    subprocess.run(["cp", "-al", str(nas), str(linked)], check=True)
    restic_layout(sandbox, restic_template, nas, linked, replica=True)
    run = sandbox.verify()
    assert_ssd_counted_once(run, "files are hard links to it (same device and inode)")
