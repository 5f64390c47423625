"""Stale restic locks, with the real restic 0.14 and the real CLI on a local repository.

`restic check` takes an exclusive lock in the repository's locks/ and removes it when it exits —
also on SIGINT, not when it is killed. The agent must (1) never leave its restic running once it is
gone itself, (2) stop restic with SIGINT whenever it stops one (timeout, SIGTERM), so the lock goes
with it, (3) remove, before the next check, a lock its own restic left when both were SIGKILLed
(systemd's final kill, the OOM killer), recording that it did — and (4) never remove a live lock,
another host's lock, or a lock of a dead process it did not start: those keep the check `error`,
naming host, PID and time. SFTP and S3: tests/integration/ssh/test_ssh_restic_locks.py and
tests/integration/s3/test_s3_restic_locks.py.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
from pathlib import Path

import psutil
import pytest

from agent.models import Status
from agent.restic.locks import LEDGER_NAME, ChildLedger
from tests.support.restic import DATASET, ResticTemplate, restic_layout
from tests.support.restic_locks import (
    HungIndex,
    blocked_on_fifo,
    check_json,
    ended,
    kill_all,
    lock_names,
    recorded_measured,
    restic_holding_lock,
    run_agent,
    start_agent,
    wait_until,
)
from tests.support.sandbox import Sandbox, check_result, copy_result, statuses

pytestmark = pytest.mark.integration

LOCKED_CHECKS = ("restic-structure", "restic-read-data")


def locks(repo: Path) -> list[str]:
    """The lock files in a local repository, by ID (restic writes each as a temporary file first)."""
    return lock_names(repo / "locks")


@pytest.fixture
def hung_repo(make_repo):
    """A private repository whose index read hangs once restic holds its lock; healed afterwards."""
    repo = make_repo()
    hung = HungIndex(repo)
    yield repo, hung
    hung.heal()


@pytest.fixture
def agents():
    """Every agent subprocess a test starts, and the restic processes seen under it: none may
    outlive the test whatever the test asserted (SIGKILL, by PID)."""
    started: list = []
    yield started
    kill_all(*started)
    for process in started:
        if isinstance(process, subprocess.Popen):
            process.wait(timeout=30)


def test_restic_dies_with_a_sigkilled_agent_and_takes_its_lock_with_it(sandbox, restic_template, hung_repo, agents,
                                                                       tmp_path):
    repo, hung = hung_repo
    restic_layout(sandbox, restic_template, repo)
    sandbox.config()
    agent = start_agent(sandbox.root / "targets.yaml", tmp_path / "agent.out")
    agents.append(agent)
    children = restic_holding_lock(agent, lambda: locks(repo))
    agents.extend(children)
    wait_until(lambda: blocked_on_fifo(children), "restic hung reading the index", agent)

    agent.kill()
    agent.wait(timeout=30)

    survivors = [child.pid for child in children if not ended(child)]
    assert survivors == [], "restic outlived the SIGKILLed agent (it would hold its lock for ever)"
    assert locks(repo) == [], "asked with SIGINT, restic removes its own lock"
    hung.heal()
    night = sandbox.verify()
    copy = copy_result(night, DATASET, "nas")
    assert copy.status == Status.PASS, statuses(copy)
    assert all("stale_locks_removed" not in c.measured for c in copy.checks)


def test_a_lock_left_by_the_killed_agent_and_its_restic_is_removed_next_night_and_recorded(
        sandbox, restic_template, hung_repo, agents, tmp_path):
    repo, hung = hung_repo
    restic_layout(sandbox, restic_template, repo)
    sandbox.config()
    agent = start_agent(sandbox.root / "targets.yaml", tmp_path / "agent.out")
    agents.append(agent)
    children = restic_holding_lock(agent, lambda: locks(repo))
    agents.extend(children)
    wait_until(lambda: blocked_on_fifo(children), "restic hung reading the index", agent)
    (stale,) = locks(repo)

    kill_all(*children, agent)  # the whole unit at once: nobody is left to clean up
    agent.wait(timeout=30)
    assert all(ended(child) for child in children)
    assert locks(repo) == [stale], "a SIGKILLed restic leaves its lock"
    hung.heal()

    code, document, stderr = run_agent(sandbox.root / "targets.yaml")

    assert code == 0, (document, stderr)
    structure = check_json(document, "nas", "restic-structure")
    assert structure["status"] == "pass", structure
    (removed,) = structure["stale_locks_removed"]
    assert removed["id"] == stale[:8] and removed["pid"] == children[0].pid
    assert removed["host"] == socket.gethostname() and removed["exclusive"] is True
    assert f"removed 1 stale restic lock(s) left by this agent's restic, which is gone ({socket.gethostname()} " \
           f"pid {children[0].pid} since" in structure["detail"]
    assert check_json(document, "nas", "restic-read-data")["status"] == "pass"
    assert locks(repo) == []
    # The audit knows: the QEF-19-05 record of that check carries the removal.
    (measured,) = recorded_measured(sandbox.root / "state", "nas", "restic-structure")
    assert measured["stale_locks_removed"] == [removed]
    # And a third night has nothing left to remove.
    code, document, _ = run_agent(sandbox.root / "targets.yaml")
    assert code == 0 and "stale_locks_removed" not in check_json(document, "nas", "restic-structure")


def test_a_command_timeout_stops_restic_with_its_lock_removed(sandbox, restic_template, hung_repo):
    repo, _ = hung_repo
    sandbox.agent["command_timeout"] = "6s"
    restic_layout(sandbox, restic_template, repo)

    copy = copy_result(sandbox.verify(), DATASET, "nas")

    for name in LOCKED_CHECKS:
        check = check_result(copy, name)
        assert check.status == Status.ERROR and "timed out after 6s" in check.detail, statuses(copy)
    assert locks(repo) == [], "a timed-out restic check must not leave its lock"
    assert [p.pid for p in psutil.process_iter(["cmdline"]) if str(repo) in (p.info["cmdline"] or [])] == []


def test_sigterm_stops_restic_with_its_lock_removed(sandbox, restic_template, hung_repo, agents, tmp_path):
    """systemd stops the unit with SIGTERM (KillMode=mixed: to the agent alone)."""
    repo, _ = hung_repo
    restic_layout(sandbox, restic_template, repo)
    sandbox.config()
    agent = start_agent(sandbox.root / "targets.yaml", tmp_path / "agent.out")
    agents.append(agent)
    children = restic_holding_lock(agent, lambda: locks(repo))
    agents.extend(children)
    wait_until(lambda: blocked_on_fifo(children), "restic hung reading the index", agent)

    agent.send_signal(signal.SIGTERM)
    agent.wait(timeout=120)

    assert all(ended(child, timeout=1) for child in children)
    assert locks(repo) == [], "a restic stopped on SIGTERM must not leave its lock"


def concurrent_backup(repo: Path, template: ResticTemplate, hostname: str | None = None,
                      claimed_by: Sandbox | None = None) -> subprocess.Popen:
    """A real `restic backup` of stdin (as a database dump job runs it) holding its lock until its
    stdin closes; under `hostname` in a UTS namespace of its own when given (another host). With
    `claimed_by`, its PID goes into that sandbox's agent ledger as it starts, as the agent's own
    restic would: then only liveness or the hostname may protect its lock."""
    argv = ["restic", "--repo", str(repo), "backup", "--stdin", "--stdin-filename", "dump.sql"]
    if hostname:
        if shutil.which("unshare") is None:
            pytest.skip("unshare (util-linux) is not installed")
        check = subprocess.run(["unshare", "--uts", "true"], capture_output=True, text=True)
        if check.returncode != 0:
            pytest.skip(f"no UTS namespace here: {check.stderr.strip()}")
        # exec all the way: the PID the test knows is the restic process writing the lock.
        argv = ["unshare", "--uts", "sh", "-c", f'echo {hostname} > /proc/sys/kernel/hostname && exec "$@"', "sh",
                *argv]
    before = set(locks(repo)) if (repo / "locks").exists() else set()
    backup = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=template.env())
    if claimed_by is not None:
        (claimed_by.root / "state").mkdir(parents=True, exist_ok=True)
        ChildLedger(claimed_by.root / "state" / LEDGER_NAME).watch(str(repo)).started(backup.pid)
    backup.stdin.write(b"-- a dump still being written\n")
    backup.stdin.flush()
    wait_until(lambda: (repo / "locks").exists() and set(locks(repo)) - before, "the backup took its lock", backup)
    (lock_id,) = set(locks(repo)) - before
    # A lock restic itself reads (one it could not would block nobody, and prove nothing here).
    read = subprocess.run(["restic", "--repo", str(repo), "--no-lock", "cat", "lock", lock_id], capture_output=True,
                          env=template.env(), timeout=60)
    assert read.returncode == 0, read.stderr
    return backup


def test_a_live_lock_is_never_removed_and_the_check_names_its_holder(sandbox, restic_template, make_repo):
    repo = make_repo()
    backup = concurrent_backup(repo, restic_template, claimed_by=sandbox)  # even a PID the agent believes its own
    try:
        held = locks(repo)
        restic_layout(sandbox, restic_template, repo)
        copy = copy_result(sandbox.verify(), DATASET, "nas")
        assert locks(repo) == held, "a live lock was removed"
        backup.stdin.close()
        assert backup.wait(timeout=60) == 0, "the backup that held the lock must finish normally"
    finally:
        backup.kill()
        backup.wait()
    for name in LOCKED_CHECKS:
        check = check_result(copy, name)
        assert check.status == Status.ERROR, statuses(copy)
        assert f"repository locked by {socket.gethostname()} pid {backup.pid} since " in check.detail
        assert "(its process is still running)" in check.detail
        assert "stale_locks_removed" not in check.measured
    assert copy.status == Status.ERROR


@pytest.mark.parametrize("hostname, claimed, why", [
    ("nas-backup-host", True, "written on another host: left alone"),
    (None, False, "its process is gone, but this agent did not start it: left alone"),
], ids=["another-host", "not-this-agents"])
def test_a_dead_lock_that_is_not_this_agents_is_never_removed(sandbox, restic_template, make_repo,
                                                              hostname, claimed, why):
    """A killed backup's lock: on another host (its PID means nothing here, and restic 0.14's
    `unlock` would remove it after 30 minutes), or on this host by a process the agent never
    started. Either way it stays, and the check is an error saying whose it is."""
    repo = make_repo()
    backup = concurrent_backup(repo, restic_template, hostname, claimed_by=sandbox if claimed else None)
    held = locks(repo)
    backup.kill()
    backup.wait()
    assert locks(repo) == held
    restic_layout(sandbox, restic_template, repo)

    copy = copy_result(sandbox.verify(), DATASET, "nas")

    assert locks(repo) == held, "a lock that is not this agent's was removed"
    structure = check_result(copy, "restic-structure")
    assert structure.status == Status.ERROR, statuses(copy)
    host = hostname or socket.gethostname()
    assert structure.detail.startswith(f"repository locked by {host} pid {backup.pid} since "), structure.detail
    assert why in structure.detail
    assert copy.status == Status.ERROR


def test_this_agents_stale_lock_goes_even_when_a_live_lock_keeps_the_check_an_error(sandbox, restic_template,
                                                                                    make_repo):
    """Two locks: one left by a restic of this agent that is gone (a killed process the ledger
    lists), one held by a running backup. The first is removed and recorded; the second stays, and
    the check is an error naming it — never a pass."""
    repo = make_repo()
    killed = concurrent_backup(repo, restic_template, claimed_by=sandbox)
    (stale,) = locks(repo)
    killed.kill()
    killed.wait()
    live = concurrent_backup(repo, restic_template)
    try:
        (held,) = set(locks(repo)) - {stale}
        restic_layout(sandbox, restic_template, repo)
        copy = copy_result(sandbox.verify(), DATASET, "nas")
        assert locks(repo) == [held]
    finally:
        live.kill()
        live.wait()
    structure = check_result(copy, "restic-structure")
    assert structure.status == Status.ERROR, statuses(copy)
    assert f"repository locked by {socket.gethostname()} pid {live.pid} since " in structure.detail
    assert "(its process is still running)" in structure.detail
    assert f"removed 1 stale restic lock(s) left by this agent's restic, which is gone ({socket.gethostname()} " \
           f"pid {killed.pid} since" in structure.detail
    assert [lock["id"] for lock in structure.measured["stale_locks_removed"]] == [stale[:8]]
    assert check_result(copy, "restic-read-data").status == Status.ERROR
    assert copy.status == Status.ERROR
