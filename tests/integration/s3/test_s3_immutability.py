"""The immutability check (3-2-1-1-0) on real SeaweedFS buckets: versioning and object lock with a
default retention of at least min_retention → pass; anything missing or shorter → fail when the
policy requires an immutable copy or the copy claims to be one; not required → skip. policy-321
counts only copies whose immutability check passed."""

from __future__ import annotations

import shutil

import pytest

from agent.models import Status
from tests.support.sandbox import Sandbox, check_result, copy_result, dataset_result, statuses
from tests.support.seaweed import new_bucket_name, upload_tree

pytestmark = pytest.mark.integration

DATASET = "platform-db"
PREFIX = "lithera/db"


def make_bucket(client, *, versioning: bool = False, lock_days: int | None = None, lock: bool = False,
                mode: str = "GOVERNANCE") -> str:
    name = new_bucket_name()
    if lock or lock_days:
        client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)  # turns versioning on too
    else:
        client.create_bucket(Bucket=name)
    if versioning:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if lock_days:
        client.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": mode, "Days": lock_days}}})
    return name


def layout(sandbox: Sandbox, seaweed, bucket: str, sample_tree, *, immutable_policy: int = 1,
           copy_immutable: bool | None = None, **target_options) -> None:
    primary = sandbox.root / "droplet" / "db"
    shutil.copytree(sample_tree, primary)
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.targets["offsite"] = {"kind": "s3", "medium": "object-storage", "location": "cloud-hk",
                                  **seaweed.target_options(bucket, **target_options)}
    copy = {"target": "offsite", "form": "objects", "path": PREFIX, "stamp": ".last-sync"}
    if copy_immutable is not None:
        copy["immutable"] = copy_immutable
    sandbox.dataset(DATASET, Sandbox.files_copy("droplet", primary, stamp=None), [copy],
                    policy={"copies": 2, "media": 2, "offsite": 1, "immutable": immutable_policy})
    upload_tree(seaweed.client(), bucket, sample_tree, PREFIX)


@pytest.mark.parametrize(("bucket_kind", "expected", "words"), [
    ("plain", Status.FAIL, ["versioning is not enabled", "object lock is not enabled"]),
    ("versioning-only", Status.FAIL, ["object lock is not enabled"]),
    ("lock-without-default-retention", Status.FAIL, ["no default retention rule"]),
    ("lock-7d", Status.FAIL, ["default retention 7d", "< minimum 30d"]),
    ("lock-40d-governance", Status.PASS, ["GOVERNANCE", "bypassable"]),
    ("lock-40d-compliance", Status.PASS, ["COMPLIANCE"]),
])
def test_immutability_required_by_policy(files_sandbox, seaweed, sample_tree, bucket_kind, expected, words):
    client = seaweed.client()
    bucket = {
        "plain": lambda: make_bucket(client),
        "versioning-only": lambda: make_bucket(client, versioning=True),
        "lock-without-default-retention": lambda: make_bucket(client, lock=True),
        "lock-7d": lambda: make_bucket(client, lock_days=7),
        "lock-40d-governance": lambda: make_bucket(client, lock_days=40),
        "lock-40d-compliance": lambda: make_bucket(client, lock_days=40, mode="COMPLIANCE"),
    }[bucket_kind]()
    layout(files_sandbox, seaweed, bucket, sample_tree)
    run = files_sandbox.verify()
    copy = copy_result(run, DATASET, "offsite")
    check = check_result(copy, "immutability")
    assert check.status == expected, check.detail
    for word in words:
        assert word in check.detail, check.detail
    policy = dataset_result(run, DATASET).policy
    assert policy.measured["immutable_copies"] == (1 if expected == Status.PASS else 0)
    assert policy.measured["compliant"] is (expected == Status.PASS), policy.detail
    if expected == Status.PASS:
        assert copy.status == Status.PASS, statuses(copy)


def test_min_retention_is_configurable(files_sandbox, seaweed, sample_tree):
    bucket = make_bucket(seaweed.client(), lock_days=7)
    layout(files_sandbox, seaweed, bucket, sample_tree, min_retention="7d")
    check = check_result(copy_result(files_sandbox.verify(), DATASET, "offsite"), "immutability")
    assert check.status == Status.PASS, check.detail
    assert check.measured["retention_seconds"] == 7 * 86400


def test_a_copy_claiming_immutability_is_checked_even_when_the_policy_needs_none(files_sandbox, seaweed, sample_tree):
    bucket = make_bucket(seaweed.client(), versioning=True)
    layout(files_sandbox, seaweed, bucket, sample_tree, immutable_policy=0, copy_immutable=True)
    check = check_result(copy_result(files_sandbox.verify(), DATASET, "offsite"), "immutability")
    assert check.status == Status.FAIL and "object lock is not enabled" in check.detail


def test_not_required_is_skipped_and_not_counted(files_sandbox, seaweed, sample_tree):
    bucket = make_bucket(seaweed.client(), lock_days=40)
    layout(files_sandbox, seaweed, bucket, sample_tree, immutable_policy=0)
    run = files_sandbox.verify()
    copy = copy_result(run, DATASET, "offsite")
    assert check_result(copy, "immutability").status == Status.SKIP
    assert copy.status == Status.PASS, statuses(copy)
    assert dataset_result(run, DATASET).policy.measured["immutable_copies"] == 0


def test_local_copies_get_no_immutability_check(files_sandbox, seaweed, sample_tree):
    bucket = make_bucket(seaweed.client())
    layout(files_sandbox, seaweed, bucket, sample_tree)
    run = files_sandbox.verify()
    primary = copy_result(run, DATASET, "droplet")
    assert "immutability" not in {c.name for c in primary.checks}
