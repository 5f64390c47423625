"""restic-read-data on a fake restic: `check --read-data-subset=n/t` rotating n night by night, a
damaged group failing until repaired (read again every night meanwhile), coverage counting only
groups read within the cycle and not in the future, and any other failure an error. Real restic and
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
    site.target("nas", "ssh", medium="nas", location="office")
    site.primary("droplet", "/srv/data")
    site.copy("nas", "/volume1/restic", form="restic")
    return site


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
    assert result.measured == {"subset": "1/3", "coverage_ratio": 0.0}
    del site.restic().failures["read-data"]
    site.next_night()
    assert site.run("restic-read-data").measured["subset"] == "1/3"


def test_a_changed_cycle_starts_the_rotation_over(tmp_path) -> None:
    site = site_with_repository(tmp_path)
    nights(site, 2)
    site.state.put(STATE_SECTION, site.spec().key, {**site.state.get(STATE_SECTION, site.spec().key), "t": 5})
    site.next_night()
    result = site.run("restic-read-data")
    assert result.measured == {"subset": "1/3", "coverage_ratio": 0.3333}


def test_groups_read_in_the_future_or_before_the_cycle_are_not_covered(tmp_path) -> None:
    site = site_with_repository(tmp_path)
    now = site.now.timestamp()
    key = site.spec().key
    site.state.put(STATE_SECTION, key, {"t": 3, "next": 1, "read": {"2": now + 86400, "3": now - 4 * 86400}})
    result = site.run("restic-read-data")
    assert result.status == Status.PASS
    assert result.measured["coverage_ratio"] == 0.3333, "only the group read just now counts"
    assert "2" not in site.state.get(STATE_SECTION, key)["read"]
