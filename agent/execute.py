"""The one door to external commands: every subprocess (restic, ssh helpers) goes through here.

Each command is logged before it runs with secrets masked, runs under a timeout, has its stderr
captured, and fails with a typed error from agent.errors.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from agent.errors import CommandFailed, CommandTimeout, ToolMissing

log = logging.getLogger(__name__)

# Environment variables whose values are never logged.
SECRET_ENV_NAMES = frozenset(
    {"RESTIC_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "RESTIC_PASSWORD_COMMAND"}
)
MASK = "***"
# After an abort_on match: how long the command gets to clean up after SIGINT (restic removes its
# repository lock) before its process group is killed.
ABORT_GRACE_SECONDS = 10.0
# Commands running now, so a stop request (agent.interrupt) can kill them from another thread.
_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


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
    abort_on: re.Pattern[str] | None = None,
) -> CompletedCommand:
    """Given a command, run it to completion under a timeout and return its output.

    `env` is added to the agent's own environment; names in `unset` are removed from it. Raise ToolMissing when the executable does not
    exist, CommandTimeout when it runs past `timeout` seconds (the whole process group is killed),
    and CommandFailed on a non-zero exit when `check` is true. Error messages never carry secrets.
    When a line of stderr matches `abort_on` (a failure the tool would retry until the timeout),
    the command is stopped at once — SIGINT, then SIGKILL after ABORT_GRACE_SECONDS — and
    CommandFailed is raised whatever `check` says.
    """
    secrets = [s for s in secrets if s]
    shown = describe(argv, env, secrets)
    log.debug("run: %s", shown)
    full_env = {name: value for name, value in os.environ.items() if name not in set(unset)}
    full_env.update(env or {})
    try:
        process = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd,
            # restic writes UTF-8 whatever the locale, and a file name as its bytes, UTF-8 or not:
            # each byte that is not is kept as a surrogate escape (agent.names), never a lossy U+FFFD.
            encoding="utf-8",
            errors="surrogateescape",
            start_new_session=True,
        )
    except FileNotFoundError as error:
        raise ToolMissing(f"{argv[0]} is not installed", command=shown) from error
    with _RUNNING_LOCK:
        _RUNNING.add(process)
    try:
        stdout, stderr, aborted = _communicate(process, timeout, abort_on)
    except subprocess.TimeoutExpired as error:
        _kill_group(process)
        process.communicate()
        raise CommandTimeout(f"timed out after {timeout:g}s: {shown}", command=shown) from error
    except BaseException:
        # KeyboardInterrupt / SystemExit: never leave a restic process running behind us.
        _kill_group(process)
        raise
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(process)
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


def _communicate(process: subprocess.Popen, timeout: float,
                 abort_on: re.Pattern[str] | None) -> tuple[str, str, str | None]:
    if abort_on is None:
        stdout, stderr = process.communicate(timeout=timeout)
        return stdout, stderr, None
    return _communicate_watching(process, timeout, abort_on)


def _communicate_watching(process: subprocess.Popen, timeout: float,
                          pattern: re.Pattern[str]) -> tuple[str, str, str | None]:
    """Like communicate(), reading stderr line by line: return (stdout, stderr, the first line that
    matched pattern, after which the command was stopped; or None). Raise TimeoutExpired (the
    process group killed and reaped)."""
    out: list[str] = []
    err: list[str] = []
    matched: list[str] = []
    done = threading.Event()

    def read_stdout() -> None:
        out.append(process.stdout.read())

    def read_stderr() -> None:
        for line in process.stderr:
            err.append(line)
            if not matched and pattern.search(line):
                matched.append(line.strip())
                done.set()
        done.set()  # end of stderr: the command is ending

    readers = [threading.Thread(target=f, daemon=True) for f in (read_stdout, read_stderr)]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    try:
        if not done.wait(timeout):
            raise subprocess.TimeoutExpired(process.args, timeout)
        if matched:
            _stop_gently(process)
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except BaseException:  # the timeout, or a stop request: never leave the command running
        _kill_group(process)
        process.wait()
        raise
    finally:
        for reader in readers:
            reader.join(timeout=ABORT_GRACE_SECONDS)
    return "".join(out), "".join(err), (matched[0] if matched else None)


def _stop_gently(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=ABORT_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        _kill_group(process)


def kill_running() -> int:
    """Kill every command still running (their whole process groups); return how many. For stop requests."""
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for process in running:
        _kill_group(process)
    return len(running)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
