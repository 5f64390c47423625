"""independence on a real S3 server (SeaweedFS): one bucket prefix declared on two targets, and a
restic repository uploaded to S3 byte for byte (rclone-style) next to its local original.

Both passed every other check before the independence check existed and were counted twice."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.models import Status
from tests.support.restic import FRESH_TAG
from tests.support.sandbox import Sandbox, check_result, copy_result, dataset_result, statuses
from tests.support.seaweed import SeaweedServer, new_bucket_name, upload_repository, upload_tree

pytestmark = pytest.mark.integration

DATASET = "platform-db"
POLICY = {"copies": 3, "media": 2, "offsite": 1}


def objects_layout(sandbox: Sandbox, seaweed: SeaweedServer, sample_tree: Path, vault_bucket: str,
                   vault_prefix: str, **vault_options) -> str:
    """Primary local; an object copy at offsite:BUCKET/lithera/db; another object copy on target
    vault at vault_bucket/vault_prefix. Return the offsite bucket."""
    primary = Path(shutil.copytree(sample_tree, sandbox.root / "droplet" / "db"))
    bucket = new_bucket_name()
    client = seaweed.client()
    client.create_bucket(Bucket=bucket)
    upload_tree(client, bucket, sample_tree, "lithera/db")
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.targets["offsite"] = {"kind": "s3", "medium": "object-storage", "location": "cloud-hk",
                                  **seaweed.target_options(bucket)}
    sandbox.targets["vault"] = {"kind": "s3", "medium": "object-storage", "location": "cloud-sg",
                                **seaweed.target_options(vault_bucket or bucket, **vault_options)}
    sandbox.dataset(DATASET, Sandbox.files_copy("droplet", primary, stamp=None), [
        {"target": "offsite", "form": "objects", "path": "lithera/db", "stamp": ".last-sync"},
        {"target": "vault", "form": "objects", "path": vault_prefix, "stamp": ".last-sync"},
    ], policy=POLICY)
    return bucket


def test_an_object_copy_in_its_own_bucket_is_independent(files_sandbox, seaweed, sample_tree):
    vault = new_bucket_name()
    seaweed.client().create_bucket(Bucket=vault)
    upload_tree(seaweed.client(), vault, sample_tree, "lithera/db")
    objects_layout(files_sandbox, seaweed, sample_tree, vault, "lithera/db")
    run = files_sandbox.verify()
    for copy in dataset_result(run, DATASET).copies:
        assert copy.status == Status.PASS, statuses(copy)
    assert dataset_result(run, DATASET).policy.measured["verified_copies"] == 3


def test_one_prefix_on_two_targets_counts_once(files_sandbox, seaweed, sample_tree):
    # The same place written differently: a trailing slash on the endpoint, slashes around the prefix.
    bucket = objects_layout(files_sandbox, seaweed, sample_tree, "", "/lithera/db/", endpoint=seaweed.endpoint + "/")
    run = files_sandbox.verify()
    vault = copy_result(run, DATASET, "vault")
    others = {c.name: c.status for c in vault.checks if c.name != "independence" and c.status != Status.SKIP}
    assert set(others.values()) == {Status.PASS}, statuses(vault)
    independence = check_result(vault, "independence")
    assert independence.status == Status.FAIL
    assert f"shares storage with copies[0] on offsite: the same prefix 'lithera/db' in bucket {bucket}" \
        in independence.detail
    policy = dataset_result(run, DATASET).policy
    assert policy.measured["verified_copies"] == 2 and policy.measured["compliant"] is False


def test_a_repository_uploaded_to_s3_is_the_same_repository_unless_declared_a_replica(sandbox, seaweed, bucket,
                                                                                        restic_template, make_repo):
    upload_repository(seaweed.client(), bucket, restic_template.repo, "restic/lithera")
    tags = {"snapshot_filter": {"tags": [FRESH_TAG]}}
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("ssd", "ssd", "office")
    sandbox.targets["offsite"] = {"kind": "s3", "medium": "object-storage", "location": "cloud-hk",
                                  **seaweed.target_options(bucket)}
    local = make_repo("ssd-repo")

    def declare(**offsite_options) -> None:
        sandbox.dataset(DATASET, Sandbox.files_copy("droplet", restic_template.data, stamp=None), [
            sandbox.restic_copy("ssd", local, **tags),
            sandbox.restic_copy("offsite", "restic/lithera", **tags, **offsite_options),
        ], policy=POLICY)

    declare()
    run = sandbox.verify()
    offsite = copy_result(run, DATASET, "offsite")
    independence = check_result(offsite, "independence")
    assert independence.status == Status.FAIL, statuses(offsite)
    assert "shares storage with copies[0] on ssd: the same restic repository (id " in independence.detail
    assert dataset_result(run, DATASET).policy.measured["verified_copies"] == 2

    declare(replica=True)  # an rclone copy of the repository: same id, storage of its own
    run = sandbox.verify()
    independence = check_result(copy_result(run, DATASET, "offsite"), "independence")
    assert independence.status == Status.PASS, independence.detail
    assert "as a declared replica of copies[0] on ssd" in independence.detail
    assert dataset_result(run, DATASET).policy.measured["compliant"] is True
