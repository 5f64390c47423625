"""restic-structure on a fake restic: `restic check` finding errors fails the copy; a repository
that cannot be checked (any other restic failure) is an error — never a pass. Real restic, a deleted
pack, a wrong password, a lock: tests/integration/test_checks_restic.py, test_restic_locks.py."""

from __future__ import annotations

import pytest

from agent.models import Status
from agent.restic import ResticFailure
from tests.support.fake_restic import restic_error
from tests.support.fake_site import FakeSite


def site_with_repository(tmp_path) -> FakeSite:
    site = FakeSite(tmp_path)
    site.target("droplet", medium="cloud-vm", location="sgp").tree("/srv/data", {"a.txt": b"alpha"})
    site.target("nas", "ssh", medium="nas", location="office")
    site.primary("droplet", "/srv/data")
    site.copy("nas", "/volume1/restic", form="restic")
    return site


def test_a_consistent_repository_passes(tmp_path) -> None:
    site = site_with_repository(tmp_path)
    result = site.run("restic-structure")
    assert result.status == Status.PASS
    assert site.restic().calls == [("check",)], "plain check: the structure, no --read-data"


def test_a_lost_pack_fails(tmp_path) -> None:
    site = site_with_repository(tmp_path)
    site.restic().lose_pack()
    result = site.run("restic-structure")
    assert result.status == Status.FAIL
    assert "repository data errors" in result.detail


@pytest.mark.parametrize("kind", list(ResticFailure))
def test_every_restic_failure_is_a_fail_or_an_error_never_a_pass(tmp_path, kind: ResticFailure) -> None:
    site = site_with_repository(tmp_path)
    site.restic().fail("check", kind)
    result = site.run("restic-structure")
    assert result.status == (Status.FAIL if kind is ResticFailure.DATA_ERROR else Status.ERROR)
    assert result.detail == str(restic_error(kind))
