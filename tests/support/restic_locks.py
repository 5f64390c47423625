"""Helpers for the restic lock tests (local, SFTP, S3): a repository whose storage hangs right after
restic took its lock, the real `backup-agent verify` as a subprocess to kill, and the restic
processes it started.

Why a FIFO: `restic check` takes its exclusive lock and then reads the index. With one index file
replaced by a named pipe, that read blocks (as on a dead NFS mount or a stalled disk), so the test
can kill the agent while restic holds its lock — deterministically, on any machine speed. The SFTP
server blocks the same way reading it; the S3 test stops its server (SIGSTOP) instead."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil

from tests.support.cli import CLI

LOCK_ID = re.compile(r"^[0-9a-f]{64}$")


def lock_names(directory: Path) -> list[str]:
    """The restic lock IDs in a locks/ directory; restic writes a lock under a temporary name and
    renames it when complete, so only a finished lock counts."""
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir() if LOCK_ID.match(p.name))


class HungIndex:
    """One index file of a local repository turned into a FIFO until heal() puts it back."""

    def __init__(self, repo: Path):
        self.index = sorted((repo / "index").iterdir())[0]
        self.content = self.index.read_bytes()
        self.mode = self.index.stat().st_mode & 0o7777
        self.index.unlink()
        os.mkfifo(self.index)

    def heal(self) -> None:
        """Release any reader still blocked on the FIFO, then restore the real index file."""
        if not self.index.is_fifo():
            return
        try:
            os.close(os.open(self.index, os.O_WRONLY | os.O_NONBLOCK))  # the reader sees EOF
        except OSError:
            pass  # ENXIO: nobody reading
        self.index.unlink()
        self.index.write_bytes(self.content)
        self.index.chmod(self.mode)


def start_agent(config: Path, output: Path) -> subprocess.Popen:
    """`backup-agent --config CONFIG verify --json` as the timer would run it (no pinned clock)."""
    env = {k: v for k, v in os.environ.items() if k not in ("BACKUP_AGENT_CONFIG", "BACKUP_AGENT_NOW")}
    with open(output, "wb") as sink:
        return subprocess.Popen([CLI, "--config", str(config), "verify", "--json"], stdout=sink,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)


def run_agent(config: Path, timeout: float = 300) -> tuple[int, dict[str, Any], str]:
    """Run one whole night with the CLI; return its exit code, its --json document and stderr."""
    env = {k: v for k, v in os.environ.items() if k not in ("BACKUP_AGENT_CONFIG", "BACKUP_AGENT_NOW")}
    done = subprocess.run([CLI, "--config", str(config), "verify", "--json"], capture_output=True, text=True,
                          env=env, timeout=timeout)
    document = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    return done.returncode, document, done.stderr


def descendants(agent: subprocess.Popen) -> list[psutil.Process]:
    """Every process under the agent (restic, and restic's ssh for SFTP), while it is alive."""
    try:
        return psutil.Process(agent.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def restic_processes(agent: subprocess.Popen) -> list[psutil.Process]:
    """The restic processes the agent started, while it is alive."""
    found = []
    for child in descendants(agent):
        try:
            if child.name() == "restic":
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def wait_until(condition, what: str, agent: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if agent is not None and agent.poll() is not None:
            raise AssertionError(f"the agent ended (exit {agent.returncode}) before {what}")
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def restic_holding_lock(agent: subprocess.Popen, has_lock) -> list[psutil.Process]:
    """Wait until the agent's restic holds its lock (`has_lock()` sees it); return those processes."""
    wait_until(lambda: has_lock() and restic_processes(agent), "its restic held a lock", agent)
    return restic_processes(agent)


def blocked_on_fifo(processes: list[psutil.Process]) -> bool:
    """Whether one of these restic processes waits in open() on the hung index (kernel wchan
    wait_for_partner): past its lock creation, whose last 200 ms restic 0.14 cannot clean up."""
    for process in processes:
        for task in Path(f"/proc/{process.pid}/task").glob("*"):
            try:
                if (task / "wchan").read_text().strip() == "wait_for_partner":
                    return True
            except OSError:
                continue
    return False


def ended(process: psutil.Process, timeout: float = 15) -> bool:
    """Whether the process ends within timeout (a zombie nobody reaps has ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def kill_all(*processes: psutil.Process | subprocess.Popen) -> None:
    """SIGKILL every process given at once, as systemd's final kill or the OOM killer hits a unit's
    whole cgroup (restic first, so it cannot be told to clean up by its dying agent)."""
    for process in processes:
        try:
            process.send_signal(signal.SIGKILL)
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass


def check_json(document: dict[str, Any], target: str, name: str) -> dict[str, Any]:
    """One check of one copy from a `verify --json` document."""
    for dataset in document["datasets"]:
        for copy in dataset["copies"]:
            if copy["target"] == target:
                for check in copy["checks"]:
                    if check["name"] == name:
                        return check
    raise AssertionError(f"no check {name} on {target} in {json.dumps(document)[:2000]}")


def recorded_measured(state_dir: Path, target: str, check: str) -> list[dict[str, Any]]:
    """The measured values of every QEF-19-05 record of one check on one target, oldest first."""
    with sqlite3.connect(f"file:{state_dir / 'records.sqlite'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT measured FROM records WHERE target = ? AND check_name = ? ORDER BY record_no",
                          (target, check)).fetchall()
    return [json.loads(row[0] or "{}") for row in rows]
