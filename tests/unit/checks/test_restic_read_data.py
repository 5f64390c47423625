"""restic-read-data on a fake restic: `check --read-data-subset=n/t` rotating n night by night, a
damaged group failing until repaired (read again every night meanwhile), coverage counting only
the packs (and bytes) of groups read within the cycle and not in the future — never groups
(issue 18) — and any other failure an error. Real restic and
a flipped byte in a real pack: tests/integration/test_checks_restic.py."""

from __future__ import annotations

import pytest

from agent.models import Status
from agent.restic import ResticFailure
from checks.restic_read_data import STATE_SECTION, groups_per_cycle
from tests.support.fake_site import FakeSite


def site_with_repository(tmp_path, cycle: str = "3d") -> FakeSite:
    site = FakeSite(tmp_path, agent={"read_data_cycle": cycle, "schedule_interval": "1d"})
    site.target("droplet", medium="cloud-vm", location="sgp").tree("/srv/data", {"a.txt": b"alpha"})
    site.target("nas", "ssh", medium="nas", location="office").tree("/volume1/restic", PACKS, mtime=site.now.timestamp())
    site.primary("droplet", "/srv/data")
    site.copy("nas", "/volume1/restic", form="restic")
    return site


# One pack in each of the 3 groups (restic: the first byte of the ID mod t, plus 1), 10, 20 and 30 bytes.
PACKS = {f"data/{b}/{b * 32}": b"x" * size for b, size in (("00", 10), ("01", 20), ("02", 30))}
PACKS["index/" + "f" * 64] = b"i"  # not a pack: not counted


def nights(site: FakeSite, count: int) -> list:
    results = []
    for night in range(count):
        if night:
            site.next_night()
        results.append(site.run("restic-read-data"))
    return results


@pytest.mark.parametrize(("cycle", "interval", "groups"), [
    (30 * 86400, 86400, 30), (3 * 86400, 86400, 3), (7 * 86400, 7 * 86400, 1), (86400, 7 * 86400, 1),
    (10 * 86400, 4 * 86400, 2), (11 * 86400, 4 * 86400, 3),
])
def test_groups_per_cycle(cycle: float, interval: float, groups: int) -> None:
    assert groups_per_cycle(cycle, interval) == groups


def test_every_group_is_read_once_per_cycle(tmp_path) -> None:
    site = site_with_repository(tmp_path)
    results = nights(site, 4)
    assert [r.status for r in results] == [Status.PASS] * 4
    assert [r.measured["subset"] for r in results] == ["1/3", "2/3", "3/3", "1/3"]
    assert [r.measured["coverage_ratio"] for r in results] == [0.3333, 0.6667, 1.0, 1.0]
    assert [r.measured["coverage_bytes_ratio"] for r in results] == [0.1667, 0.5, 1.0, 1.0]
    assert [r.measured["packs_read"] for r in results] == [1, 2, 3, 3]
    assert [c for c in site.restic().calls if c[0] == "read-data"] == [
        ("read-data", "1/3"), ("read-data", "2/3"), ("read-data", "3/3"), ("read-data", "1/3")]


def test_a_damaged_group_fails_and_is_read_again_until_repaired(tmp_path) -> None:
    site = site_with_repository(tmp_path)
    site.restic().corrupt_pack(group=2)
    results = nights(site, 4)
    assert [(r.measured["subset"], r.status) for r in results] == [
        ("1/3", Status.PASS), ("2/3", Status.FAIL), ("2/3", Status.FAIL), ("2/3", Status.FAIL)]
    assert results[1].detail.startswith("read pack group 2/3: repository data errors")
    assert results[-1].measured["coverage_ratio"] < 1
    site.restic().damaged_groups.clear()
    site.next_night()
    repaired = site.run("restic-read-data")
    assert (repaired.measured["subset"], repaired.status) == ("2/3", Status.PASS)


@pytest.mark.parametrize("kind", [k for k in ResticFailure if k is not ResticFailure.DATA_ERROR])
def test_a_group_that_could_not_be_read_is_an_error_and_is_read_again(tmp_path, kind: ResticFailure) -> None:
    site = site_with_repository(tmp_path)
    site.restic().fail("read-data", kind)
    result = site.run("restic-read-data")
    assert result.status == Status.ERROR
    assert (result.measured["subset"], result.measured["coverage_ratio"], result.measured["packs_read"]) == ("1/3", 0.0, 0)
    del site.restic().failures["read-data"]
    site.next_night()
    assert site.run("restic-read-data").measured["subset"] == "1/3"


def test_a_changed_cycle_starts_the_rotation_over(tmp_path) -> None:
    site = site_with_repository(tmp_path)
    nights(site, 2)
    site.state.put(STATE_SECTION, site.spec().key, {**site.state.get(STATE_SECTION, site.spec().key), "t": 5})
    site.next_night()
    result = site.run("restic-read-data")
    assert (result.measured["subset"], result.measured["coverage_ratio"]) == ("1/3", 0.3333)


def test_groups_read_in_the_future_or_before_the_cycle_are_not_covered(tmp_path) -> None:
    site = site_with_repository(tmp_path)
    now = site.now.timestamp()
    key = site.spec().key
    site.state.put(STATE_SECTION, key, {"t": 3, "next": 1, "read": {"2": now + 86400, "3": now - 4 * 86400}})
    result = site.run("restic-read-data")
    assert result.status == Status.PASS
    assert result.measured["coverage_ratio"] == 0.3333, "only the group read just now counts"
    assert "2" not in site.state.get(STATE_SECTION, key)["read"]


def test_packs_in_groups_not_read_yet_are_zero_coverage_whatever_share_of_groups_was_read(tmp_path) -> None:
    """The issue's case: every pack sits in a group not read yet — 0 %, not the share of groups."""
    site = FakeSite(tmp_path, agent={"read_data_cycle": "14d", "schedule_interval": "1d"})
    site.target("droplet", medium="cloud-vm", location="sgp").tree("/srv/data", {"a.txt": b"alpha"})
    # group of 0x0b, 0x0c, 0x0d with t = 14: 12, 13, 14 — read on nights 12 to 14, not on night 1.
    packs = {f"data/{b}/{b * 32}": b"p" * 100 for b in ("0b", "0c", "0d")}
    site.target("nas", "ssh", medium="nas", location="office").tree("/volume1/restic", packs,
                                                                    mtime=site.now.timestamp())
    site.primary("droplet", "/srv/data")
    site.copy("nas", "/volume1/restic", form="restic")
    result = site.run("restic-read-data")
    assert result.status == Status.PASS
    assert result.measured["groups_read"] == 1
    assert result.measured["coverage_ratio"] == result.measured["coverage_bytes_ratio"] == 0.0
    assert "coverage 0% of 3 packs" in result.detail


def test_a_pack_that_appeared_after_its_group_was_read_is_not_covered(tmp_path) -> None:
    site = site_with_repository(tmp_path)
    site.run("restic-read-data")  # group 1: the pack 00…
    site.next_night()
    site.targets["nas"].write("/volume1/restic/data/03/" + "03" * 32, b"n" * 40, mtime=site.now.timestamp())  # group 1
    result = site.run("restic-read-data")  # group 2
    assert result.measured["packs"] == 4 and result.measured["packs_read"] == 2  # 00… and 01…, not the new 03…
