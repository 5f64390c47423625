"""A stale restic lock on an S3 repository: the agent and its restic are SIGKILLed together while
`restic check` holds its lock (the test's own SeaweedFS is frozen with SIGSTOP the moment the lock
object appears, so restic hangs holding it); the next night removes that object, records it, and
passes. The same on a local repository, and what must never be removed:
tests/integration/test_restic_locks.py."""

from __future__ import annotations

import signal
import time

import pytest

from agent.models import Status
from tests.support.restic_locks import descendants, ended, kill_all, restic_processes, start_agent
from tests.support.sandbox import Sandbox, check_result, copy_result, statuses
from tests.support.seaweed import new_bucket_name, upload_repository

pytestmark = pytest.mark.integration

DATASET = "platform-db"
PREFIX = "restic/lithera"


def lock_keys(client, bucket: str) -> list[str]:
    listing = client.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/locks/")
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_a_stale_lock_on_s3_is_removed_next_night_and_recorded(sandbox, doomed_seaweed, restic_template, tmp_path):
    server = doomed_seaweed
    client = server.client()
    bucket = new_bucket_name()
    client.create_bucket(Bucket=bucket)
    upload_repository(client, bucket, restic_template.repo, PREFIX)
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.targets["offsite"] = {"kind": "s3", "medium": "object-storage", "location": "cloud-hk",
                                  **server.target_options(bucket)}
    sandbox.dataset(DATASET, Sandbox.files_copy("droplet", restic_template.data, stamp=None),
                    [sandbox.restic_copy("offsite", PREFIX)], policy={"copies": 2, "media": 2, "offsite": 1})
    sandbox.config()
    agent = start_agent(sandbox.root / "targets.yaml", tmp_path / "agent.out")
    unit = []
    try:
        deadline = time.monotonic() + 60
        while not lock_keys(client, bucket):
            assert agent.poll() is None and time.monotonic() < deadline, "restic never took its lock"
            time.sleep(0.01)
        server.process.send_signal(signal.SIGSTOP)  # restic's next request hangs: it holds the lock
        children = restic_processes(agent)
        assert children, "restic was not running when its lock appeared"
        unit = [*children, *descendants(agent), agent]
        kill_all(*unit)
        agent.wait(timeout=30)
        assert all(ended(process) for process in children)
    finally:
        server.process.send_signal(signal.SIGCONT)
        kill_all(*unit, agent)
        agent.wait(timeout=30)
    (stale,) = lock_keys(client, bucket)

    copy = copy_result(sandbox.verify(), DATASET, "offsite")

    assert copy.status == Status.PASS, statuses(copy)
    structure = check_result(copy, "restic-structure")
    assert [lock["id"] for lock in structure.measured["stale_locks_removed"]] == [stale.rsplit("/", 1)[1][:8]]
    assert "removed 1 stale restic lock(s)" in structure.detail
    assert lock_keys(client, bucket) == []
