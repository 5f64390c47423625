"""The one door to external commands: every subprocess (restic, ssh helpers) goes through here.

Each command is logged before it runs with secrets masked, runs under a timeout, has its stderr
captured, and fails with a typed error from agent.errors.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from agent.errors import CommandFailed, CommandTimeout, ToolMissing

log = logging.getLogger(__name__)

# Environment variables whose values are never logged.
SECRET_ENV_NAMES = frozenset(
    {"RESTIC_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "RESTIC_PASSWORD_COMMAND"}
)
MASK = "***"
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
) -> CompletedCommand:
    """Given a command, run it to completion under a timeout and return its output.

    `env` is added to the agent's own environment; names in `unset` are removed from it. Raise ToolMissing when the executable does not
    exist, CommandTimeout when it runs past `timeout` seconds (the whole process group is killed),
    and CommandFailed on a non-zero exit when `check` is true. Error messages never carry secrets.
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
        stdout, stderr = process.communicate(timeout=timeout)
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
    if check and process.returncode != 0:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {process.returncode}"
        raise CommandFailed(
            f"{argv[0]} failed (exit {process.returncode}): {last}",
            command=shown,
            returncode=process.returncode,
            stderr=stderr,
        )
    return result


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
