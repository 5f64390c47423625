"""`backup-agent demo --fleet`: the shared records store — a throwaway PostgreSQL cluster in the
sandbox (agent.validate.pg_cluster: initdb, a socket in DIR/postgres only, no TCP port).

Debian's `postgresql` package provides the server; without it the demo stops (exit 3) before
building anything: the embedded SQLite store holds one agent's chain, so it cannot show agents
crediting one another. The server refuses to run as root: as root it runs as the service user
`backup-agent` when there is one, else as `postgres` (the package's own user).

The schema is made by the product (`SharedStore.init`, as `records init` does) as the cluster's
owner; the agents log in as the role `agents`, which may only INSERT and SELECT, as the README's
records section sets up a real store.
"""

from __future__ import annotations

import pwd
import shlex
from pathlib import Path

from agent.errors import AgentError
from agent.fleet_demo import store_url
from agent.validate.pg_cluster import Cluster, Deadline, find_tools
from agent.validate.sandbox import CannotRun, Identity, identity, unreachable_parent

OWNER = "qef_owner"
SERVER_USERS = ("backup-agent", "postgres")  # as root, the first that exists runs the server
SETUP_SECONDS = 600.0
GRANTS = (
    "CREATE ROLE backup_agents NOLOGIN",
    "GRANT CONNECT ON DATABASE {database} TO backup_agents",
    "GRANT USAGE ON SCHEMA public TO backup_agents",
    "GRANT SELECT, INSERT ON records TO backup_agents",
    "GRANT SELECT ON schema_version TO backup_agents",
    "CREATE ROLE {role} LOGIN IN ROLE backup_agents",
)


def server_user() -> Identity:
    """Who runs the server: this user, or as root an unprivileged one. Raise CannotRun."""
    for name in SERVER_USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return identity(name, needs_unprivileged=True)
    return identity(None, needs_unprivileged=True)


def cluster(directory: Path, seconds: float = SETUP_SECONDS) -> Cluster:
    """The demo's cluster in directory (not started). Raise CannotRun when PostgreSQL is not
    installed (the message names the package) or no unprivileged user can run it."""
    return Cluster(find_tools(None), directory, server_user(), Deadline(seconds), superuser=OWNER)


def start(server: Cluster, database: str, role: str) -> None:
    """Create and start the cluster, the database, the records schema and the agents' role.
    Raise CannotRun; the caller stops the server whatever happened once this was called."""
    from agent.records.shared import SharedStore

    server.directory.mkdir(mode=0o700)
    server.who.give(server.directory)
    blocked = unreachable_parent(server.directory, server.who)
    if blocked is not None:
        raise CannotRun(f"the PostgreSQL server runs as {server.who.name}, who cannot enter {blocked}; choose a "
                        "--dir that user can reach, e.g. /var/tmp/backup-agent-fleet-demo")
    server.create(hint="choose a shorter --dir")
    server.started = True
    server.start()
    server.sql(OWNER, "postgres", f"CREATE DATABASE {database} OWNER {OWNER}")
    try:
        with SharedStore(store_url(server.directory, OWNER)) as store:
            store.init()
    except AgentError as error:
        raise CannotRun(f"the records schema could not be created: {error}") from error
    server.sql(OWNER, database, *(grant.format(database=database, role=role) for grant in GRANTS))


def stop_previous(directory: Path) -> None:
    """Stop a cluster a previous demo left running in directory (before the sandbox is rebuilt)."""
    if not (directory / "data" / "postmaster.pid").exists():
        return
    try:
        previous = cluster(directory, seconds=60)
    except CannotRun:
        return
    previous.stop("fast")


def by_hand(server: Cluster) -> tuple[str, str]:
    """The commands that start and stop the cluster again by hand, as its user."""
    prefix = f"runuser -u {shlex.quote(server.who.name)} -- " if server.who.switch else ""
    ctl = f"{prefix}{shlex.quote(server.tools['pg_ctl'])} -D {shlex.quote(str(server.data))}"
    log = shlex.quote(str(server.directory / "server.log"))
    return f"{ctl} -l {log} -w start", f"{ctl} -m fast -w stop"


def running(server: Cluster) -> bool:
    return (server.data / "postmaster.pid").exists()
