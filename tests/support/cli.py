"""Running `backup-agent`: as the installed script in a subprocess (run_cli, for the e2e tests and
the few CLI smoke tests), or its main() in this process (invoke, for unit tests where the CLI's
shape — exit code, where a message goes — is what is tested, without paying a Python start-up)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

CLI = str(Path(sys.executable).with_name("backup-agent"))


def agent_env(tmp: Path) -> dict[str, str]:
    """The environment for the CLI: no inherited config path or pinned clock, HOME in the sandbox
    so nothing (restic's cache included) is written outside it."""
    env = {k: v for k, v in os.environ.items() if k not in ("BACKUP_AGENT_CONFIG", "BACKUP_AGENT_NOW")}
    env["HOME"] = str(tmp / "home")
    env["XDG_CACHE_HOME"] = str(tmp / "home" / ".cache")
    return env


@dataclass
class Completed:
    args: list[str]
    returncode: int
    stdout: Any  # str, or bytes for invoke(text=False)
    stderr: Any
    seconds: float

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(args: list[str], env: dict[str, str], timeout: float = 300) -> Completed:
    started = time.monotonic()
    result = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=timeout)
    return Completed([CLI, *args], result.returncode, result.stdout, result.stderr, time.monotonic() - started)


def invoke(args: list[str], *, env: Mapping[str, str | None] | None = None, cwd: Path | None = None,
           text: bool = True) -> Completed:
    """Run agent.cli.main() with ARGS in this process, as the installed script runs it: its exit
    code, and what it wrote to stdout and stderr (str, or bytes with text=False). env: variables
    set (None: unset) for the call. What main() changes process-wide (the root logger, the SIGTERM
    handler, the working directory) is put back afterwards."""
    from agent import cli

    root = logging.getLogger()
    saved_logging = (root.handlers[:], root.level)
    saved_sigterm = signal.getsignal(signal.SIGTERM)
    saved_argv, saved_cwd = sys.argv, os.getcwd()
    started = time.monotonic()
    code = 0
    with CliRunner().isolation(env=env) as (stdout, stderr, _mixed):
        sys.argv = ["backup-agent", *args]
        try:
            if cwd is not None:
                os.chdir(cwd)
            cli.main()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        finally:
            sys.argv = saved_argv
            os.chdir(saved_cwd)
            sys.stdout.flush()
            sys.stderr.flush()
            out, err = stdout.getvalue(), stderr.getvalue()
            root.handlers[:] = saved_logging[0]
            root.setLevel(saved_logging[1])
            signal.signal(signal.SIGTERM, saved_sigterm)
    if text:
        out, err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    return Completed(["backup-agent", *args], code, out, err, time.monotonic() - started)
