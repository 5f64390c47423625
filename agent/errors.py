"""Typed errors. They become messages and exit codes only in agent.cli."""

from __future__ import annotations


class AgentError(Exception):
    """The agent itself could not do its job (exit code 3)."""


class NoSpaceError(AgentError):
    """A directory the agent writes its own files to is full (exit code 3). What was being written
    is left as it was: the writers are all-or-nothing."""

    def __init__(self, directory: object, what: str = "", place: str = "state directory"):
        self.directory = directory
        self.what = what
        super().__init__(f"no space left on the {place} {directory}" + (f" ({what})" if what else "")
                         + "; free space there and run again")


class StoreUnreadable(AgentError):
    """The records store could not be read (an I/O error, no room for SQLite's shared memory,
    permissions): the chain is neither intact nor broken, it could not be looked at (exit code 3)."""


class ChainGapError(AgentError):
    """The records store does not reach the chain head remembered outside it (emptied, replaced, its
    newest records cut): appending now would hide that (exit code 3)."""


class ConfigError(Exception):
    """targets.yaml is unusable (exit code 2). Carries every problem found, not just the first."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        lines = [f"{path}: {len(problems)} configuration error(s):"] + [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


class SecretError(Exception):
    """A secret reference (file, command, environment variable) could not be resolved."""


class ExecuteError(Exception):
    """An external command could not be run or did not succeed."""

    def __init__(self, message: str, *, command: str = "", returncode: int | None = None, stderr: str = ""):
        super().__init__(message)
        self.command = command
        self.returncode = returncode
        self.stderr = stderr


class ToolMissing(ExecuteError):
    """The executable is not installed."""


class CommandTimeout(ExecuteError):
    """The command ran past its timeout and was killed."""


class CommandFailed(ExecuteError):
    """The command exited non-zero."""


class TargetUnavailable(Exception):
    """A target cannot be reached or used (unmounted disk, dead host, bad credentials)."""
