"""reachable on a fake target: the copy's target answers and its path is there. Anything else is
an error, and once reachable is not a pass no later check of the copy passes either. Real mounts,
SSH hosts and buckets: tests/integration/test_mount.py, ssh/test_ssh_failures.py, s3/."""

from __future__ import annotations

import pytest

from agent.models import Status
from agent.targets.base import Probe
from tests.support.fake_site import FakeSite
from tests.support.fake_target import FAILURES


def site_with_copy(tmp_path, form: str = "files") -> FakeSite:
    site = FakeSite(tmp_path)
    site.target("droplet", medium="cloud-vm", location="sgp").tree("/srv/data", {"a.txt": b"alpha"})
    site.target("hdd", medium="hdd", location="home")
    site.primary("droplet", "/srv/data")
    site.copy("hdd", "/mnt/hdd/data", form=form)
    return site


def test_a_copy_whose_path_is_there_passes_and_its_probe_is_kept(tmp_path) -> None:
    site = site_with_copy(tmp_path)
    site.targets["hdd"].tree("/mnt/hdd/data", {"a.txt": b"alpha"})
    result = site.run("reachable")
    assert result.status == Status.PASS, result.detail
    assert site.context().probe is not None and site.context().probe.ok


@pytest.mark.parametrize(("prepare", "words"), [
    (lambda hdd: None, "path does not exist: /mnt/hdd/data"),
    (lambda hdd: hdd.write("/mnt/hdd/data", b"a file, not the tree"), "not a directory"),
], ids=["missing", "a-file-not-a-tree"])
def test_a_path_that_is_not_a_tree_is_an_error(tmp_path, prepare, words: str) -> None:
    site = site_with_copy(tmp_path)
    prepare(site.targets["hdd"])
    result = site.run("reachable")
    assert result.status == Status.ERROR
    assert words in result.detail


def test_a_restic_repository_need_not_be_a_directory_tree_to_be_reached(tmp_path) -> None:
    site = site_with_copy(tmp_path, form="restic")
    assert site.run("reachable").status == Status.PASS


@pytest.mark.parametrize("how", sorted(FAILURES))
def test_a_target_that_cannot_answer_is_an_error_naming_why(tmp_path, how: str) -> None:
    site = site_with_copy(tmp_path)
    site.targets["hdd"].tree("/mnt/hdd/data", {"a.txt": b"alpha"})
    site.targets["hdd"].break_(how)
    result = site.run("reachable")
    assert result.status == Status.ERROR
    assert result.detail == FAILURES[how].format(name="hdd")
    assert site.context().probe is None


def test_an_unmounted_disk_is_an_error_and_the_detected_medium_is_measured(tmp_path) -> None:
    site = site_with_copy(tmp_path)
    site.targets["hdd"].probe_result = Probe(False, "not mounted: /mnt/hdd/data is on the root filesystem", "ssd")
    result = site.run("reachable")
    assert result.status == Status.ERROR
    assert result.detail.startswith("not mounted")
    assert result.measured == {"detected_medium": "ssd"}


@pytest.mark.parametrize("how", ["missing", *sorted(FAILURES)])
def test_after_reachable_fails_no_check_of_the_copy_passes(tmp_path, how: str) -> None:
    site = site_with_copy(tmp_path)
    hdd = site.targets["hdd"]
    if how != "missing":
        hdd.tree("/mnt/hdd/data", {"a.txt": b"alpha", ".last-sync": b""})
        hdd.break_(how)
    copy = site.verify_copy(0)
    assert [c.status for c in copy.checks][0] == Status.ERROR
    assert all(c.status == Status.SKIP for c in copy.checks[1:]), [(c.name, c.status) for c in copy.checks]
    assert copy.status == Status.ERROR and not copy.verified
    assert copy.identity is None
