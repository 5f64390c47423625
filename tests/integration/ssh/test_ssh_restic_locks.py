"""A stale restic lock on a repository reached over SFTP (the test sshd): the agent and its restic
are SIGKILLed together while `restic check` holds its lock (the SFTP server hangs reading a FIFO
index, see tests/support/restic_locks.py); the next night removes that lock over SFTP, records it, and passes.
The same on a local repository, and what must never be removed: tests/integration/test_restic_locks.py."""

from __future__ import annotations

import pytest

from agent.models import Status
from tests.support.restic_locks import (
    HungIndex,
    descendants,
    ended,
    kill_all,
    lock_names,
    restic_holding_lock,
    start_agent,
)
from tests.support.sandbox import Sandbox, check_result, copy_result, statuses

pytestmark = pytest.mark.integration

DATASET = "platform-db"


def test_a_stale_lock_over_sftp_is_removed_next_night_and_recorded(sandbox, sshd, restic_template, make_repo,
                                                                   tmp_path):
    repo = make_repo("restic", sandbox.root / "nas")
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.targets["nas"] = {"kind": "ssh", "medium": "nas", "location": "office", **sshd.options()}
    sandbox.dataset(DATASET, Sandbox.files_copy("droplet", restic_template.data, stamp=None),
                    [sandbox.restic_copy("nas", repo)], policy={"copies": 2, "media": 2, "offsite": 1})
    sandbox.config()
    hung = HungIndex(repo)
    agent = start_agent(sandbox.root / "targets.yaml", tmp_path / "agent.out")
    unit = []
    try:
        children = restic_holding_lock(agent, lambda: lock_names(repo / "locks"))
        unit = [*children, *descendants(agent), agent]
        (stale,) = lock_names(repo / "locks")
        kill_all(*unit)
        agent.wait(timeout=30)
        assert all(ended(process) for process in children)
    finally:
        kill_all(*unit, agent)
        agent.wait(timeout=30)
        hung.heal()
    assert lock_names(repo / "locks") == [stale]

    copy = copy_result(sandbox.verify(), DATASET, "nas")

    assert copy.status == Status.PASS, statuses(copy)
    structure = check_result(copy, "restic-structure")
    assert [lock["id"] for lock in structure.measured["stale_locks_removed"]] == [stale[:8]]
    assert "removed 1 stale restic lock(s)" in structure.detail
    assert list((repo / "locks").iterdir()) == []
