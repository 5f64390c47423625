"""agent.restic.locks without restic: reading a lock, judging who holds it, the message a lock that
stays gives, and the ledger of the agent's own restic processes (a file in tmp_path).

The real thing — restic writing and leaving locks, the agent SIGKILLed, another host's lock — is in
tests/integration/test_restic_locks.py."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime

import pytest

from agent.restic.locks import (
    LEDGER_KEEP_SECONDS,
    ChildLedger,
    Holder,
    ResticLock,
    judge,
    locked_message,
    parse_lock,
    process_running,
    removal_note,
)

LOCK_ID = "4bbb768f7313724e67f93cfe3827782c7eb866c9d98ec8ae4e3afdf036ce3e60"
WHEN = datetime(2026, 11, 29, 18, 27, 30, tzinfo=UTC)
REPO = "sftp:backup@nas.office.lan:/volume1/restic/lithera"


def lock(pid: int = 2473, hostname: str = "vm", when: datetime = WHEN) -> ResticLock:
    return ResticLock(LOCK_ID, hostname, pid, when, "root", True)


# --- reading ---------------------------------------------------------------------------------------


def test_parse_lock_reads_restic_014_cat_lock_output():
    # As `restic cat lock ID` prints it (uid/gid are omitted for root: omitempty).
    text = '{\n  "time": "2026-11-29T18:27:30.683168207Z",\n  "exclusive": true,\n  "hostname": "vm",\n' \
           '  "username": "root",\n  "pid": 1567\n}\n'
    parsed = parse_lock(LOCK_ID, text)
    assert parsed == ResticLock(LOCK_ID, "vm", 1567, datetime(2026, 11, 29, 18, 27, 30, 683168, tzinfo=UTC),
                                "root", True)
    assert parsed.describe() == "vm pid 1567 since 2026-11-29T18:27:30.683168Z"
    assert parsed.summary() == {"id": "4bbb768f", "host": "vm", "pid": 1567, "since": "2026-11-29T18:27:30.683168Z",
                                "user": "root", "exclusive": True}


@pytest.mark.parametrize("lock_id, text", [
    ("../../config", '{"time": "2026-11-29T18:27:30Z", "pid": 1}'),        # not an ID: never a path
    (LOCK_ID.upper(), '{"time": "2026-11-29T18:27:30Z", "pid": 1}'),
    (LOCK_ID, '{"time": "2026-11-29T18:27:30Z"}'),                          # no pid
    (LOCK_ID, '{"time": "2026-11-29T18:27:30Z", "pid": "12"}'),             # pid not a number
    (LOCK_ID, '{"pid": 12}'),                                               # no time
    (LOCK_ID, '[1, 2]'),
    (LOCK_ID, 'not json'),
])
def test_parse_lock_refuses_what_is_not_a_lock(lock_id, text):
    with pytest.raises(ValueError):
        parse_lock(lock_id, text)


# --- judging ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("hostname, running, ours, holder", [
    ("vm", False, True, Holder.GONE_OURS),          # the only lock the agent removes
    ("vm", True, True, Holder.RUNNING),             # alive: never removed, even if the agent started it
    ("vm", True, False, Holder.RUNNING),
    ("vm", False, False, Holder.GONE_NOT_OURS),     # a dead backup job's: the operator's call
    ("nas", False, True, Holder.OTHER_HOST),        # another host's PIDs mean nothing here
    ("nas", True, False, Holder.OTHER_HOST),
])
def test_judge(hostname, running, ours, holder):
    assert judge(lock(hostname=hostname), hostname="vm", ours=lambda _: ours,
                 running=lambda pid, since: running) is holder


def test_process_running_for_this_process_the_dead_and_a_reused_pid():
    assert process_running(os.getpid(), datetime.now(UTC))
    # This process started before now, so it cannot have written a lock an hour before it began.
    started = datetime.fromtimestamp(time.time() - 10 * 86400, UTC)
    assert not process_running(os.getpid(), started)
    assert not process_running(2 ** 22 + 1, WHEN)  # above Linux's pid_max: no such process
    assert process_running(0, WHEN) and process_running(-1, WHEN)  # never kill(0)/kill(-1): not removable


# --- messages --------------------------------------------------------------------------------------


RESTIC_SAYS = """\
unable to create lock in backend: repository is already locked exclusively by PID 2473 on vm by root (UID 0, GID 0)
lock was created at 2026-11-29 18:27:45 (1.492545432s ago)
storage ID 9320e09c
the `unlock` command can be used to remove stale locks
"""


@pytest.mark.parametrize("judged, stderr, message", [
    ([(lock(), Holder.RUNNING)], RESTIC_SAYS,
     "repository locked by vm pid 2473 since 2026-11-29T18:27:30Z (its process is still running)"),
    ([(lock(hostname="nas"), Holder.OTHER_HOST), (lock(pid=9), Holder.GONE_NOT_OURS)], "",
     "repository locked by nas pid 2473 since 2026-11-29T18:27:30Z (written on another host: left alone); "
     "by vm pid 9 since 2026-11-29T18:27:30Z (its process is gone, but this agent did not start it: left alone "
     "(`restic unlock` removes it once nothing runs restic there))"),
    ([], RESTIC_SAYS, "repository locked by vm pid 2473 since 2026-11-29 18:27:45"),
    ([], RESTIC_SAYS.replace("exclusively ", ""), "repository locked by vm pid 2473 since 2026-11-29 18:27:45"),
    ([], "Fatal: unable to create lock in backend: something new\n",
     "repository locked: Fatal: unable to create lock in backend: something new"),
    ([], "", "repository locked: restic gave no detail"),
])
def test_locked_message(judged, stderr, message):
    assert locked_message(judged, stderr) == message


def test_removal_note():
    assert removal_note([lock(), lock(pid=9)]) == (
        "removed 2 stale restic lock(s) left by this agent's restic, which is gone "
        "(vm pid 2473 since 2026-11-29T18:27:30Z; vm pid 9 since 2026-11-29T18:27:30Z)")


# --- the ledger ------------------------------------------------------------------------------------


def test_ledger_owns_a_lock_of_a_process_it_started_until_that_process_ended_cleanly(tmp_path):
    ledger = ChildLedger(tmp_path / "children.jsonl")
    watch = ledger.watch(REPO)
    token = watch.started(2473)
    written = datetime.now(UTC)
    assert ledger.owns(REPO, lock(pid=2473, when=written))
    assert not ledger.owns(REPO, lock(pid=2474, when=written))            # another PID
    assert not ledger.owns("/mnt/backup-ssd/restic", lock(pid=2473, when=written))  # another repository
    assert not ledger.owns(REPO, lock(pid=2473, when=datetime(2020, 1, 1, tzinfo=UTC)))  # before it started
    # Killed by a signal: its lock may be left, so the entry stays — and survives a new run.
    watch.ended(token, -9, "")
    assert ChildLedger(tmp_path / "children.jsonl").owns(REPO, lock(pid=2473, when=written))
    # An exit of its own, success or failure, took the lock with it: forgotten.
    for pid, code in ((2475, 0), (2476, 1)):
        watch.ended(watch.started(pid), code, "Fatal: repository contains errors\n")
        assert not ChildLedger(tmp_path / "children.jsonl").owns(REPO, lock(pid=pid, when=datetime.now(UTC)))
    # Stopped by SIGINT (exit 130), it may have been inside lock creation, where restic 0.14 leaves
    # the new lock behind; and a cleanup restic says failed left it too: both kept.
    for pid, code, stderr in ((2477, 130, "signal interrupt received, cleaning up\n"),
                              (2478, 1, "error in cleanup handler: connection reset\n")):
        watch.ended(watch.started(pid), code, stderr)
        assert ChildLedger(tmp_path / "children.jsonl").owns(REPO, lock(pid=pid, when=datetime.now(UTC)))


def test_ledger_forgets_a_removed_lock_and_compacts_when_opened(tmp_path):
    path = tmp_path / "children.jsonl"
    ledger = ChildLedger(path)
    for pid in (10, 11, 12):
        ledger.watch(REPO).started(pid)
    ledger.forget(REPO, 11)
    assert len(path.read_text().splitlines()) == 4  # three starts, one end: appended, never rewritten in a run
    reopened = ChildLedger(path)
    now = datetime.now(UTC)
    assert [pid for pid in (10, 11, 12) if reopened.owns(REPO, lock(pid=pid, when=now))] == [10, 12]
    assert sorted(json.loads(line)["start"]["pid"] for line in path.read_text().splitlines()) == [10, 12]


def test_ledger_survives_a_torn_line_old_entries_and_an_unwritable_file(tmp_path, caplog):
    path = tmp_path / "children.jsonl"
    old = time.time() - LEDGER_KEEP_SECONDS - 60
    path.write_text(json.dumps({"start": {"pid": 5, "at": old, "repository": REPO}}) + "\n"
                    + json.dumps({"start": {"pid": 6, "at": time.time() - 60, "repository": REPO}}) + "\n"
                    + '{"start": {"pid": 7, "at"')  # the agent was killed mid-write
    ledger = ChildLedger(path)
    now = datetime.now(UTC)
    assert [pid for pid in (5, 6, 7) if ledger.owns(REPO, lock(pid=pid, when=now))] == [6]
    # A state directory that cannot be written (full, read-only): the command still runs, with a warning.
    path.unlink()
    path.mkdir()
    ChildLedger(path).watch(REPO).started(8)
    assert "restic unlock" in caplog.text
