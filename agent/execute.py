"""The one door to external commands: every subprocess (restic, ssh helpers) goes through here.

Each command is logged before it runs with secrets masked, runs under a timeout, has its stderr
captured, and fails with a typed error from agent.errors.

A command runs in its own session (a timeout kills its whole process group) and dies with the agent
(agent/pdeathsig.py: the kernel sends it STOP_SIGNAL when the agent is gone, SIGKILL included).
Whenever the agent stops a command itself — timeout, run budget, SIGTERM — it asks first with
STOP_SIGNAL and waits STOP_GRACE_SECONDS before it kills the group: restic 0.14 removes its
repository lock on SIGINT, while SIGKILL (and SIGTERM, which 0.14 does not handle) leave the lock
behind and every later `restic check` would read "repository is already locked".
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agent.errors import CommandFailed, CommandTimeout, ToolMissing

log = logging.getLogger(__name__)

# Environment variables whose values are never logged.
SECRET_ENV_NAMES = frozenset(
    {"RESTIC_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "RESTIC_PASSWORD_COMMAND"}
)
MASK = "***"
# How the agent asks a command to stop, and how long it waits before SIGKILL.
STOP_SIGNAL = signal.SIGINT
STOP_GRACE_SECONDS = 10.0
_POLL_SECONDS = 0.05
_PDEATHSIG = str(Path(__file__).with_name("pdeathsig.py"))
# Commands running now, so a stop request (agent.interrupt) can stop them from another thread.
_RUNNING: set[subprocess.Popen] = set()
_RUNNING_CHANGED = threading.Condition()


class Watcher(Protocol):
    """Told when a command starts and how it ended (agent.restic.locks keeps restic's PIDs this way)."""

    def started(self, pid: int) -> Any: ...

    def ended(self, token: Any, returncode: int, stderr: str) -> None: ...


@dataclass(frozen=True)
class CompletedCommand:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def mask(text: str, secrets: Iterable[str]) -> str:
    """Given text and secret values, return the text with every secret replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def describe(argv: Sequence[str], env: Mapping[str, str] | None, secrets: Iterable[str]) -> str:
    """Return a loggable one-line form of a command: secrets masked, secret env values hidden."""
    secrets = list(secrets)
    shown_env = " ".join(
        f"{name}={MASK if name in SECRET_ENV_NAMES else mask(value, secrets)}" for name, value in (env or {}).items()
    )
    command = mask(shlex.join(argv), secrets)
    return f"{shown_env} {command}".strip()


def execute(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
    check: bool = True,
    cwd: str | None = None,
    unset: Iterable[str] = (),
    watcher: Watcher | None = None,
    abort_on: re.Pattern[str] | None = None,
    stdin: str | os.PathLike | None = None,
) -> CompletedCommand:
    """Given a command, run it to completion under a timeout and return its output.

    `env` is added to the agent's own environment; names in `unset` are removed from it. Raise
    ToolMissing when the executable does not exist, CommandTimeout when it runs past `timeout`
    seconds (asked to stop, then its whole process group killed), and CommandFailed on a non-zero
    exit when `check` is true. Error messages never carry secrets. `watcher` hears the PID and the end.
    When a line of stderr matches `abort_on` (a failure the tool would retry until the timeout),
    the command is stopped at once, as at a timeout, and CommandFailed is raised whatever `check` says.
    `stdin` names a file the agent opens and hands over as the command's standard input (a command
    running as another user reads it without needing the right to open it); default: nothing.
    """
    secrets = [s for s in secrets if s]
    shown = describe(argv, env, secrets)
    log.debug("run: %s", shown)
    full_env = {name: value for name, value in os.environ.items() if name not in set(unset)}
    full_env.update(env or {})
    executable = shutil.which(argv[0], path=full_env.get("PATH", os.defpath))
    if executable is None:
        raise ToolMissing(f"{argv[0]} is not installed", command=shown)
    with open(stdin, "rb") if stdin is not None else contextlib.nullcontext(subprocess.DEVNULL) as source:
        process, out, err = _spawn([executable, *argv], full_env, cwd, shown, source)
    token = watcher.started(process.pid) if watcher else None
    try:
        timed_out, aborted = _wait(process, timeout, err, abort_on)
    finally:
        stdout, stderr = _read(out), _read(err)
        if watcher and process.returncode is not None:
            watcher.ended(token, process.returncode, stderr)
    if timed_out:
        raise CommandTimeout(f"timed out after {timeout:g}s: {shown}", command=shown)
    stderr = mask(stderr, secrets)
    stdout = mask(stdout, secrets)
    result = CompletedCommand(tuple(argv), process.returncode, stdout, stderr)
    if aborted is not None:
        raise CommandFailed(f"{argv[0]} stopped: {mask(aborted, secrets)}", command=shown,
                            returncode=process.returncode, stderr=stderr)
    if check and process.returncode != 0:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {process.returncode}"
        raise CommandFailed(
            f"{argv[0]} failed (exit {process.returncode}): {last}",
            command=shown,
            returncode=process.returncode,
            stderr=stderr,
        )
    return result


def _spawn(command: list[str], env: dict[str, str], cwd: str | None, shown: str,
           stdin: Any = subprocess.DEVNULL) -> tuple[subprocess.Popen, int, int]:
    """Start EXECUTABLE ARGV... through agent/pdeathsig.py in a session of its own; return the
    process and the memory files its output goes to. Raise ToolMissing.

    Memory files, not pipes: a pipe breaks when the agent dies, and restic 0.14 (Go) dies of SIGPIPE
    writing "signal interrupt received, cleaning up" to it, before it has removed its lock."""
    out, err = os.memfd_create("stdout"), os.memfd_create("stderr")
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", _PDEATHSIG, str(os.getpid()), str(int(STOP_SIGNAL)), *command],
            stdout=out, stderr=err, stdin=stdin, env=env, cwd=cwd, start_new_session=True,
        )
    except OSError as error:
        os.close(out)
        os.close(err)
        if isinstance(error, FileNotFoundError):
            raise ToolMissing(f"cannot start {command[1]}: {error}", command=shown) from error
        raise
    return process, out, err


def _wait(process: subprocess.Popen, timeout: float, err: int,
          abort_on: re.Pattern[str] | None) -> tuple[bool, str | None]:
    """Wait for a started command, stopping it at the timeout or at the first stderr line matching
    abort_on; return (whether it timed out, the line that stopped it or None). Listed in _RUNNING
    meanwhile, so a stop request from another thread reaches it."""
    with _RUNNING_CHANGED:
        _RUNNING.add(process)
    try:
        matched = _wait_watching(process, timeout, err, abort_on) if abort_on else process.wait(timeout=timeout)
        if isinstance(matched, str):
            _stop(process)
            return False, matched
        _kill_group(process)  # what it started and left behind (restic's ssh) ends with it
        return False, None
    except subprocess.TimeoutExpired:
        _stop(process)
        return True, None
    except BaseException:
        # KeyboardInterrupt / SystemExit: never leave a restic process (or its lock) behind us.
        _stop(process)
        raise
    finally:
        with _RUNNING_CHANGED:
            _RUNNING.discard(process)
            _RUNNING_CHANGED.notify_all()


def _wait_watching(process: subprocess.Popen, timeout: float, err: int, pattern: re.Pattern[str]) -> str | None:
    """Wait for the command, reading its stderr file as it grows: return the first complete line
    that matches pattern (the command still running), or None once it exited. Raise TimeoutExpired."""
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        exited = process.poll() is not None
        data = os.pread(err, max(0, os.fstat(err).st_size - seen), seen)
        complete = data[:data.rfind(b"\n") + 1] if not exited else data
        for line in complete.decode("utf-8", "surrogateescape").splitlines():
            if pattern.search(line):
                return line.strip()
        seen += len(complete)
        if exited:
            return None
        if time.monotonic() >= deadline:
            raise subprocess.TimeoutExpired(process.args, timeout)
        time.sleep(_POLL_SECONDS)


def _read(fd: int) -> str:
    """Return what a command wrote to one of its memory files, as text mode would (\r\n, \r -> \n)."""
    os.lseek(fd, 0, os.SEEK_SET)
    with open(fd, "rb", closefd=True) as handle:
        data = handle.read()
    # restic writes UTF-8 whatever the locale, and a file name as its bytes, UTF-8 or not: each
    # byte that is not is kept as a surrogate escape (agent.names), never a lossy U+FFFD.
    return data.decode("utf-8", "surrogateescape").replace("\r\n", "\n").replace("\r", "\n")


def stop_running(grace: float | None = None) -> int:
    """Ask every running command to stop, wait up to `grace` seconds (STOP_GRACE_SECONDS) for them
    to exit, then kill their process groups (what they started, and those that did not listen);
    return how many there were. For stop requests, from any thread."""
    grace = STOP_GRACE_SECONDS if grace is None else grace
    with _RUNNING_CHANGED:
        running = list(_RUNNING)
    for process in running:
        _ask_to_stop(process)
    deadline = time.monotonic() + grace
    with _RUNNING_CHANGED:
        while time.monotonic() < deadline and any(p in _RUNNING and p.poll() is None for p in running):
            _RUNNING_CHANGED.wait(timeout=_POLL_SECONDS)
        left = [p for p in running if p in _RUNNING]
    for process in left:
        _kill_group(process)
    return len(running)


def _stop(process: subprocess.Popen) -> None:
    """Stop one command from the thread that waits for it: ask, wait up to STOP_GRACE_SECONDS for it
    to exit, then kill its group (what it started, or all of it if it did not listen)."""
    _ask_to_stop(process)
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.wait()
    except BaseException:
        _kill_group(process)  # a second interrupt while waiting: no more grace
        raise
    _kill_group(process)


def _ask_to_stop(process: subprocess.Popen) -> None:
    # The command alone, not its group: restic runs its ssh (sftp) in the same group, and that
    # connection must stay up while restic removes its lock.
    try:
        process.send_signal(STOP_SIGNAL)
    except ProcessLookupError:
        pass


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
