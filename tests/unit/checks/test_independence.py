"""independence on fake targets: storage identities gathered from the fake handles by the
product's own agent.identity.gather after every copy's checks ran, then compared per dataset. A
copy that is the primary's storage reached another way, lies inside it, hard-links its files, or is
the same restic repository declared twice fails; an identity that cannot be read is an error; a copy
that did not verify is skipped. The rule on identities built by hand: tests/unit/test_independence_unit.py;
real bind mounts, hard links and repositories: tests/integration/test_independence.py."""

from __future__ import annotations

import pytest

from agent.models import Status
from tests.support.fake_site import FakeSite
from tests.support.fake_target import FAILURES, FakeTarget

FILES = {"a.txt": b"alpha\n", "db/dump.sql": b"INSERT 1;\n" * 30}
HOUR = 3600.0


def site_with(tmp_path, hdd_like: str | None = None, hdd_path: str = "/mnt/hdd/data") -> FakeSite:
    """A primary on droplet and a plain mirror on hdd (its own disk, or the storage of hdd_like)."""
    site = FakeSite(tmp_path, rpo="1d", policy={"copies": 2, "media": 2, "offsite": 1})
    droplet = site.target("droplet", medium="cloud-vm", location="sgp")
    droplet.tree("/srv/data", FILES, site.ago(48 * HOUR))
    hdd = site.target("hdd", medium="hdd", location="home", like=site.targets.get(hdd_like or ""))
    if hdd_path != "/srv/data":
        hdd.tree(hdd_path, FILES, site.ago(48 * HOUR))
    hdd.write(f"{hdd_path}/.last-sync", b"synced\n", site.ago(HOUR))
    site.primary("droplet", "/srv/data")
    site.copy("hdd", hdd_path, stamp=".last-sync")
    return site


def verdicts(site: FakeSite) -> list:
    return site.verify().independence


def test_copies_on_their_own_storage_are_independent(tmp_path) -> None:
    primary, hdd = verdicts(site_with(tmp_path))
    assert (primary.status, hdd.status) == (Status.PASS, Status.PASS), hdd.detail
    assert hdd.detail.startswith("storage of its own (/mnt/hdd/data")


def test_the_primarys_own_directory_reached_as_another_target_fails(tmp_path) -> None:
    _, hdd = verdicts(site_with(tmp_path, hdd_like="droplet", hdd_path="/srv/data"))
    assert hdd.status == Status.FAIL
    assert "shares storage with the primary on droplet: the same directory /srv/data" in hdd.detail


def test_a_copy_inside_the_primarys_tree_fails(tmp_path) -> None:
    _, hdd = verdicts(site_with(tmp_path, hdd_like="droplet", hdd_path="/srv/data/mirror"))
    assert hdd.status == Status.FAIL and "it lies inside it (/srv/data/mirror is under /srv/data)" in hdd.detail


def test_a_hard_linked_mirror_fails(tmp_path) -> None:
    site = site_with(tmp_path, hdd_like="droplet", hdd_path="/srv/mirror")
    droplet: FakeTarget = site.targets["droplet"]
    for relpath in FILES:
        droplet.link(f"/srv/data/{relpath}", f"/srv/mirror/{relpath}")
    _, hdd = verdicts(site)
    assert hdd.status == Status.FAIL and "2 of 3 files are hard links to it" in hdd.detail


@pytest.mark.parametrize("replica", [False, True])
def test_one_restic_repository_declared_twice_fails_unless_a_declared_replica(tmp_path, replica: bool) -> None:
    site = site_with(tmp_path)
    site.target("nas", "ssh", medium="nas", location="office")
    site.target("ssd", medium="ssd", location="office")
    site.copy("nas", "/volume1/restic", form="restic")
    site.copy("ssd", "/mnt/ssd/restic", form="restic", **({"replica": True} if replica else {}))
    for index in (1, 2):
        site.restic(index).backup(site.targets["droplet"], "/srv/data", time=site.at(HOUR))
    site.restic(2).id = site.restic(1).id
    nas, ssd = verdicts(site)[2:]
    assert nas.status == Status.PASS
    if replica:
        assert ssd.status == Status.PASS and "as a declared replica of copies[1] on nas" in ssd.detail
    else:
        assert ssd.status == Status.FAIL and "the same restic repository" in ssd.detail


@pytest.mark.parametrize("how", sorted(FAILURES))
def test_an_identity_that_cannot_be_read_is_an_error(tmp_path, how: str) -> None:
    site = site_with(tmp_path)
    site.targets["hdd"].break_(how, operations={"storage_identity"})
    outcome = site.verify()
    assert {c.status for c in outcome.copies[1].checks[:-1]} <= {Status.PASS, Status.SKIP}, "its own checks passed"
    hdd = outcome.independence[1]
    assert hdd.status == Status.ERROR
    assert hdd.detail.startswith("cannot tell whether this copy's storage is its own: ")
    assert not outcome.copies[1].verified and outcome.policy.status == Status.FAIL


def test_a_copy_that_did_not_verify_is_skipped_and_compared_with_nobody(tmp_path) -> None:
    site = site_with(tmp_path)
    site.targets["hdd"].break_("unreachable")
    _, hdd = verdicts(site)
    assert hdd.status == Status.SKIP and hdd.detail == "not run: target not reachable"
