"""The restic adapter: builds restic command lines, runs them through agent.execute, parses JSON.

Works with restic 0.14 (Debian 12) and newer. 0.14 has no distinct exit codes and ignores
`check --json`, so failures are classified from stderr (ResticError.kind).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from agent.config import SecretRef
from agent.errors import (
    CommandFailed,
    CommandTimeout,
    ExecuteError,
    SecretError,
    TargetUnavailable,
    ToolMissing,
)
from agent.execute import execute
from agent.restic_locks import ChildLedger, Holder, ResticLock, judge, locked_message, parse_lock
from agent.targets.base import ResticLocation

log = logging.getLogger(__name__)

RESTIC = os.environ.get("BACKUP_AGENT_RESTIC", "restic")
AMBIENT_RESTIC_VARIABLES = ("RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND", "RESTIC_REPOSITORY",
                            "RESTIC_REPOSITORY_FILE", "RESTIC_KEY_HINT")


class ResticFailure(StrEnum):
    NO_SPACE = "no space left on device"
    WRONG_PASSWORD = "wrong password"
    NO_REPOSITORY = "no repository"
    LOCKED = "repository locked"
    DATA_ERROR = "repository data errors"
    PASSWORD_UNAVAILABLE = "password unavailable"
    TIMEOUT = "timed out"
    NOT_INSTALLED = "restic not installed"
    UNREACHABLE = "repository unreachable"
    OTHER = "restic failed"


# restic retries a write that failed for want of space (its cache, under the state directory),
# with growing pauses, for every file it loads: a full cache turns `check` into an hour-long wait for
# the command timeout. The first such line stops it (agent.execute abort_on). Its own warning
# "unable to open cache: … no space left on device" is harmless: it then runs without a cache.
NO_SPACE_LINE = re.compile(r"^(?!.*unable to open cache).*no space left on device", re.I | re.M)

# Ordered: the first pattern that matches stderr names the failure. Unreachable comes before
# "no repository" because restic says both when an S3 endpoint or SFTP host is down.
_CLASSIFIERS: tuple[tuple[ResticFailure, re.Pattern], ...] = (
    (ResticFailure.NO_SPACE, NO_SPACE_LINE),
    (ResticFailure.WRONG_PASSWORD, re.compile(r"wrong password or no key found", re.I)),
    (ResticFailure.PASSWORD_UNAVAILABLE, re.compile(r"Resolving password failed|password-command|reading password", re.I)),
    (ResticFailure.UNREACHABLE, re.compile(r"connection refused|no such host|i/o timeout|ssh: |subprocess ssh|"
                                           r"Host key verification failed|Permission denied", re.I)),
    (ResticFailure.NO_REPOSITORY, re.compile(r"Is there a repository|unable to open config file|repository does not exist"
                                             r"|config file does not exist|The specified bucket does not exist", re.I)),
    (ResticFailure.LOCKED, re.compile(r"unable to create lock|repository is already locked|already locked", re.I)),
    (ResticFailure.DATA_ERROR, re.compile(r"Pack ID does not match|repository contains errors|not found in index"
                                          r"|pack [0-9a-f]+.* (does not exist|not found)|error for tree|ciphertext verification"
                                          r"|Load\(<data/|invalid data returned|unexpected (EOF|end)", re.I)),
)


class ResticError(ExecuteError):
    def __init__(self, kind: ResticFailure, message: str, stderr: str = ""):
        super().__init__(message, stderr=stderr)
        self.kind = kind


def classify(stderr: str) -> ResticFailure:
    for kind, pattern in _CLASSIFIERS:
        if pattern.search(stderr):
            return kind
    return ResticFailure.OTHER


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: datetime
    hostname: str
    paths: tuple[str, ...]
    tags: tuple[str, ...]


@dataclass(frozen=True)
class ResticRepository:
    """One repository as restic reaches it, with its password reference and the agent's cache dir.

    With a `ledger` (the PIDs of the restic processes the agent started) and `remove_lock` (the
    target's way to delete locks/ID), a command that finds the repository locked first removes the
    stale locks this agent's own restic left (agent.restic_locks) and runs once more; every lock it
    removed is appended to `removed_locks`, for the check to record."""

    location: ResticLocation
    password: SecretRef
    cache_dir: Path
    timeout: float
    extra_env: dict[str, str] = field(default_factory=dict)
    ledger: ChildLedger | None = None
    remove_lock: Callable[[str], None] | None = None
    removed_locks: list[ResticLock] = field(default_factory=list, compare=False)

    def _invocation(self) -> tuple[list[str], dict[str, str], list[str]]:
        argv = [RESTIC, "--repo", self.location.repository, "--cache-dir", str(self.cache_dir)]
        for option in self.location.options:
            argv += ["-o", option]
        env = {**self.extra_env, **self.location.env}
        secrets = list(self.location.secrets)
        if self.password.file:
            argv += ["--password-file", self.password.file]
        elif self.password.command:
            argv += ["--password-command", self.password.command]
        elif self.password.env:
            value = os.environ.get(self.password.env)
            if value is None:
                raise ResticError(ResticFailure.PASSWORD_UNAVAILABLE,
                                  f"environment variable {self.password.env} (password_env) is not set")
            env["RESTIC_PASSWORD"] = value
            secrets.append(value)
        else:
            raise SecretError("no password reference for restic repository")
        return argv, env, secrets

    def run(self, *args: str, timeout: float | None = None) -> str:
        """Run `restic ARGS` on this repository and return stdout. Raise ResticError, classified.

        A command that takes a lock and finds the repository locked removes this agent's stale
        locks and runs once more; a lock it may not remove makes it LOCKED, naming the holder."""
        locking = "--no-lock" not in args
        try:
            return self._run(args, timeout, locking)
        except ResticError as error:
            if error.kind != ResticFailure.LOCKED or not locking:
                raise
            self._remove_stale_locks(error)
        try:
            return self._run(args, timeout, locking)
        except ResticError as error:
            if error.kind != ResticFailure.LOCKED:
                raise
            raise ResticError(error.kind, locked_message(self._judge_locks(), error.stderr), error.stderr) from error

    def locks(self) -> list[ResticLock]:
        """Return every readable lock in the repository (read without taking one). Raise ResticError
        when they cannot be listed."""
        found = []
        for lock_id in self.run("--no-lock", "list", "locks").split():
            try:
                found.append(parse_lock(lock_id, self.run("--no-lock", "cat", "lock", lock_id)))
            except (ResticError, ValueError) as error:
                # Released since the listing, or torn by a kill mid-write: restic ignores a lock it
                # cannot load, so it blocks nobody; it is never removed either.
                log.warning("skipping restic lock %s of %s: %s", lock_id[:8], self.location.repository, error)
        return found

    def _judge_locks(self) -> list[tuple[ResticLock, Holder]]:
        """Every lock with its holder, or [] when the locks cannot be read (restic's words are used then)."""
        try:
            locks = self.locks()
        except ResticError as error:
            log.warning("cannot list the locks of %s: %s", self.location.repository, error)
            return []
        hostname = socket.gethostname()  # what restic writes into its locks (os.Hostname)

        def ours(lock: ResticLock) -> bool:
            return self.ledger is not None and self.ledger.owns(self.location.repository, lock)

        return [(lock, judge(lock, hostname=hostname, ours=ours)) for lock in locks]

    def _remove_stale_locks(self, locked: ResticError) -> None:
        """Remove the locks this agent's gone restic processes left. Raise ResticError LOCKED naming
        the holders when there is none to remove (or removing one fails)."""
        judged = self._judge_locks()
        stale = [lock for lock, holder in judged if holder is Holder.GONE_OURS]
        if not stale or self.remove_lock is None:
            raise ResticError(ResticFailure.LOCKED, locked_message(judged, locked.stderr), locked.stderr) from locked
        for lock in stale:
            try:
                self.remove_lock(lock.id)
            except TargetUnavailable as error:
                raise ResticError(ResticFailure.LOCKED, f"{locked_message(judged, locked.stderr)}; removing the "
                                  f"stale lock {lock.id[:8]} failed: {error}", locked.stderr) from error
            log.warning("removed the stale restic lock %s of %s (%s)", lock.id[:8], lock.describe(),
                        self.location.repository)
            self.removed_locks.append(lock)
            if self.ledger:
                self.ledger.forget(self.location.repository, lock.pid)

    def _run(self, args: tuple[str, ...], timeout: float | None, locking: bool) -> str:
        argv, env, secrets = self._invocation()
        watcher = self.ledger.watch(self.location.repository) if self.ledger and locking else None
        try:
            # The agent's own environment must not choose the repository or password behind the config's back.
            result = execute([*argv, *args], timeout=timeout or self.timeout, env=env, secrets=secrets,
                             unset=AMBIENT_RESTIC_VARIABLES, watcher=watcher, abort_on=NO_SPACE_LINE)
        except ToolMissing as error:
            raise ResticError(ResticFailure.NOT_INSTALLED, "restic is not installed (apt-get install restic)") from error
        except CommandTimeout as error:
            raise ResticError(ResticFailure.TIMEOUT, f"restic {args[0]} timed out after {timeout or self.timeout:g}s") from error
        except CommandFailed as error:
            kind = classify(error.stderr)
            detail = (self._no_space_detail(error.stderr) if kind is ResticFailure.NO_SPACE
                      else _last_meaningful_line(error.stderr))
            raise ResticError(kind, f"{kind}: {detail}", error.stderr) from error
        return result.stdout

    def _no_space_detail(self, stderr: str) -> str:
        match = NO_SPACE_LINE.search(stderr)
        written = re.search(r"write (/\S+?):? no space left", match.group(0)) if match else None
        path = written.group(1) if written else "?"
        if Path(path).is_relative_to(self.cache_dir):
            return (f"restic's cache directory {self.cache_dir} is full (writing {path}); restic was stopped "
                    "instead of retrying until its timeout")
        return f"writing {path}; restic was stopped instead of retrying until its timeout"

    def snapshots(self) -> list[Snapshot]:
        output = self.run("--no-lock", "snapshots", "--json")
        return [_snapshot(item) for item in json.loads(output or "[]")]

    def stats(self, snapshot_id: str, mode: str = "restore-size") -> dict[str, Any]:
        return json.loads(self.run("--no-lock", "stats", "--json", f"--mode={mode}", "--", snapshot_id))

    def ls(self, snapshot_id: str) -> list[dict[str, Any]]:
        """Return a snapshot's nodes as `restic ls --json` describes them, with each path and name
        the real bytes (agent.names). restic's JSON puts U+FFFD for every byte of a name that is not
        UTF-8; only then is the snapshot listed a second time as text, which carries the bytes.
        Raise ResticError, or ValueError when the two listings do not agree."""
        nodes = parse_ls(self.run("--no-lock", "ls", "--json", "--", snapshot_id))
        if any(REPLACEMENT in node.get("path", "") for node in nodes):
            nodes = with_raw_paths(nodes, self.run("--no-lock", "--quiet", "ls", "--", snapshot_id))
        return nodes

    def repository_id(self) -> str:
        """Return the repository's id from its config (`restic cat config`). The config file is
        encrypted, so the id costs one key derivation; it is the one thing every route to the same
        repository, and every byte-level replica of it, has in common. Raise ResticError."""
        output = self.run("--no-lock", "cat", "config")
        try:
            identifier = json.loads(output)["id"]
        except (ValueError, KeyError, TypeError) as error:
            raise ResticError(ResticFailure.OTHER, "restic cat config did not print a repository id") from error
        if not isinstance(identifier, str) or not identifier:
            raise ResticError(ResticFailure.OTHER, "restic cat config printed an empty repository id")
        return identifier

    def check(self, read_data_subset: str | None = None) -> str:
        """Run `restic check` (with an exclusive lock, as restic requires). Return its text output."""
        args = ["check"]
        if read_data_subset:
            args.append(f"--read-data-subset={read_data_subset}")
        return self.run(*args)


def version() -> str:
    try:
        output = execute([RESTIC, "version"], timeout=30).stdout
    except ExecuteError:
        return "unavailable"
    match = re.search(r"restic (\S+)", output)
    return match.group(1) if match else output.strip()


REPLACEMENT = "\ufffd"  # what restic's JSON (Go's encoding/json) puts for each byte that is not UTF-8


def parse_ls(output: str) -> list[dict[str, Any]]:
    """Given `restic ls --json` output, return its nodes in listing order (the snapshot line left out)."""
    return [node for node in map(json.loads, filter(str.strip, output.splitlines()))
            if node.get("struct_type") == "node"]


def _same_name(lossy: str, raw: str) -> bool:
    """Whether a path from restic's JSON (U+FFFD for each byte that is not UTF-8) is raw, a path
    with surrogate escapes (one per such byte), character for character."""
    return len(lossy) == len(raw) and all(
        a == b or (a == REPLACEMENT and 0xDC80 <= ord(b) <= 0xDCFF) for a, b in zip(lossy, raw, strict=True))


def with_raw_paths(nodes: list[dict[str, Any]], text_listing: str) -> list[dict[str, Any]]:
    """Given `ls --json` nodes and `restic --quiet ls` of the same snapshot (each path followed by a
    newline, same order, bytes kept), return the nodes with their real paths and names.

    The text form alone is ambiguous (a name may hold a newline), the JSON alone lossy; together
    they are exact: each JSON path has as many characters as the real one, so each is read off the
    text at its place and must agree with it except where the JSON says U+FFFD. Raise ValueError
    when they do not agree (a listing that changed in between, an unknown restic output)."""
    exact: list[dict[str, Any]] = []
    position = 0
    for node in nodes:
        lossy = node.get("path", "")
        raw = text_listing[position:position + len(lossy)]
        if not _same_name(lossy, raw) or text_listing[position + len(lossy):position + len(lossy) + 1] != "\n":
            raise ValueError(f"restic's text listing does not match its JSON listing at {lossy!r}")
        position += len(lossy) + 1
        exact.append({**node, "path": raw, "name": raw.rsplit("/", 1)[-1]} if REPLACEMENT in lossy else node)
    return exact


def restore_arguments(snapshot_id: str, target: str, includes: list[str] | None = None,
                      verify: bool = False) -> list[str]:
    """`restic restore` of a snapshot into target, only the given include patterns when some are
    given. Values joined to their flags and the snapshot after `--`, so nothing reads as an option."""
    arguments = ["restore", f"--target={target}"]
    if verify:
        arguments.append("--verify")
    arguments += [f"--include={pattern}" for pattern in includes or ()]
    return [*arguments, "--", snapshot_id]


def select_snapshots(snapshots: list[Snapshot], snapshot_filter: dict[str, Any]) -> list[Snapshot]:
    """Given a repository's snapshots and a dataset's filter (tags, host, path), return its own, oldest first."""
    tags = set(snapshot_filter.get("tags") or [])
    host = snapshot_filter.get("host")
    path = snapshot_filter.get("path")
    chosen = [
        s for s in snapshots
        if tags <= set(s.tags)
        and (host is None or s.hostname == host)
        and (path is None or path.rstrip("/") in {p.rstrip("/") for p in s.paths})
    ]
    return sorted(chosen, key=lambda s: s.time)


def _snapshot(item: dict[str, Any]) -> Snapshot:
    return Snapshot(
        id=item["id"],
        short_id=item.get("short_id", item["id"][:8]),
        time=_parse_time(item["time"]),
        hostname=item.get("hostname", ""),
        paths=tuple(item.get("paths") or ()),
        tags=tuple(item.get("tags") or ()),
    )


def _parse_time(text: str) -> datetime:
    # restic prints RFC 3339 with nanoseconds ("2026-11-24T03:01:02.123456789+00:00"); Python takes microseconds.
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if not match:
        return datetime.fromisoformat(text)
    fraction = (match.group(2) or "")[:7]
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return datetime.fromisoformat(match.group(1) + fraction + zone)


def _last_meaningful_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("Fatal:") or "error" in line.lower():
            return line[:300]
    return lines[-1][:300] if lines else "no output"
