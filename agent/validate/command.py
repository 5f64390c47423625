"""command: run a command of yours in the restored tree (its working directory); exit 0 passes.

It runs as the agent's own user, under the validator's timeout, with an environment that holds
none of the agent's variables (agent.validate.sandbox) — only PATH, locale, UTC, and HOME/TMPDIR
in a private directory. A string is run by `/bin/sh -c`; a list is the argv itself.

fail: a non-zero exit (its last line of output shown). error: the program is not there or cannot
be run (126/127), the time ran out.
"""

from __future__ import annotations

from pathlib import Path

from agent.errors import ToolMissing
from agent.execute import execute
from agent.models import Status
from agent.validate.model import ValidatorSpec, Verdict
from agent.validate.pg_cluster import Deadline
from agent.validate.sandbox import CannotRun, environment

ID = "command"
SHOWN_CHARS = 300
CANNOT_START = (126, 127)


def validate(spec: ValidatorSpec, root: Path, home: Path, deadline: Deadline) -> Verdict:
    """Run the command with root as its working directory. Raise CannotRun or CommandTimeout."""
    env, unset = environment(home)
    try:
        done = execute(list(spec.command), timeout=deadline.left(), env=env, unset=unset, cwd=str(root),
                       check=False)
    except ToolMissing as error:
        raise CannotRun(f"{spec.command[0]} cannot be run: {error}") from error
    said = _last_line(done.stderr) or _last_line(done.stdout)
    if done.returncode in CANNOT_START:
        raise CannotRun(f"exit {done.returncode}: the command or a program it runs cannot be started ({said})")
    measured = {"exit_code": done.returncode}
    if done.returncode != 0:
        return Verdict(spec.label, Status.FAIL, f"exit {done.returncode}" + (f": {said}" if said else ""), measured)
    return Verdict(spec.label, Status.PASS, "exit 0" + (f": {said}" if said else ""), measured)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:SHOWN_CHARS] if lines else ""
