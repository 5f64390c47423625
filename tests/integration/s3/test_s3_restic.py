"""restic repositories on S3 (`s3:` URL, credentials only in restic's environment) through the real
checks, with the real restic against a real SeaweedFS: healthy → pass; a corrupted pack → fail;
a stale snapshot → fail; the S3 secret never reaches the logs or the output.

The repository is the session's template (made once by restic itself), uploaded into a fresh
bucket per test: restic's S3 layout is its local layout."""

from __future__ import annotations

import json
import logging

import pytest

from agent.models import Status
from agent.output import run_document
from tests.support.restic import FRESH_TAG, STALE_TAG, flip_bytes, pack_files
from tests.support.sandbox import Sandbox, check_result, copy_result, statuses
from tests.support.seaweed import upload_repository

pytestmark = pytest.mark.integration

DATASET = "platform-db"
PREFIX = "restic/lithera"


def restic_layout(sandbox: Sandbox, seaweed, bucket: str, template, tags: list[str]) -> None:
    """The template's data as a local primary and the uploaded repository as the offsite copy;
    read_data_cycle = schedule_interval, so every run reads every pack."""
    sandbox.agent["read_data_cycle"] = "1d"
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.targets["offsite"] = {"kind": "s3", "medium": "object-storage", "location": "cloud-hk",
                                  **seaweed.target_options(bucket)}
    sandbox.dataset(DATASET, Sandbox.files_copy("droplet", template.data, stamp=None),
                    [sandbox.restic_copy("offsite", PREFIX, snapshot_filter={"tags": tags})],
                    policy={"copies": 2, "media": 2, "offsite": 1})
    upload_repository(seaweed.client(), bucket, template.repo, PREFIX)


RESTIC_CHECKS = ("reachable", "freshness", "restic-structure", "restic-read-data")


def test_healthy_repository_on_s3_passes_and_keeps_the_secret_out_of_logs(
        sandbox, seaweed, bucket, restic_template, caplog):
    restic_layout(sandbox, seaweed, bucket, restic_template, [FRESH_TAG])
    with caplog.at_level(logging.DEBUG):
        run = sandbox.verify()
    copy = copy_result(run, DATASET, "offsite")
    for name in RESTIC_CHECKS:
        assert check_result(copy, name).status == Status.PASS, statuses(copy)
    assert copy.status == Status.PASS, statuses(copy)
    assert f"s3:{seaweed.endpoint}/{bucket}/{PREFIX}" in caplog.text  # restic really ran against S3
    assert seaweed.secret_key not in caplog.text
    assert seaweed.secret_key not in json.dumps(run_document(run), ensure_ascii=False)


def test_corrupted_pack_on_s3_fails_read_data(sandbox, seaweed, bucket, restic_template, tmp_path):
    restic_layout(sandbox, seaweed, bucket, restic_template, [FRESH_TAG])
    client = seaweed.client()
    pack = pack_files(restic_template.repo)[0]  # the largest: file data, only --read-data sees it
    key = f"{PREFIX}/{pack.relative_to(restic_template.repo).as_posix()}"
    broken = tmp_path / "pack"
    broken.write_bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    flip_bytes(broken)
    client.put_object(Bucket=bucket, Key=key, Body=broken.read_bytes())
    copy = copy_result(sandbox.verify(), DATASET, "offsite")
    read_data = check_result(copy, "restic-read-data")
    assert read_data.status == Status.FAIL, read_data.detail
    assert copy.status == Status.FAIL


def test_stale_snapshot_on_s3_fails_freshness(sandbox, seaweed, bucket, restic_template):
    restic_layout(sandbox, seaweed, bucket, restic_template, [STALE_TAG])
    copy = copy_result(sandbox.verify(), DATASET, "offsite")
    freshness = check_result(copy, "freshness")
    assert freshness.status == Status.FAIL and "stale" in freshness.detail, freshness.detail
    assert copy.status == Status.FAIL


def test_missing_repository_on_s3_is_an_error(sandbox, seaweed, bucket, restic_template):
    restic_layout(sandbox, seaweed, bucket, restic_template, [FRESH_TAG])
    sandbox.datasets[DATASET]["copies"][0]["path"] = "restic/nothing-here"
    copy = copy_result(sandbox.verify(), DATASET, "offsite")
    assert check_result(copy, "freshness").status == Status.ERROR, statuses(copy)
    assert copy.status == Status.ERROR
