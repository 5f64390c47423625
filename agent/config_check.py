"""`config check`: what a night's run will need on this machine, without contacting any host.

A valid targets.yaml can still fail every night: a password file that was never copied, a key
the agent's user cannot read, a password_env nobody sets. Checked here, as the running user
(effective ids, like the run itself):
- every referenced file (password_file, key_file, known_hosts, credentials_file) exists, is not
  a directory and is readable;
- every password_env variable is set and not empty (its value is never read into a message);
- every password_command's executable (its first word) is on PATH or an executable path; the
  command itself is never run (it may prompt, or cost a secret-store lookup);
- every local copy's path (primary included) exists and can be listed, and a declared
  mountpoint is a directory.

Errors and warnings are decided for an operator validating an installation:
- a missing or unreadable file, an unset variable, a missing executable: an **error** (exit 2),
  because every run would fail on it until someone fixes it;
- a copy on a removable disk (a target that requires a mount) that is not mounted now, or whose
  declared mountpoint directory does not exist (automounters create it on mount): a
  **warning** (exit 0). Removable disks are offline most nights by design — that is what makes
  them the air-gapped copy — and the run reports them as `error: not mounted` each night they
  are away; failing the install check for it would teach operators to ignore the check. Once the
  disk is plugged in, the same check verifies its paths (a mounted disk without the path is an error).
Each problem names the key path; one file referenced from several keys is one problem.
`--offline` (a config written for another machine) skips all of this and lists each unset
${VAR} as not checked instead of refusing it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agent.config import Config, CopySpec, load_config
from agent.config_env import not_checked
from agent.targets import KINDS
from agent.targets.local import LocalTarget
from agent.targets.options import Value, path_keys


@dataclass
class Readiness:
    """What `config check` found: errors (exit 2), warnings (exit 0), each `key path: problem`,
    and with --offline what was not checked."""

    config: Config
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)


def check_config(path: str | os.PathLike, *, offline: bool = False,
                 environ: Mapping[str, str] | None = None) -> Readiness:
    """Given a targets.yaml path, load it and (unless offline) check what a run needs on this
    machine. Raise ConfigError when the file itself is invalid."""
    environ = os.environ if environ is None else environ
    config = load_config(Path(path), environ=environ, tolerate_unset=offline)
    if offline:
        return Readiness(config, not_checked=not_checked(list(config.unexpanded)))
    return check_readiness(config, environ)


def check_readiness(config: Config, environ: Mapping[str, str] | None = None) -> Readiness:
    """Given a loaded Config, return what would stop a run on this machine. Contacts no host,
    runs no command, reads no secret."""
    environ = os.environ if environ is None else environ
    found = Readiness(config)
    _grouped(found.errors, _file_references(config), _file_problem)
    _grouped(found.errors, _secret_references(config, "env"), lambda name: _env_problem(name, environ))
    _grouped(found.errors, _secret_references(config, "command"),
             lambda command: _command_problem(command, environ))
    for name, target in config.targets.items():
        if target.kind == "local":
            _local_target(found, config, name)
    return found


def copy_where(copy: CopySpec) -> str:
    """The key path of a copy in targets.yaml: datasets.NAME.primary or datasets.NAME.copies[i]."""
    return f"datasets.{copy.dataset}." + ("primary" if copy.role == "primary" else f"copies[{copy.index}]")


def _copies(config: Config) -> list[CopySpec]:
    return [copy for dataset in config.datasets.values() for copy in dataset.all_copies]


def _file_references(config: Config) -> list[tuple[str, str]]:
    """Every (key path, file) a run reads on this machine."""
    found = [(f"targets.{name}.{key}", target.options[key])
             for name, target in config.targets.items() for key in _target_files(target.kind)
             if target.options.get(key)]
    found += [(f"{copy_where(copy)}.password_file", copy.password.file)
              for copy in _copies(config) if copy.form == "restic" and copy.password.file]
    if config.agent.notify_url_file:
        found.append(("agent.notify.url_file", config.agent.notify_url_file))
    if config.agent.records_password_file:
        found.append(("agent.records_password_file", str(config.agent.records_password_file)))
    return found


def _target_files(kind: str) -> tuple[str, ...]:
    """The keys of a kind that name a file a run reads (ssh: key_file, known_hosts; s3: credentials_file)."""
    return path_keys(KINDS[kind].options, Value.FILE) if kind in KINDS else ()


def _secret_references(config: Config, kind: str) -> list[tuple[str, str]]:
    found = [(f"{copy_where(copy)}.password_{kind}", getattr(copy.password, kind))
             for copy in _copies(config) if copy.form == "restic" and getattr(copy.password, kind)]
    if kind == "env" and config.agent.notify_url_env:
        found.append(("agent.notify.url_env", config.agent.notify_url_env))
    return found


def _local_target(found: Readiness, config: Config, name: str) -> None:
    """A local target's copies exist, or its removable disk is not mounted now (one warning)."""
    target = config.targets[name]
    unplugged: list[tuple[str, str]] = []
    for copy in (c for c in _copies(config) if c.target.name == name):
        # probe() is the run's own reachable check; it reads no run context.
        probe = LocalTarget(target, None).probe(copy.path, require_tree=True)  # type: ignore[arg-type]
        if probe.detail.startswith("not mounted") and not probe.ok:
            unplugged.append((f"{copy_where(copy)}.path", probe.detail))
        elif not probe.ok:
            found.errors.append(f"{copy_where(copy)}.path: {probe.detail}")
    mountpoint = target.options.get("mountpoint")
    problem = _directory_problem(mountpoint) if mountpoint else None
    if unplugged:
        found.warnings.append(
            f"targets.{name}: {unplugged[0][1]} — normal for a removable {target.medium} that is unplugged most "
            f"nights (each run records its copies as not mounted); checked once it is mounted: "
            f"{', '.join(where for where, _ in unplugged)}")
    if problem and target.require_mount and problem.endswith("does not exist"):
        if not unplugged:
            found.warnings.append(f"targets.{name}.mountpoint: {problem} (not mounted now? an automounter "
                                  "creates it on mount)")
    elif problem:
        found.errors.append(f"targets.{name}.mountpoint: {problem}")


def _grouped(problems: list[str], references: list[tuple[str, str]], check) -> None:
    """Check each distinct value once; report it under its first key path, naming the others."""
    by_value: dict[str, list[str]] = {}
    for where, value in references:
        by_value.setdefault(value, []).append(where)
    for value, places in by_value.items():
        problem = check(value)
        if problem:
            also = f" (also {', '.join(places[1:])})" if len(places) > 1 else ""
            problems.append(f"{places[0]}: {problem}{also}")


def _user() -> str:
    return f"uid {os.geteuid()}"


def _stat(path: str) -> tuple[os.stat_result | None, str | None]:
    try:
        return os.stat(path), None
    except (FileNotFoundError, NotADirectoryError):
        return None, f"{path} does not exist"
    except PermissionError:
        return None, f"{path} cannot be reached by the running user ({_user()}): a directory on the way denies search"
    except OSError as error:
        return None, f"{path} cannot be read: {error.strerror or error}"


def _file_problem(path: str) -> str | None:
    status, problem = _stat(path)
    if problem:
        return problem
    if stat.S_ISDIR(status.st_mode):
        return f"{path} is a directory; a file is expected here"
    if not os.access(path, os.R_OK, effective_ids=True):
        return f"{path} is not readable by the running user ({_user()})"
    return None


def _directory_problem(path: str) -> str | None:
    status, problem = _stat(path)
    if problem:
        return problem
    if not stat.S_ISDIR(status.st_mode):
        return f"{path} is not a directory"
    if not os.access(path, os.R_OK | os.X_OK, effective_ids=True):
        return f"{path} cannot be listed by the running user ({_user()})"
    return None


def _env_problem(name: str, environ: Mapping[str, str]) -> str | None:
    if environ.get(name):
        return None
    state = "is set but empty" if name in environ else "is not set"
    return (f"the environment variable {name} {state} here; the run reads the restic password from it "
            "(set it where the agent runs: Environment= or EnvironmentFile= in the unit, or the cron line)")


def _command_problem(command: str, environ: Mapping[str, str]) -> str | None:
    try:
        words = shlex.split(command)
    except ValueError as error:
        return f"cannot be split into words ({error}); check the quotes"
    if not words:
        return "is empty"
    program = words[0]
    if "/" in program:
        if os.path.isfile(program) and os.access(program, os.X_OK, effective_ids=True):
            return None
        return f"its program {program} is not an executable file (the command was not run)"
    if shutil.which(program, path=environ.get("PATH", os.defpath)):
        return None
    return f"its program {program!r} is not on PATH ({environ.get('PATH', os.defpath)}); the command was not run"
