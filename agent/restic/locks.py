"""restic's repository locks: who holds one, and which stale ones this agent may remove.

restic writes one file per lock under the repository's locks/ (encrypted JSON naming hostname,
PID, time, user) and removes it when it exits — also on SIGINT, not when it is killed (SIGKILL, the
OOM killer, a unit's final kill, power loss). Every later `restic check` then reads "repository
is already locked" until someone removes the file. `restic unlock` is no answer here: restic
0.14 calls stale, and removes, any lock older than 30 minutes whatever host wrote it, and it probes
a same-host lock's PID by sending that PID SIGHUP (lock_unix.go), whatever process has it now.

So the agent keeps a ledger of the restic processes it starts that take a lock (STATE_DIR/
restic-children.jsonl: PID, start time, repository), and when a command finds the repository
locked it reads every lock (`restic list locks`, `restic cat lock ID`, both --no-lock) and removes
exactly those that
  - name this host,
  - name a PID the ledger lists for this repository, started before the lock was written,
  - whose process is gone: no such PID, or the PID now belongs to a process started after the lock.
A live lock, another host's, or a dead process's the agent did not start stays, and the command is
an error naming its holder. The removal goes through the target (local file, SFTP, S3 object), is
recorded on the check (`stale_locks_removed`) and so in the QEF-19-05 records.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import psutil

from agent.clock import iso
from agent.restic.parse import parse_time

log = logging.getLogger(__name__)

LEDGER_NAME = "restic-children.jsonl"
# A ledger entry is forgotten after this long even if no lock of its process was ever seen again.
LEDGER_KEEP_SECONDS = 400 * 86400.0
# A process start time is derived from the boot time, which /proc gives in whole seconds.
START_SLACK_SECONDS = 2.0
# restic's exit code after SIGINT (cleanup handlers run, then exit 130).
RESTIC_INTERRUPTED = 130
_LOCK_ID = re.compile(r"^[0-9a-f]{64}$")
# restic 0.14's own words (alreadyLockedError), for when the locks cannot be read themselves.
_ALREADY_LOCKED = re.compile(r"already locked (?:exclusively )?by PID (\d+) on (\S+) by .*?\n"
                             r"lock was created at ([0-9-]+ [0-9:]+)")


class Holder(StrEnum):
    GONE_OURS = "left by this agent's restic, which is gone"
    RUNNING = "its process is still running"
    OTHER_HOST = "written on another host: left alone"
    GONE_NOT_OURS = ("its process is gone, but this agent did not start it: left alone "
                     "(`restic unlock` removes it once nothing runs restic there)")


@dataclass(frozen=True)
class ResticLock:
    id: str
    hostname: str
    pid: int
    time: datetime
    username: str = ""
    exclusive: bool = False

    def describe(self) -> str:
        return f"{self.hostname} pid {self.pid} since {iso(self.time)}"

    def summary(self) -> dict[str, Any]:
        """The lock as recorded on a check (no secrets in a lock: host, PID, user, time)."""
        return {"id": self.id[:8], "host": self.hostname, "pid": self.pid, "since": iso(self.time),
                "user": self.username, "exclusive": self.exclusive}


def parse_lock(lock_id: str, text: str) -> ResticLock:
    """Given a lock's ID and `restic cat lock ID` output, return the lock. Raise ValueError."""
    if not _LOCK_ID.match(lock_id):
        raise ValueError(f"not a restic lock ID: {lock_id[:80]!r}")
    item = json.loads(text)
    if not isinstance(item, dict) or not isinstance(item.get("pid"), int) or not isinstance(item.get("time"), str):
        raise ValueError(f"lock {lock_id[:8]} is not a restic lock: {text[:200]!r}")
    return ResticLock(lock_id, str(item.get("hostname", "")), item["pid"], parse_time(item["time"]),
                      str(item.get("username", "")), bool(item.get("exclusive", False)))


def process_running(pid: int, since: datetime) -> bool:
    """Whether a process that could have written a lock at `since` runs on this host as `pid`.
    When it cannot tell (another user's process hidden by ProtectProc=), the answer is yes."""
    if pid <= 0:
        return True  # not a PID a lock can name; never signal 0 or -1
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, another user's
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        started = process.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True
    # A process started after the lock was written cannot be its writer: the PID was reused.
    return started <= since.timestamp() + START_SLACK_SECONDS


def judge(lock: ResticLock, *, hostname: str, ours: Callable[[ResticLock], bool],
          running: Callable[[int, datetime], bool] = process_running) -> Holder:
    """Given one lock, say who holds it; only GONE_OURS may be removed."""
    if lock.hostname != hostname:
        return Holder.OTHER_HOST
    if running(lock.pid, lock.time):
        return Holder.RUNNING
    return Holder.GONE_OURS if ours(lock) else Holder.GONE_NOT_OURS


def locked_message(judged: list[tuple[ResticLock, Holder]], stderr: str) -> str:
    """The error for a repository that stays locked: every holder, or restic's own words when the
    locks could not be read (the lock may also have gone meanwhile)."""
    if judged:
        return "repository locked by " + "; by ".join(f"{lock.describe()} ({holder})" for lock, holder in judged)
    match = _ALREADY_LOCKED.search(stderr)
    if match:
        pid, host, since = match.groups()
        return f"repository locked by {host} pid {pid} since {since}"
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return "repository locked: " + (lines[0][:300] if lines else "restic gave no detail")


def removal_note(removed: list[ResticLock]) -> str:
    """The words a check's detail gains when a stale lock was removed before its command."""
    which = "; ".join(lock.describe() for lock in removed)
    return f"removed {len(removed)} stale restic lock(s) left by this agent's restic, which is gone ({which})"


class ChildLedger:
    """The restic processes this agent started with a lock, kept until they ended cleanly.

    JSON lines, appended as processes start and end (so a SIGKILLed agent leaves its open entries
    behind, which is the point); compacted when opened. A write that fails (full disk) only warns:
    a lock the ledger then misses is reported as not the agent's, never removed."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._open: dict[tuple[int, float], dict[str, Any]] = {}
        self._load()

    def watch(self, repository: str) -> _Watch:
        return _Watch(self, repository)

    def owns(self, repository: str, lock: ResticLock) -> bool:
        """Whether an entry for this repository started lock.pid no later than the lock's time."""
        with self._lock:
            return any(e["pid"] == lock.pid and e["repository"] == repository
                       and e["at"] <= lock.time.timestamp() + START_SLACK_SECONDS for e in self._open.values())

    def forget(self, repository: str, pid: int) -> None:
        with self._lock:
            for key, entry in list(self._open.items()):
                if entry["pid"] == pid and entry["repository"] == repository:
                    self._end(key)

    def _start(self, pid: int, repository: str) -> tuple[int, float]:
        entry = {"pid": pid, "at": time.time(), "repository": repository}
        with self._lock:
            key = (pid, entry["at"])
            self._open[key] = entry
            self._append({"start": entry})
        return key

    def _end(self, key: tuple[int, float]) -> None:
        if self._open.pop(key, None) is not None:
            self._append({"end": {"pid": key[0], "at": key[1]}})

    def _append(self, event: dict[str, Any]) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(event, ensure_ascii=False) + "\n")
        except OSError as error:
            log.warning("cannot write %s (%s): a restic lock this run leaves may need `restic unlock`",
                        self.path, error.strerror or error)

    def _load(self) -> None:
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return
        except OSError as error:
            log.warning("cannot read %s: %s", self.path, error.strerror or error)
            return
        oldest = time.time() - LEDGER_KEEP_SECONDS
        for line in lines:
            try:
                event = json.loads(line)
                if "start" in event:
                    entry = event["start"]
                    if entry["at"] >= oldest:
                        self._open[(int(entry["pid"]), float(entry["at"]))] = entry
                elif "end" in event:
                    self._open.pop((int(event["end"]["pid"]), float(event["end"]["at"])), None)
            except (ValueError, KeyError, TypeError):
                continue  # a line torn by a kill mid-write: its entry is lost, never misread
        if len(lines) > len(self._open):
            self._rewrite()

    def _rewrite(self) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.write_text("".join(json.dumps({"start": e}, ensure_ascii=False) + "\n"
                                         for e in self._open.values()), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as error:
            log.warning("cannot compact %s: %s", self.path, error.strerror or error)


class _Watch:
    """agent.execute's Watcher for one restic command on one repository."""

    def __init__(self, ledger: ChildLedger, repository: str):
        self.ledger = ledger
        self.repository = repository

    def started(self, pid: int) -> tuple[int, float]:
        return self.ledger._start(pid, self.repository)

    def ended(self, token: tuple[int, float], returncode: int, stderr: str) -> None:
        # Only a restic that ended by itself took its lock with it for sure. Killed by a signal, it
        # left the lock; stopped by SIGINT (exit 130) while creating it, it may have too (0.14 hands a
        # new lock to its cleanup only after a 200 ms recheck); a failed cleanup says so on stderr.
        if returncode >= 0 and returncode != RESTIC_INTERRUPTED and "error in cleanup handler" not in stderr:
            with self.ledger._lock:
                self.ledger._end(token)
