"""restic command lines, one small pure builder per restic command (as borgmatic builds
`make_*_flags` per borg command). Nothing here runs anything: ResticRepository hands these to
agent.execute, and the modules that decide verdicts call the repository, never assemble argv.

Values that come from outside (snapshot IDs, paths, patterns) are joined to their flags or put
after `--`, so none can read as an option."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agent.config import SecretRef
from agent.errors import SecretError
from agent.restic.failure import ResticError, ResticFailure
from agent.targets.base import ResticLocation

RESTIC = os.environ.get("BACKUP_AGENT_RESTIC", "restic")
# The agent's own environment must not choose the repository or password behind the config's back.
AMBIENT_RESTIC_VARIABLES = ("RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND", "RESTIC_REPOSITORY",
                            "RESTIC_REPOSITORY_FILE", "RESTIC_KEY_HINT")


@dataclass(frozen=True)
class Invocation:
    """How restic is started on one repository: the words before the command, the environment it
    gets on top of the agent's, and the values to mask wherever the command line is shown."""

    argv: list[str]
    env: dict[str, str]
    secrets: list[str]


def invocation(location: ResticLocation, cache_dir: Path, password: SecretRef, extra_env: Mapping[str, str],
               environ: Mapping[str, str], program: str | None = None) -> Invocation:
    """Given where the repository is, the cache directory, the password reference, extra variables
    and the agent's environment, return the invocation. Raise ResticError PASSWORD_UNAVAILABLE when
    password_env names an unset variable, SecretError when there is no password reference."""
    argv = [program or RESTIC, "--repo", location.repository, "--cache-dir", str(cache_dir)]
    for option in location.options:
        argv += ["-o", option]
    env = {**extra_env, **location.env}
    secrets = list(location.secrets)
    if password.file:
        argv += ["--password-file", password.file]
    elif password.command:
        argv += ["--password-command", password.command]
    elif password.env:
        value = environ.get(password.env)
        if value is None:
            raise ResticError(ResticFailure.PASSWORD_UNAVAILABLE,
                              f"environment variable {password.env} (password_env) is not set")
        env["RESTIC_PASSWORD"] = value
        secrets.append(value)
    else:
        raise SecretError("no password reference for restic repository")
    return Invocation(argv, env, secrets)


# Backends restic reaches over a network (restic's own prefixes); anything else is a local path.
_REMOTE_BACKENDS = ("sftp:", "s3:", "rest:", "rclone:", "b2:", "azure:", "gs:", "swift:")


def is_local(repository: str) -> bool:
    """Whether restic reads this repository from a local path (its work is then CPU and disk bound)."""
    return not repository.startswith(_REMOTE_BACKENDS)


def takes_lock(arguments: Iterable[str]) -> bool:
    """Whether restic takes a repository lock for these arguments."""
    return "--no-lock" not in arguments


def snapshots_arguments() -> list[str]:
    return ["--no-lock", "snapshots", "--json"]


def stats_arguments(snapshot_id: str, mode: str = "restore-size") -> list[str]:
    return ["--no-lock", "stats", "--json", f"--mode={mode}", "--", snapshot_id]


def ls_arguments(snapshot_id: str, *, json: bool = True) -> list[str]:
    """`restic ls` of a snapshot: JSON lines (names lossy where not UTF-8), else the text form
    (one path and a newline each, the bytes kept; `--quiet` leaves out the snapshot line)."""
    if json:
        return ["--no-lock", "ls", "--json", "--", snapshot_id]
    return ["--no-lock", "--quiet", "ls", "--", snapshot_id]


def cat_config_arguments() -> list[str]:
    return ["--no-lock", "cat", "config"]


def check_arguments(read_data_subset: str | None = None) -> list[str]:
    """`restic check`, reading the given subset of packs (`n/m`) when one is given. It takes an
    exclusive lock, as restic requires."""
    if read_data_subset:
        return ["check", f"--read-data-subset={read_data_subset}"]
    return ["check"]


def list_locks_arguments() -> list[str]:
    return ["--no-lock", "list", "locks"]


def cat_lock_arguments(lock_id: str) -> list[str]:
    return ["--no-lock", "cat", "lock", lock_id]


def restore_arguments(snapshot_id: str, target: str, includes: list[str] | None = None,
                      verify: bool = False) -> list[str]:
    """`restic restore` of a snapshot into target, only the given include patterns when some are
    given. Values joined to their flags and the snapshot after `--`, so nothing reads as an option."""
    arguments = ["restore", f"--target={target}"]
    if verify:
        arguments.append("--verify")
    arguments += [f"--include={pattern}" for pattern in includes or ()]
    return [*arguments, "--", snapshot_id]


def include_pattern(path: str) -> str:
    """The --include pattern that matches exactly this snapshot path: restic matches patterns per
    path component like filepath.Match, so its wildcards are escaped."""
    return "".join("\\" + c if c in "\\*?[" else c for c in path)


def version_arguments(program: str | None = None) -> list[str]:
    return [program or RESTIC, "version"]
