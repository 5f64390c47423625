"""One restic repository as the agent reaches it: runs restic through agent.execute with the
command lines agent.restic.commands builds, and reads the output with agent.restic.parse.

Works with restic 0.14 (Debian 12) and newer. 0.14 has no distinct exit codes and ignores
`check --json`, so failures are classified from stderr (agent.restic.failure).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import SecretRef
from agent.errors import CommandFailed, CommandTimeout, ExecuteError, TargetUnavailable, ToolMissing
from agent.execute import CompletedCommand, execute
from agent.restic import commands
from agent.restic.failure import NO_SPACE_LINE, ResticError, ResticFailure, classify, failure_detail
from agent.restic.locks import ChildLedger, Holder, ResticLock, judge, locked_message, parse_lock
from agent.restic.parse import (
    Snapshot,
    has_lossy_paths,
    parse_ls,
    parse_repository_id,
    parse_snapshots,
    parse_version,
    unreadable_message,
    unreadable_snapshots,
    with_raw_paths,
)
from agent.targets.base import ResticLocation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResticRepository:
    """One repository as restic reaches it, with its password reference and the agent's cache dir.

    With a `ledger` (the PIDs of the restic processes the agent started) and `remove_lock` (the
    target's way to delete locks/ID), a command that finds the repository locked first removes the
    stale locks this agent's own restic left (agent.restic.locks) and runs once more; every lock it
    removed is appended to `removed_locks`, for the check to record."""

    location: ResticLocation
    password: SecretRef
    cache_dir: Path
    timeout: float
    extra_env: dict[str, str] = field(default_factory=dict)
    ledger: ChildLedger | None = None
    remove_lock: Callable[[str], None] | None = None
    removed_locks: list[ResticLock] = field(default_factory=list, compare=False)
    # The run's CPU budget (agent.targets.base.TargetContext.cpu): a restic process on a local
    # repository holds one slot while it runs; one over a network mostly waits and holds none.
    cpu: Any = field(default=None, compare=False)

    def run(self, *args: str, timeout: float | None = None) -> str:
        """Run `restic ARGS` on this repository and return stdout. Raise ResticError, classified."""
        return self.run_command(*args, timeout=timeout).stdout

    def run_command(self, *args: str, timeout: float | None = None) -> CompletedCommand:
        """Run `restic ARGS` on this repository and return what it printed (stdout and stderr).
        Raise ResticError, classified.

        A command that takes a lock and finds the repository locked removes this agent's stale
        locks and runs once more; a lock it may not remove makes it LOCKED, naming the holder."""
        locking = commands.takes_lock(args)
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

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot restic could read. Raise ResticError DATA_ERROR naming the snapshot files
        restic could not load (it leaves them out and exits 0): the newest backup is then not known,
        and an older snapshot must not stand in for it."""
        done = self.run_command(*commands.snapshots_arguments())
        unreadable = unreadable_snapshots(done.stderr)
        if unreadable:
            raise ResticError(ResticFailure.DATA_ERROR, unreadable_message(unreadable), done.stderr)
        return parse_snapshots(done.stdout)

    def stats(self, snapshot_id: str, mode: str = "restore-size") -> dict[str, Any]:
        return json.loads(self.run(*commands.stats_arguments(snapshot_id, mode)))

    def ls(self, snapshot_id: str) -> list[dict[str, Any]]:
        """Return a snapshot's nodes as `restic ls --json` describes them, with each path and name
        the real bytes (agent.names). restic's JSON puts U+FFFD for every byte of a name that is not
        UTF-8; only then is the snapshot listed a second time as text, which carries the bytes.
        Raise ResticError, or ValueError when the two listings do not agree."""
        nodes = parse_ls(self.run(*commands.ls_arguments(snapshot_id)))
        if has_lossy_paths(nodes):
            nodes = with_raw_paths(nodes, self.run(*commands.ls_arguments(snapshot_id, json=False)))
        return nodes

    def repository_id(self) -> str:
        """Return the repository's id from its config (`restic cat config`). The config file is
        encrypted, so the id costs one key derivation; it is the one thing every route to the same
        repository, and every byte-level replica of it, has in common. Raise ResticError."""
        output = self.run(*commands.cat_config_arguments())
        try:
            return parse_repository_id(output)
        except ValueError as error:
            raise ResticError(ResticFailure.OTHER, str(error)) from error

    def check(self, read_data_subset: str | None = None) -> str:
        """Run `restic check` (with an exclusive lock, as restic requires). Return its text output."""
        return self.run(*commands.check_arguments(read_data_subset))

    def locks(self) -> list[ResticLock]:
        """Return every readable lock in the repository (read without taking one). Raise ResticError
        when they cannot be listed."""
        found = []
        for lock_id in self.run(*commands.list_locks_arguments()).split():
            try:
                found.append(parse_lock(lock_id, self.run(*commands.cat_lock_arguments(lock_id))))
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
        started = commands.invocation(self.location, self.cache_dir, self.password, self.extra_env, os.environ)
        watcher = self.ledger.watch(self.location.repository) if self.ledger and locking else None
        budget = self.cpu if self.cpu is not None and commands.is_local(self.location.repository) else None
        try:
            with budget or contextlib.nullcontext():
                result = execute([*started.argv, *args], timeout=timeout or self.timeout, env=started.env,
                                 secrets=started.secrets, unset=commands.AMBIENT_RESTIC_VARIABLES, watcher=watcher,
                                 abort_on=NO_SPACE_LINE)
        except ToolMissing as error:
            raise ResticError(ResticFailure.NOT_INSTALLED, "restic is not installed (apt-get install restic)") from error
        except CommandTimeout as error:
            raise ResticError(ResticFailure.TIMEOUT, f"restic {args[0]} timed out after {timeout or self.timeout:g}s") from error
        except CommandFailed as error:
            kind = classify(error.stderr)
            detail = failure_detail(kind, error.stderr, self.cache_dir)
            raise ResticError(kind, f"{kind}: {detail}", error.stderr) from error
        return result


def version() -> str:
    """restic's version ("0.14.0"), or "unavailable"."""
    try:
        output = execute(commands.version_arguments(), timeout=30).stdout
    except ExecuteError:
        return "unavailable"
    return parse_version(output)
