"""A throwaway PostgreSQL cluster for one validation: initdb in a private directory under the
scratch area, started with a Unix socket in that directory only (listen_addresses = '': no TCP
port at all), stopped with `pg_ctl stop -m immediate` and removed afterwards.

The server and every client run as an unprivileged user (agent.validate.sandbox). The restored
SQL runs as the role `restorer`, owner of the database `restored` but no superuser, so a dump's
content cannot read the host's files or start programs through the server (pg_read_file, COPY …
PROGRAM need superuser); the operator's queries run as that role too.

Should the agent be killed mid-validation, the server notices within a minute that its lock
file is gone once the next run removes the abandoned scratch directory (agent.scratch), and
shuts itself down; it never listened on a network port.
"""

from __future__ import annotations

import glob
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from agent.errors import CommandFailed, CommandTimeout, ExecuteError, ToolMissing
from agent.execute import CompletedCommand, execute
from agent.validate.sandbox import CannotRun, Identity, environment

TOOLS = ("initdb", "pg_ctl", "pg_restore", "psql")
DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"
SUPERUSER = "validate"
RESTORER = "restorer"
DATABASE = "restored"
SOCKET_NAME = ".s.PGSQL.5432"
MAX_SOCKET_PATH = 107  # sun_path, terminating NUL excluded
STOP_SECONDS = 30.0


class Deadline:
    """One validator's time budget, shared by its commands."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise CommandTimeout(f"timed out after {self.seconds:g}s")
        return remaining


def find_tools(bin_dir: str | None) -> dict[str, str]:
    """The PostgreSQL programs, all from one directory: bin_dir when given, else the newest
    /usr/lib/postgresql/N/bin (Debian keeps them off PATH), else the one on PATH. Raise CannotRun
    naming the first one missing."""
    if bin_dir:
        directory = bin_dir
    else:
        found = sorted(glob.glob(DEBIAN_BINARIES), key=lambda d: [int(x) for x in re.findall(r"\d+", d)] or [0])
        found = [d for d in found if os.access(os.path.join(d, "initdb"), os.X_OK)]
        on_path = [d for d in os.environ.get("PATH", "").split(os.pathsep)
                   if d and os.access(os.path.join(d, "initdb"), os.X_OK)]
        directory = found[-1] if found else (on_path[0] if on_path else None)
        if directory is None:
            raise CannotRun("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or on PATH; "
                            "apt-get install postgresql)")
    tools = {}
    for tool in TOOLS:
        path = os.path.join(directory, tool)
        if not os.access(path, os.X_OK):
            raise CannotRun(f"{tool} is not installed in {directory}; the dump cannot be restored here "
                            "(apt-get install postgresql, or set bin_dir)")
        tools[tool] = path
    return tools


@dataclass
class Cluster:
    """`with Cluster(tools, directory, who, deadline) as cluster:` — a running throwaway server,
    stopped on the way out whatever happened. `directory` must already belong to `who`."""

    tools: dict[str, str]
    directory: Path
    who: Identity
    deadline: Deadline
    started: bool = False
    superuser: str = SUPERUSER

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def __enter__(self) -> Cluster:
        self.create()
        self.started = True  # from here on, __exit__ stops whatever did start
        self.start()
        self.sql(self.superuser, "postgres", f"CREATE ROLE {RESTORER} LOGIN",
                 f"CREATE DATABASE {DATABASE} OWNER {RESTORER}")
        return self

    def create(self, hint: str = "choose a shorter agent.scratch_dir") -> None:
        """initdb the cluster (its superuser, trust on its socket) and write its settings.
        Raise CannotRun, with hint as the fix for a socket path too long."""
        socket = self.directory / SOCKET_NAME
        if len(str(socket)) > MAX_SOCKET_PATH:
            raise CannotRun(f"the server's socket path {socket} is longer than the {MAX_SOCKET_PATH} bytes a Unix "
                            f"socket allows; {hint}")
        self.run("initdb", "-D", str(self.data), "-U", self.superuser, "-A", "trust", "-E", "UTF8", "--no-locale",
                 "--no-sync")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(server_settings(self.directory))

    def start(self) -> None:
        """Start the created cluster and wait until it accepts connections. Raise CannotRun."""
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "server.log"), "-w",
                 "-t", str(max(1, int(min(120.0, self.deadline.left())))), "start")

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.stop()

    def run(self, tool: str, *args: str, stdin: Path | None = None, check: bool = True) -> CompletedCommand:
        """Run one PostgreSQL program as the cluster's user, under what is left of the deadline.
        Raise CannotRun for a program that will not start, CommandTimeout, CommandFailed."""
        env, unset = environment(self.directory)
        try:
            return execute(self.who.wrap([self.tools[tool], *args]), timeout=self.deadline.left(), env=env,
                           unset=unset, stdin=stdin, check=check, cwd=str(self.directory))
        except ToolMissing as error:
            raise CannotRun(f"cannot start {tool}: {error}") from error
        except CommandFailed as error:
            if tool in ("initdb", "pg_ctl"):
                raise CannotRun(f"the throwaway PostgreSQL server could not be set up: {_last_line(error)}"
                                f"{self._log_tail()}") from error
            raise

    def sql(self, role: str, database: str, *statements: str) -> None:
        arguments = [a for s in statements for a in ("-c", s)]
        try:
            self.run("psql", "-X", "-q", *self.connection(role, database), "-v", "ON_ERROR_STOP=1", *arguments)
        except CommandFailed as error:
            raise CannotRun(f"the throwaway PostgreSQL server refused to set up: {_last_line(error)}") from error

    def connection(self, role: str, database: str = DATABASE) -> list[str]:
        """psql / pg_restore arguments reaching the server through its socket, as role."""
        return ["-h", str(self.directory), "-U", role, "-d", database]

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (immediate: at once, its data is thrown away; fast: cleanly, to be started
        again); kill the postmaster if pg_ctl cannot."""
        env, unset = environment(self.directory)
        try:
            execute(self.who.wrap([self.tools["pg_ctl"], "-D", str(self.data), "-m", mode, "-w", "-t",
                                   str(int(STOP_SECONDS)), "stop"]), timeout=STOP_SECONDS + 5, env=env,
                    unset=unset, check=False)
        except ExecuteError:
            pass
        pid = _postmaster_pid(self.data)
        if pid is not None:
            _kill(pid)

    def _log_tail(self) -> str:
        try:
            lines = (self.directory / "server.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return f" (server log: {lines[-1]})" if lines else ""


def server_settings(directory: Path) -> str:
    """postgresql.conf lines: a socket in the cluster's directory only, no TCP; no durability
    (the data is thrown away)."""
    quoted = str(directory).replace("'", "''")
    return ("\n# backup-agent restore validation: socket only, throwaway data\n"
            "listen_addresses = ''\n"
            f"unix_socket_directories = '{quoted}'\n"
            "unix_socket_permissions = 0700\n"
            "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n"
            "max_connections = 10\nlogging_collector = off\n")


def _postmaster_pid(data: Path) -> int | None:
    try:
        first = (data / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        return int(first)
    except (OSError, ValueError):
        return None


def _kill(pid: int) -> None:
    """The postmaster outlived `pg_ctl stop`: SIGQUIT (immediate shutdown), then SIGKILL."""
    for sig, wait in ((signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def _last_line(error: ExecuteError) -> str:
    lines = [line for line in (error.stderr or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else str(error)
