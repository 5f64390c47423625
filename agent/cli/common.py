"""What the commands share: exit codes, loading the configuration, choosing datasets, the run
lock, reading the records store, times typed on the command line, and how warnings are shown."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agent.config import Config, Dataset, find_config_path, load_config

if TYPE_CHECKING:
    from agent.lock import RunLock
    from agent.records import RecordStore
    from agent.records.shared import SharedStore

EXIT_OK, EXIT_BREACH, EXIT_USAGE, EXIT_AGENT = 0, 1, 2, 3
EXIT_LOCKED = 75  # EX_TEMPFAIL from sysexits.h: another run is in progress

TIME_OPTION_HELP = "ISO 8601 with an offset (2026-11-30T00:00:00+08:00) or a date (2026-11-30, a day in UTC or --tz)"


class UsageError(click.UsageError):
    exit_code = EXIT_USAGE


def load(ctx: click.Context, reads_targets: bool = True) -> Config:
    """Load the config; reads_targets=False for commands that open no target and no secret
    (their units load no credentials, so ${CREDENTIALS_DIRECTORY} may be unset there)."""
    path = find_config_path(ctx.find_root().obj["config"])
    return load_config(path, reads_targets=reads_targets)


def complete(section: str):
    """Shell completion of dataset or target names from the configuration in use (none if it does not load)."""

    def names(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
        try:
            config = load_config(find_config_path(ctx.find_root().params.get("config")))
        except Exception:  # noqa: BLE001 - completion must never print a traceback into the shell
            return []
        return [name for name in getattr(config, section) if name.startswith(incomplete)]

    return names


def colour(ctx: click.Context) -> bool:
    """Colour only on a terminal, and never with --no-color or NO_COLOR set (https://no-color.org)."""
    return sys.stdout.isatty() and not ctx.find_root().obj.get("no_color") and not os.environ.get("NO_COLOR")


def select(config: Config, datasets: tuple[str, ...], targets: tuple[str, ...]) -> list[Dataset]:
    """The datasets named (all when none) with a copy on the targets named; an unknown name is a usage error."""
    from agent.run import select_datasets

    unknown = [d for d in datasets if d not in config.datasets]
    if unknown:
        raise UsageError(f"unknown dataset(s): {', '.join(unknown)}; defined: {', '.join(config.datasets)}")
    unknown = [t for t in targets if t not in config.targets]
    if unknown:
        raise UsageError(f"unknown target(s): {', '.join(unknown)}; defined: {', '.join(config.targets)}")
    fleet_check(config, targets)
    return select_datasets(config, datasets, targets)


def resolve_targets(config: Config, targets: tuple[str, ...]) -> tuple[str, ...]:
    """--target as a name, or as a mountpoint (the plug-in unit passes %f): the local targets whose
    `mountpoint` is that path. A path no target is mounted at is a usage error."""
    resolved: list[str] = []
    for given in targets:
        if not given.startswith("/"):
            resolved.append(given)
            continue
        wanted = os.path.realpath(given)
        found = [name for name, target in config.targets.items()
                 if getattr(target.settings, "mountpoint", None) and os.path.realpath(target.settings.mountpoint) == wanted]
        if not found:
            raise UsageError(f"--target {given}: no local target has mountpoint {given} (targets.NAME.mountpoint); "
                             "give the target's name, or set its mountpoint")
        resolved += [name for name in found if name not in resolved]
    return tuple(resolved)


def fleet_check(config: Config, targets: tuple[str, ...] = ()) -> None:
    """With an `agents:` section, this agent must be one of them and may verify only its own targets."""
    me = config.agent.name
    if config.agents and me not in config.agents:
        raise UsageError(f"this agent is {me!r} (agent.name, else $BACKUP_AGENT_NAME, else the host name), which "
                         f"{config.path} does not declare under agents: ({', '.join(sorted(config.agents))}); "
                         "set BACKUP_AGENT_NAME to one of them, or add it")
    theirs = [t for t in targets if not config.is_mine(config.targets[t])]
    if theirs:
        raise UsageError("; ".join(f"target {t} is reached by agent {config.owner(config.targets[t])}, not by {me}"
                                   for t in theirs) + ": each agent verifies only its own targets")


def warn(message: str | None) -> None:
    """A sink that failed after the records were written (metrics, Pushgateway, notification) warns."""
    if message:
        click.echo(f"warning: {message}", err=True)


@contextlib.contextmanager
def locked(ctx: click.Context, lock: RunLock, nothing_done: str) -> Iterator[None]:
    """Hold the run lock, or exit 75 saying who holds it and what this command did not do."""
    from agent.lock import LockBusy

    try:
        lock.acquire()
    except LockBusy as busy:
        click.echo(f"backup-agent: another run is in progress ({busy.holder or 'holder unknown'}; lock "
                   f"{busy.path}); {nothing_done}", err=True)
        ctx.exit(EXIT_LOCKED)
    with lock:
        yield


def open_store(ctx: click.Context, must_exist: bool = True, local: bool = False) -> RecordStore | SharedStore:
    """Open the records store for reading: the shared store when one is configured (unless local),
    else the local one read-only (reading never writes, and works on a full disk). A shared store
    checks this agent's chain against what its outbox delivered. Raise AgentError (exit 3) when
    the shared store cannot be reached or has no schema."""
    from agent.recording import local_store

    config = load(ctx, reads_targets=False)
    if config.agent.records_url and not local:
        return open_shared(config)
    path = config.agent.records_db
    if must_exist and not Path(path).exists():
        raise UsageError(f"no records store at {path} yet; run `backup-agent verify` first")
    return local_store(config, readonly=True)


def open_shared(config: Config) -> SharedStore:
    """The shared store, its schema checked, with this agent's outbox head as an anchor for its chain."""
    from agent.chain_head import Anchor
    from agent.recording import local_store, shared_store

    store = shared_store(config)
    try:
        store.require_schema()
        if Path(config.agent.records_db).exists():
            with local_store(config, readonly=True) as outbox:
                delivered = outbox.delivered(store.identity)
            if delivered:
                store.local_anchors = [Anchor(delivered[0], delivered[1], f"outbox {config.agent.records_db} "
                                              f"(delivered up to #{delivered[0]})", outbox.agent)]
    except BaseException:
        store.close()
        raise
    return store


def moment(text: str | None, zone_name: str | None, option: str) -> datetime | None:
    """Parse a time typed on the command line (agent.clock.parse_moment); a bad one is a usage error."""
    from agent.clock import parse_moment, parse_zone

    if text is None:
        return None
    try:
        return parse_moment(text, parse_zone(zone_name) if zone_name else None)
    except ValueError as error:
        raise UsageError(f"{option}: {error}") from None
