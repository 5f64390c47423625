"""immutability on a fake s3 target: versioning Enabled and a default object-lock retention of at
least min_retention pass; anything missing or shorter fails; a bucket that cannot be asked is an
error; a copy that is neither marked nor required is skipped, and a copy on a kind without object
lock never counts as immutable. Real SeaweedFS buckets: tests/integration/s3/test_s3_immutability.py."""

from __future__ import annotations

import pytest

from agent.models import Status
from agent.targets.base import Immutability
from tests.support.fake_site import FakeSite
from tests.support.fake_target import FAILURES, bucket_state

DAY = 86400.0
LOCKED = bucket_state("vault", "Enabled", True, "COMPLIANCE", 30 * DAY)


def bucket_site(tmp_path, state: Immutability | None = LOCKED, *, immutable: bool = True, policy_immutable: int = 0,
                min_retention: str | None = None) -> FakeSite:
    site = FakeSite(tmp_path, policy={"immutable": policy_immutable} if policy_immutable else None)
    site.target("droplet", medium="cloud-vm", location="sgp").tree("/srv/data", {"a.txt": b"alpha"})
    vault = site.target("vault", "s3", medium="object-storage", location="hk",
                        **({"min_retention": min_retention} if min_retention else {}))
    vault.immutability_state = state
    site.primary("droplet", "/srv/data")
    site.copy("vault", "data/", form="objects", **({"immutable": True} if immutable else {}))
    return site


@pytest.mark.parametrize(("state", "min_retention"), [
    (LOCKED, None),
    (bucket_state("vault", "Enabled", True, "COMPLIANCE", 365 * DAY), "365d"),
    (bucket_state("vault", "Enabled", True, "GOVERNANCE", 30 * DAY), "30d"),
], ids=["compliance-30d", "compliance-365d", "governance"])
def test_a_locked_versioned_bucket_passes(tmp_path, state: Immutability, min_retention: str | None) -> None:
    result = bucket_site(tmp_path, state, min_retention=min_retention).run("immutability")
    assert result.status == Status.PASS, result.detail
    assert result.measured["retention_seconds"] >= result.measured["min_retention_seconds"]
    assert ("bypassable" in result.detail) == (state.mode == "GOVERNANCE")


@pytest.mark.parametrize(("state", "words"), [
    (bucket_state("vault", "", False, None, None), "versioning is not enabled; object lock is not enabled"),
    (bucket_state("vault", "Suspended", True, "COMPLIANCE", 30 * DAY), "versioning is Suspended"),
    (bucket_state("vault", "Enabled", False, None, None), "object lock is not enabled"),
    (bucket_state("vault", "Enabled", True, None, None), "object lock has no default retention rule"),
    (bucket_state("vault", "Enabled", True, "COMPLIANCE", 7 * DAY), "default retention 7d < minimum 30d"),
], ids=["nothing", "suspended", "no-lock", "no-rule", "too-short"])
def test_a_bucket_that_does_not_keep_what_is_written_fails(tmp_path, state: Immutability, words: str) -> None:
    result = bucket_site(tmp_path, state).run("immutability")
    assert result.status == Status.FAIL
    assert result.detail.startswith("bucket vault is not immutable: ") and words in result.detail


def test_a_longer_minimum_retention_is_honoured(tmp_path) -> None:
    result = bucket_site(tmp_path, LOCKED, min_retention="90d").run("immutability")
    assert result.status == Status.FAIL and "default retention 30d < minimum 90d" in result.detail


@pytest.mark.parametrize("how", sorted(FAILURES))
def test_a_bucket_that_cannot_be_asked_is_an_error(tmp_path, how: str) -> None:
    site = bucket_site(tmp_path)
    site.targets["vault"].break_(how)
    result = site.run("immutability")
    assert result.status == Status.ERROR
    assert result.detail.startswith("cannot read the bucket's versioning and object lock: ")


def test_not_marked_and_not_required_is_skipped_without_asking(tmp_path) -> None:
    site = bucket_site(tmp_path, immutable=False)
    assert site.run("immutability").status == Status.SKIP
    assert ("immutability", "") not in site.targets["vault"].calls


def test_a_policy_requiring_an_immutable_copy_checks_unmarked_copies_too(tmp_path) -> None:
    site = bucket_site(tmp_path, bucket_state("vault", "Enabled", False, None, None), immutable=False,
                       policy_immutable=1)
    assert site.run("immutability").status == Status.FAIL


def test_a_copy_on_a_kind_without_object_lock_never_counts_as_immutable(tmp_path) -> None:
    site = FakeSite(tmp_path, policy={"immutable": 1})
    site.target("droplet", medium="cloud-vm", location="sgp").tree("/srv/data", {"a.txt": b"alpha"})
    site.target("hdd", medium="hdd", location="home").immutability_state = LOCKED
    site.primary("droplet", "/srv/data")
    site.copy("hdd", "/mnt/hdd/data")
    result = site.run("immutability")
    assert result.status == Status.SKIP and "does not count as immutable" in result.detail
