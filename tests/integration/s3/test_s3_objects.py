"""Plain object copies (`form: objects`) on a real SeaweedFS bucket, through the real checks and
run_verification: healthy → pass; deleted object, overwritten object, stale stamp → fail; bad
credentials and a missing bucket → error; a download sample smaller than the bucket says what it
did not verify."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.models import Status
from agent.output import run_document
from tests.support.sandbox import Sandbox, check_result, copy_result, dataset_result, statuses
from tests.support.seaweed import SeaweedServer, new_bucket_name, upload_tree

pytestmark = pytest.mark.integration

DATASET = "platform-db"
PREFIX = "lithera/db"
WITH_CHECKSUM = {"db/blob.bin", "docs/readme.txt"}


def objects_layout(sandbox: Sandbox, seaweed: SeaweedServer, bucket: str, sample_tree: Path, *,
                   checksum_for: set[str] | None = None, upload: bool = True, **target_options) -> Path:
    """A primary tree on a local droplet stand-in and one object copy of it in the bucket (2-2-1
    policy, so a healthy copy makes a compliant dataset and a broken one does not)."""
    primary = sandbox.root / "droplet" / "db"
    shutil.copytree(sample_tree, primary)
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.targets["offsite"] = {"kind": "s3", "medium": "object-storage", "location": "cloud-hk",
                                  **seaweed.target_options(bucket, **target_options)}
    sandbox.dataset(DATASET, Sandbox.files_copy("droplet", primary, stamp=None),
                    [{"target": "offsite", "form": "objects", "path": PREFIX, "stamp": ".last-sync"}],
                    policy={"copies": 2, "media": 2, "offsite": 1})
    if upload:
        upload_tree(seaweed.client(), bucket, sample_tree,
                    PREFIX, checksum_for=WITH_CHECKSUM if checksum_for is None else checksum_for)
    return primary


def offsite(run):
    return copy_result(run, DATASET, "offsite")


def test_healthy_object_copy_passes(files_sandbox, seaweed, bucket, sample_tree):
    objects_layout(files_sandbox, seaweed, bucket, sample_tree)
    run = files_sandbox.verify()
    copy = offsite(run)
    assert copy.status == Status.PASS, statuses(copy)
    checksum = check_result(copy, "files-checksum")
    assert checksum.measured["verified_by_checksum"] == len(WITH_CHECKSUM)
    assert checksum.measured["verified_by_download"] == checksum.measured["files_compared"] - len(WITH_CHECKSUM)
    assert checksum.measured["files_not_verified"] == 0
    assert "by S3 SHA-256 checksum: 2" in checksum.detail
    assert "stamp .last-sync" in check_result(copy, "freshness").detail
    assert dataset_result(run, DATASET).policy.measured["compliant"] is True
    # A second run reads nothing again: unchanged objects count as verified earlier, and say so.
    again = check_result(offsite(files_sandbox.verify()), "files-checksum")
    assert again.status == Status.PASS and again.measured["bytes_read"] == 0
    assert again.measured["verified_by_earlier"] == checksum.measured["verified_by_download"]
    assert again.measured["verified_by_checksum"] == len(WITH_CHECKSUM)


def test_deleted_object_fails_naming_it(files_sandbox, seaweed, bucket, sample_tree):
    objects_layout(files_sandbox, seaweed, bucket, sample_tree)
    seaweed.client().delete_object(Bucket=bucket, Key=f"{PREFIX}/db/blob.bin")
    check = check_result(offsite(files_sandbox.verify()), "files-checksum")
    assert check.status == Status.FAIL
    assert "1 missing (db/blob.bin)" in check.detail


@pytest.mark.parametrize("with_checksum", [True, False], ids=["object-with-sha256", "object-without-checksum"])
def test_object_overwritten_with_other_content_fails(files_sandbox, seaweed, bucket, sample_tree, with_checksum):
    """Same size, other bytes. Without a checksum the object is found by the download sample: a
    first run verifies everything, then a sample far too small for the bucket still takes the
    changed object first (its ETag changed)."""
    objects_layout(files_sandbox, seaweed, bucket, sample_tree)
    assert offsite(files_sandbox.verify()).status == Status.PASS
    original = (sample_tree / "docs" / "2026" / "invoice-0007.pdf").read_bytes()
    extra = {"ChecksumAlgorithm": "SHA256"} if with_checksum else {}
    seaweed.client().put_object(Bucket=bucket, Key=f"{PREFIX}/docs/2026/invoice-0007.pdf",
                                Body=bytes(b ^ 0x55 for b in original), **extra)
    files_sandbox.targets["offsite"]["sample_bytes"] = "1KiB"
    check = check_result(offsite(files_sandbox.verify()), "files-checksum")
    assert check.status == Status.FAIL, check.detail
    assert "1 mismatched (docs/2026/invoice-0007.pdf)" in check.detail


def test_stamp_older_than_the_rpo_fails(files_sandbox, seaweed, bucket, sample_tree, monkeypatch):
    """S3 sets LastModified itself, so the stamp cannot be backdated: the agent's clock is moved
    forward instead ($BACKUP_AGENT_NOW, the product's time injection) past the 1d RPO."""
    objects_layout(files_sandbox, seaweed, bucket, sample_tree)
    later = datetime.now(UTC) + timedelta(days=2)
    monkeypatch.setenv("BACKUP_AGENT_NOW", later.isoformat())
    run = files_sandbox.verify()
    freshness = check_result(offsite(run), "freshness")
    assert freshness.status == Status.FAIL and "stale" in freshness.detail, freshness.detail
    assert offsite(run).status == Status.FAIL
    assert dataset_result(run, DATASET).policy.measured["compliant"] is False


def test_missing_stamp_object_fails(files_sandbox, seaweed, bucket, sample_tree):
    objects_layout(files_sandbox, seaweed, bucket, sample_tree)
    seaweed.client().delete_object(Bucket=bucket, Key=f"{PREFIX}/.last-sync")
    freshness = check_result(offsite(files_sandbox.verify()), "freshness")
    assert freshness.status == Status.FAIL and "stamp .last-sync is missing" in freshness.detail


def test_a_small_sample_says_what_it_did_not_verify_and_rotates(files_sandbox, seaweed, bucket, sample_tree):
    objects_layout(files_sandbox, seaweed, bucket, sample_tree, checksum_for=set(), sample_bytes="64KiB")
    first = check_result(offsite(files_sandbox.verify()), "files-checksum")
    assert first.status == Status.PASS, first.detail
    assert first.measured["files_not_verified"] > 0
    assert f"{first.measured['files_not_verified']} not verified this run" in first.detail
    assert first.measured["files_verified"] + first.measured["files_not_verified"] == first.measured["files_compared"]
    assert first.measured["bytes_read"] <= 400_000  # one object over the budget may be read, never more
    runs = 1
    latest = first
    while latest.measured["files_not_verified"] and runs < 6:
        latest = check_result(offsite(files_sandbox.verify()), "files-checksum")
        runs += 1
    assert latest.measured["files_not_verified"] == 0, "the sample rotates through every object"
    assert latest.measured["files_verified"] == first.measured["files_compared"]


def test_bad_credentials_are_an_error_and_never_printed(files_sandbox, seaweed, bucket, sample_tree, tmp_path):
    wrong = tmp_path / "wrong.ini"
    wrong.write_text(f"[default]\naws_access_key_id = {seaweed.access_key}\naws_secret_access_key = not-the-secret-42\n")
    objects_layout(files_sandbox, seaweed, bucket, sample_tree, credentials_file=str(wrong))
    run = files_sandbox.verify()
    copy = offsite(run)
    reachable = check_result(copy, "reachable")
    assert reachable.status == Status.ERROR and "SignatureDoesNotMatch" in reachable.detail
    assert copy.status == Status.ERROR
    assert all(c.status == Status.SKIP for c in copy.checks if c.name != "reachable")
    document = json.dumps(run_document(run), ensure_ascii=False)
    assert "not-the-secret-42" not in document and seaweed.secret_key not in document


def test_missing_bucket_is_an_error(files_sandbox, seaweed, sample_tree):
    name = new_bucket_name()
    objects_layout(files_sandbox, seaweed, name, sample_tree, upload=False)
    copy = offsite(files_sandbox.verify())
    reachable = check_result(copy, "reachable")
    assert reachable.status == Status.ERROR
    assert f"bucket {name} does not exist" in reachable.detail
    assert copy.status == Status.ERROR


def test_inventory_lists_the_object_copy(files_sandbox, seaweed, bucket, sample_tree):
    from click.testing import CliRunner

    from agent.cli import cli

    objects_layout(files_sandbox, seaweed, bucket, sample_tree)
    files_sandbox.config()
    outcome = CliRunner().invoke(cli, ["--config", str(files_sandbox.root / "targets.yaml"), "inventory", "--json"])
    assert outcome.exit_code == 0, outcome.output
    entry = next(e for e in json.loads(outcome.stdout) if e["target"] == "offsite")
    local_files = [p for p in sample_tree.rglob("*") if p.is_file()]
    assert entry["reachable"] and entry["reason"] is None, entry
    assert entry["files"] == len(local_files) + 1  # and the stamp
    assert entry["size_bytes"] == sum(p.stat().st_size for p in local_files) + len(b"synced\n")
    assert entry["age_seconds"] is not None and entry["age_seconds"] < 600


@pytest.mark.parametrize("stamp", [".last-sync", None], ids=["stamp-object", "newest-object"])
def test_objects_dated_in_the_future_make_freshness_an_error_never_fresh(files_sandbox, seaweed, bucket, sample_tree,
                                                                          monkeypatch, stamp):
    """S3 sets LastModified from its own clock, so an object cannot be uploaded with a future date:
    the agent's clock is pinned two days in the past instead ($BACKUP_AGENT_NOW), which makes every
    object's LastModified (the stamp's, or the newest object's) two days ahead of it."""
    objects_layout(files_sandbox, seaweed, bucket, sample_tree)
    if stamp is None:
        del files_sandbox.datasets[DATASET]["copies"][0]["stamp"]
        seaweed.client().delete_object(Bucket=bucket, Key=f"{PREFIX}/.last-sync")
    earlier = datetime.now(UTC) - timedelta(days=2)
    monkeypatch.setenv("BACKUP_AGENT_NOW", earlier.isoformat())
    run = files_sandbox.verify()
    copy = offsite(run)
    freshness = check_result(copy, "freshness")
    assert freshness.status == Status.ERROR and "ahead of this host's clock" in freshness.detail, freshness.detail
    assert freshness.measured["age_seconds"] is None and copy.age_seconds is None
    assert copy.status != Status.PASS
    assert dataset_result(run, DATASET).policy.measured["compliant"] is False
    document = run_document(run)
    assert all(c["age_seconds"] is None or c["age_seconds"] >= 0 for d in document["datasets"] for c in d["copies"])
