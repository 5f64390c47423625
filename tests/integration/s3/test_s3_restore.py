"""Restore tests and a drill from copies on a real S3 server (the session's SeaweedFS): a plain
object copy downloaded by S3Target.fetch, and a restic repository restored by restic itself from
its `s3:` URL, both into the agent's local scratch directory.

Healthy → pass with the throughput and projected full restore time recorded; an object of the copy
overwritten with other content, or a flipped byte in the pack holding a file's data → fail naming
that file; `backup-agent drill DATASET --from offsite` restores the S3 restic copy in full and
writes its QEF-19-03 record. Each test has its own bucket.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent.config import Target
from agent.errors import TargetUnavailable
from agent.models import Status
from agent.records import FORM_DRILL, RecordStore
from agent.restore import LISTING_SIZE_SOURCE
from agent.targets.s3 import S3Target
from tests.support.restic import FRESH_TAG, flip_bytes, pack_files
from tests.support.restore import assert_measured_pass, leftover_scratch, restore_test, tree_size
from tests.support.sandbox import Sandbox
from tests.support.seaweed import SeaweedServer, upload_repository, upload_tree
from tests.support.sshd import make_context

pytestmark = pytest.mark.integration

DATASET = "platform-db"
OBJECTS_PREFIX = "lithera/db"
RESTIC_PREFIX = "restic/lithera"
BIG = "db/blob.bin"  # the largest file: its data lives in the repository's largest pack
EDITED = "docs/2026/出货单 11月.txt"


def offsite_target(seaweed: SeaweedServer, bucket: str) -> dict:
    return {"kind": "s3", "medium": "object-storage", "location": "cloud-hk", **seaweed.target_options(bucket)}


def primary_tree(sandbox: Sandbox, source: Path) -> Path:
    """A private primary: the tree with its mtimes (copytree keeps them to the nanosecond)."""
    return Path(shutil.copytree(source, sandbox.root / "droplet" / "data"))


def layout(sandbox: Sandbox, seaweed: SeaweedServer, bucket: str, primary: Path, copy: dict) -> None:
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.targets["offsite"] = offsite_target(seaweed, bucket)
    sandbox.dataset(DATASET, Sandbox.files_copy("droplet", primary, stamp=None), [copy],
                    policy={"copies": 2, "media": 2, "offsite": 1})


def objects_copy(sandbox: Sandbox, seaweed: SeaweedServer, bucket: str, source: Path) -> Path:
    """The tree as the primary and as objects in the bucket (no S3 checksums: the copy's own hash
    would need a download; the restore test holds the restored bytes against the primary)."""
    primary = primary_tree(sandbox, source)
    upload_tree(seaweed.client(), bucket, source, OBJECTS_PREFIX, checksum_for=set())
    layout(sandbox, seaweed, bucket, primary,
           {"target": "offsite", "form": "objects", "path": OBJECTS_PREFIX, "stamp": ".last-sync"})
    return primary


def restic_copy(sandbox: Sandbox, seaweed: SeaweedServer, bucket: str, template) -> Path:
    primary = primary_tree(sandbox, template.data)
    upload_repository(seaweed.client(), bucket, template.repo, RESTIC_PREFIX)
    layout(sandbox, seaweed, bucket, primary,
           sandbox.restic_copy("offsite", RESTIC_PREFIX, snapshot_filter={"tags": [FRESH_TAG]}))
    return primary


# --- form: objects ------------------------------------------------------------------------------


def test_object_copy_restores_and_passes(sandbox, seaweed, bucket, sample_tree):
    primary = objects_copy(sandbox, seaweed, bucket, sample_tree)
    restore = restore_test(sandbox, DATASET, "offsite")
    assert_measured_pass(restore, 6, tree_size(primary))
    assert restore.measured["compared_with_primary"] == 6
    assert seaweed.secret_key not in restore.detail
    assert leftover_scratch(sandbox) == []


def test_object_overwritten_in_the_bucket_fails_naming_it(sandbox, seaweed, bucket, sample_tree):
    objects_copy(sandbox, seaweed, bucket, sample_tree)
    seaweed.client().put_object(Bucket=bucket, Key=f"{OBJECTS_PREFIX}/{EDITED}",
                                Body="出货 / shipping note, edited in the bucket\n".encode())
    restore = restore_test(sandbox, DATASET, "offsite")
    assert restore.status == Status.FAIL, restore.detail
    assert EDITED in restore.detail
    assert leftover_scratch(sandbox) == []


def test_fetch_writes_only_inside_the_destination(seaweed, bucket, tmp_path):
    """The adapter alone: a key that climbs out of the copy's prefix is refused before any byte is
    written, a vanished object is named, and an existing file is never overwritten."""
    client = seaweed.client()
    client.put_object(Bucket=bucket, Key="copy/a/one.txt", Body=b"one\n")
    client.put_object(Bucket=bucket, Key="outside.txt", Body=b"not ours\n")
    handle = S3Target(Target("offsite", "s3", "object-storage", "cloud-hk", seaweed.target_options(bucket)),
                      make_context())
    try:
        destination = tmp_path / "scratch" / "files"
        seen: list[int] = []
        assert handle.fetch("copy", ["a/one.txt"], str(destination), seen.append) == 4
        assert (destination / "a" / "one.txt").read_bytes() == b"one\n" and sum(seen) == 4
        with pytest.raises(TargetUnavailable, match="leaves the scratch directory"):
            handle.fetch("copy", ["../outside.txt"], str(destination))
        assert not (tmp_path / "scratch" / "outside.txt").exists()
        with pytest.raises(TargetUnavailable, match="gone.txt: it vanished"):
            handle.fetch("copy", ["gone.txt"], str(destination))
        with pytest.raises(TargetUnavailable, match="FileExistsError"):
            handle.fetch("copy", ["a/one.txt"], str(destination))
    finally:
        handle.close()


def test_fetch_downloads_several_objects_at_once_and_stops_them_all_on_a_failure(seaweed, bucket, tmp_path):
    """Many small objects come down concurrently (the restore test's throughput is not one request
    latency per file); one that vanished is named, and no download thread is left writing."""
    client = seaweed.client()
    names = [f"d{i % 4}/f{i:03d}.bin" for i in range(48)]
    for name in names:
        client.put_object(Bucket=bucket, Key=f"many/{name}", Body=name.encode() * 1000)
    handle = S3Target(Target("offsite", "s3", "object-storage", "cloud-hk", seaweed.target_options(bucket)),
                      make_context())
    in_flight, most = 0, 0
    lock = threading.Lock()
    real_get_object = handle.client().get_object

    def counting_get_object(**kwargs):  # the real call to the real server, counted
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        try:
            time.sleep(0.02)  # hold the request open long enough for overlap to be seen
            return real_get_object(**kwargs)
        finally:
            with lock:
                in_flight -= 1

    handle.client().get_object = counting_get_object
    try:
        destination = tmp_path / "scratch" / "files"
        total = handle.fetch("many", names, str(destination))
        assert total == sum(len(name.encode()) * 1000 for name in names)
        assert sorted(str(p.relative_to(destination)) for p in destination.rglob("*.bin")) == sorted(names)
        assert most > 1, "downloads ran one at a time"
        with pytest.raises(TargetUnavailable, match="d1/gone.bin: it vanished"):
            handle.fetch("many", names[:20] + ["d1/gone.bin"] + names[20:], str(tmp_path / "second"))
        assert not [t for t in threading.enumerate() if t.name.startswith("s3-fetch")]
    finally:
        handle.close()


# --- restic on S3 -------------------------------------------------------------------------------


def test_restic_on_s3_restores_and_passes(sandbox, seaweed, bucket, restic_template):
    primary = restic_copy(sandbox, seaweed, bucket, restic_template)
    restore = restore_test(sandbox, DATASET, "offsite")
    assert_measured_pass(restore, 6, tree_size(primary))
    assert restore.measured["full_size_source"] == LISTING_SIZE_SOURCE  # restic stats only to confirm an RTO miss
    assert restore.measured["compared_with_primary"] == 6
    assert seaweed.secret_key not in restore.detail
    assert leftover_scratch(sandbox) == []


def test_file_altered_in_the_restic_repository_on_s3_fails_naming_it(sandbox, seaweed, bucket, restic_template,
                                                                    tmp_path):
    restic_copy(sandbox, seaweed, bucket, restic_template)
    pack = pack_files(restic_template.repo)[0]  # the pack holding db/blob.bin's data
    key = f"{RESTIC_PREFIX}/{pack.relative_to(restic_template.repo).as_posix()}"
    broken = tmp_path / "pack"
    broken.write_bytes(pack.read_bytes())
    flip_bytes(broken)
    seaweed.client().put_object(Bucket=bucket, Key=key, Body=broken.read_bytes())
    restore = restore_test(sandbox, DATASET, "offsite")
    assert restore.status == Status.FAIL, restore.detail
    assert BIG in restore.detail
    assert leftover_scratch(sandbox) == []


def test_drill_from_an_offsite_restic_copy_on_s3(sandbox, seaweed, bucket, restic_template):
    restic_copy(sandbox, seaweed, bucket, restic_template)
    sandbox.config()
    env = {**os.environ, "RESTIC_CACHE_DIR": str(sandbox.root / "restic-cache"), "AWS_EC2_METADATA_DISABLED": "true"}
    done = subprocess.run([sys.executable, "-c", "from agent.cli import main; main()",
                           "--config", str(sandbox.root / "targets.yaml"), "drill", DATASET, "--from", "offsite"],
                          capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "QEF-19-03" in done.stdout and "offsite" in done.stdout
    assert seaweed.secret_key not in done.stdout + done.stderr

    with RecordStore(sandbox.root / "state" / "records.sqlite") as store:
        (row,) = list(store.rows(kind="drill"))
        assert store.verify_chain().ok
    assert row["form"] == FORM_DRILL and row["result"] == "pass" and row["target"] == "offsite"
    measured = json.loads(row["measured"])
    assert measured["files"] == 6 and measured["bytes_restored"] == tree_size(restic_template.data)
    assert 0 < measured["rto_actual_seconds"] < measured["rto_target_seconds"]
    assert 0 <= measured["rpo_actual_seconds"] < 3600
    assert measured["errors"] == []
    assert seaweed.secret_key not in row["measured"]
    assert leftover_scratch(sandbox) == []
