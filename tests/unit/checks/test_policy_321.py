"""policy-321 on fake targets: the 3-2-1 rule counted over copies whose checks actually passed on
this run — a stale, damaged, unreachable or shared copy does not count, and media and sites are
the declared ones of the copies that verified. The counting on results built by hand:
tests/unit/test_policy_unit.py; on real trees and restic: tests/integration/test_policy.py."""

from __future__ import annotations

import pytest

from agent.models import Status
from tests.support.fake_site import FakeSite
from tests.support.fake_target import bucket_state

FILES = {"a.txt": b"alpha\n", "db/dump.sql": b"INSERT 1;\n" * 30}
HOUR = 3600.0
DAY = 86400.0
# name: (medium, location)
TARGETS = {"droplet": ("cloud-vm", "sgp"), "nas": ("nas", "office"), "hdd": ("hdd", "home"),
           "ssd": ("ssd", "sgp"), "hdd2": ("hdd", "office")}


def site_with(tmp_path, mirrors: list[str], policy: dict | None = None) -> FakeSite:
    """A primary on droplet and a plain mirror, synced an hour ago, on each named target."""
    site = FakeSite(tmp_path, rpo="1d", policy=policy)
    for name in ["droplet", *mirrors]:
        medium, location = TARGETS[name]
        handle = site.target(name, medium=medium, location=location)
        root = "/srv/data" if name == "droplet" else f"/mnt/{name}/data"
        handle.tree(root, FILES, site.ago(2 * DAY))
        if name != "droplet":
            handle.write(f"{root}/.last-sync", b"synced\n", site.ago(HOUR))
            site.copy(name, root, stamp=".last-sync")
    site.primary("droplet", "/srv/data")
    return site


def test_three_verified_copies_on_three_media_and_two_sites_pass(tmp_path) -> None:
    outcome = site_with(tmp_path, ["nas", "hdd"]).verify()
    assert outcome.policy.status == Status.PASS, outcome.policy.detail
    assert outcome.policy.measured["verified_copies"] == 3 and outcome.policy.measured["compliant"] is True


@pytest.mark.parametrize("damage", ["stale", "corrupt", "unreachable", "unreadable"])
def test_a_copy_that_did_not_verify_is_not_counted(tmp_path, damage: str) -> None:
    site = site_with(tmp_path, ["nas", "hdd"])
    hdd = site.targets["hdd"]
    if damage == "stale":
        hdd.touch("/mnt/hdd/data/.last-sync", site.ago(3 * DAY))
    elif damage == "corrupt":
        hdd.corrupt("/mnt/hdd/data/db/dump.sql")
    elif damage == "unreachable":
        hdd.break_("unreachable")
    else:
        hdd.deny("/mnt/hdd/data/a.txt")
    outcome = site.verify()
    assert not outcome.copies[2].verified
    assert outcome.policy.status == Status.FAIL
    assert "2 verified copies < 3" in outcome.policy.detail


def test_copies_on_one_medium_fail(tmp_path) -> None:
    outcome = site_with(tmp_path, ["hdd", "hdd2"], policy={"media": 3}).verify()
    assert outcome.policy.status == Status.FAIL
    assert "2 distinct media (cloud-vm, hdd) < 3" in outcome.policy.detail


def test_copies_all_at_the_primarys_site_fail(tmp_path) -> None:
    outcome = site_with(tmp_path, ["ssd"], policy={"copies": 2}).verify()
    assert outcome.policy.status == Status.FAIL
    assert "0 copies away from sgp < 1" in outcome.policy.detail


def test_a_copy_sharing_storage_with_the_primary_counts_once(tmp_path) -> None:
    site = FakeSite(tmp_path, rpo="1d", policy={"copies": 2, "media": 1, "offsite": 0})
    droplet = site.target("droplet", medium="cloud-vm", location="sgp")
    droplet.tree("/srv/data", FILES, site.ago(2 * DAY))
    droplet.write("/srv/data/.last-sync", b"", site.ago(HOUR))
    site.target("mirror", medium="hdd", location="home", like=droplet)  # a bind mount of the primary
    site.primary("droplet", "/srv/data")
    site.copy("mirror", "/srv/data", stamp=".last-sync")
    outcome = site.verify()
    assert outcome.independence[1].status == Status.FAIL
    assert outcome.policy.status == Status.FAIL and "1 verified copies < 2" in outcome.policy.detail


def test_3_2_1_1_0_needs_a_bucket_proven_immutable_and_no_error(tmp_path) -> None:
    site = site_with(tmp_path, ["nas", "hdd"], policy={"immutable": 1, "zero_errors": True})
    vault = site.target("vault", "s3", medium="object-storage", location="hk")
    vault.tree("data", FILES, site.ago(2 * DAY))
    vault.write("data/.last-sync", b"", site.ago(HOUR))
    site.copy("vault", "data", form="objects", stamp=".last-sync", immutable=True)
    vault.immutability_state = bucket_state("fake-bucket", "Enabled", True, "COMPLIANCE", 7 * DAY)
    outcome = site.verify()
    assert outcome.policy.status == Status.FAIL
    assert "0 immutable copies < 1" in outcome.policy.detail and "copies in fail or error" in outcome.policy.detail

    site.next_night(0)
    vault.immutability_state = bucket_state("fake-bucket", "Enabled", True, "COMPLIANCE", 30 * DAY)
    outcome = site.verify()
    assert outcome.policy.status == Status.PASS, outcome.policy.detail
    assert outcome.policy.measured["immutable_copies"] == 1
