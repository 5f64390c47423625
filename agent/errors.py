"""Typed errors. They become messages and exit codes only in agent.cli."""

from __future__ import annotations


class AgentError(Exception):
    """The agent itself could not do its job (exit code 3)."""


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
