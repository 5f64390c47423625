"""restic-packs on a restic repository in a real S3 bucket (SeaweedFS) (issue 18): objects with a
full-object SHA-256 checksum are proven by it (no bytes move); others are downloaded within the
target's sample budget. A flipped bit in a data pack, an index or a snapshot object is found in
the first run after, named; what the budget left unread is an error and is not coverage."""

from __future__ import annotations

import pytest

from agent.models import Status
from tests.integration.s3.test_s3_restic import DATASET, PREFIX, restic_layout
from tests.support.restic import FRESH_TAG
from tests.support.sandbox import check_result, copy_result

pytestmark = pytest.mark.integration


def packs_result(sandbox):
    return check_result(copy_result(sandbox.verify(), DATASET, "offsite"), "restic-packs")


def repository_keys(client, bucket: str) -> dict[str, int]:
    """restic's hash-named objects under the prefix: path relative to it → size."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX + "/"):
        for item in page.get("Contents", []):
            relpath = item["Key"][len(PREFIX) + 1:]
            if relpath.split("/", 1)[0] in ("data", "index", "snapshots", "keys"):
                found[relpath] = item["Size"]
    return found


def flip_object(client, bucket: str, relpath: str, **put) -> None:
    key = f"{PREFIX}/{relpath}"
    data = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x01
    client.put_object(Bucket=bucket, Key=key, Body=bytes(data), **put)


def reupload_with_sha256(client, bucket: str) -> None:
    """Write every object again with a full-object SHA-256 checksum, as a bucket that keeps them would."""
    for relpath in repository_keys(client, bucket):
        key = f"{PREFIX}/{relpath}"
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        client.put_object(Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256")


@pytest.mark.parametrize("prefix, holds", [("data/", "a pack"), ("index/", "an index"), ("snapshots/", "a snapshot")])
def test_a_flipped_bit_in_s3_is_found_in_the_first_run_after_and_named(sandbox, seaweed, bucket, restic_template,
                                                                       prefix, holds):
    restic_layout(sandbox, seaweed, bucket, restic_template, [FRESH_TAG])
    first = packs_result(sandbox)
    assert first.status == Status.PASS, first.detail
    assert first.measured["verified_by_download"] == first.measured["files"]  # no SHA-256 kept: downloaded
    client = seaweed.client()
    victim = max((p for p in repository_keys(client, bucket) if p.startswith(prefix)),
                 key=lambda p: repository_keys(client, bucket)[p])
    flip_object(client, bucket, victim)

    result = packs_result(sandbox)

    assert result.status == Status.FAIL, result.detail
    assert f"{victim} ({holds})" in result.detail


def test_objects_with_a_sha256_checksum_are_proven_without_moving_their_bytes(sandbox, seaweed, bucket,
                                                                             restic_template):
    restic_layout(sandbox, seaweed, bucket, restic_template, [FRESH_TAG])
    client = seaweed.client()
    reupload_with_sha256(client, bucket)
    result = packs_result(sandbox)
    assert result.status == Status.PASS, result.detail
    assert result.measured["verified_by_checksum"] == result.measured["files"]
    assert result.measured["bytes_read"] == 0
    assert result.measured["pack_coverage_ratio"] == 1.0

    pack = max((p for p in repository_keys(client, bucket) if p.startswith("data/")),
               key=lambda p: repository_keys(client, bucket)[p])
    flip_object(client, bucket, pack, ChecksumAlgorithm="SHA256")  # S3's checksum is of the damaged bytes
    damaged = packs_result(sandbox)
    assert damaged.status == Status.FAIL, damaged.detail
    assert f"{pack} (a pack)" in damaged.detail


def test_what_the_sample_budget_left_unread_is_an_error_and_not_coverage(sandbox, seaweed, bucket, restic_template):
    restic_layout(sandbox, seaweed, bucket, restic_template, [FRESH_TAG])
    sandbox.targets["offsite"]["sample_bytes"] = "1KiB"
    result = packs_result(sandbox)
    sizes = repository_keys(seaweed.client(), bucket)

    assert result.status == Status.ERROR, result.detail
    assert result.measured["not_verified"] > 0 and "sample budget" in result.detail
    read = result.measured["files_read"]
    assert read == result.measured["files_covered"] == result.measured["files"] - result.measured["not_verified"]
    assert result.measured["bytes_covered"] == result.measured["bytes_read"] <= 1024 + max(sizes.values())
    assert result.measured["pack_coverage_bytes_ratio"] < 1.0
