"""A real PostgreSQL server on 127.0.0.1 for the shared records store's tests (Debian's `postgresql`).

The server refuses to run as root, so when the tests run as root it runs as the `postgres` user
the Debian package creates (`runuser -u postgres`), in a temporary directory that user owns:
`initdb` (superuser `owner`; trust on its unix socket, SCRAM passwords over TCP), then `pg_ctl
start` listening on 127.0.0.1 on a free port with the socket in that directory, and `pg_ctl stop`
by the end (its postmaster killed by PID should it linger). The product connects over TCP with a
password from a file, as an agent does; test set-up uses the superuser over the socket.

Each test gets a fresh database, cloned from a template that already holds the records schema
(`CREATE DATABASE … TEMPLATE`, ≈ 0.1 s) or from template0 (empty). fsync is off: nothing here
tests the server's own durability, and the tests stop it cleanly.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.servers import free_port

OWNER, PASSWORD = "owner", "owner-secret-19-05"
RECORDS_TEMPLATE = "records_template"
_counter = itertools.count(1)


def bin_dir() -> Path | None:
    """The newest installed server's binaries (/usr/lib/postgresql/N/bin), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class PostgresServer:
    """One running cluster: its directory, port, and how to reach it."""

    directory: Path
    port: int
    bin: Path
    password_file: Path
    databases: list[str] = field(default_factory=list)
    durable: bool = False  # fsync on and the default settings (the benchmark), else fsync off

    @property
    def data(self) -> Path:
        return self.directory / "pg" / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory / "pg"

    def url(self, database: str, user: str = OWNER) -> str:
        """The product's records_db URL (TCP, no password in it)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def admin(self, database: str = "postgres"):
        """A superuser connection over the unix socket (autocommit), for set-up and tampering."""
        import psycopg

        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=OWNER, dbname=database,
                               autocommit=True)

    def create_database(self, template: str = "template0") -> str:
        name = f"t{os.getpid()}_{next(_counter)}"
        with self.admin() as db:
            db.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self.databases.append(name)
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(_as_server_user([str(self.bin / "pg_ctl"), "-D", str(self.data), *args]), check=True,
                       capture_output=True, timeout=timeout)

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} -c max_connections=60"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off -c shared_buffers=32MB"
        self._ctl("-l", str(self.directory / "pg" / "log"), "-w", "-t", "60", "-o", options, "start")

    def stop(self) -> None:
        """Stop the server (fast shutdown); kill its postmaster by PID if pg_ctl cannot."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            self._ctl("-m", "fast", "-w", "-t", "30", "stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int(pid_file.read_text().splitlines()[0])
                os.kill(pid, signal.SIGKILL)
                time.sleep(0.5)

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


def start_postgres(durable: bool = False) -> PostgresServer:
    """initdb and start a cluster in a fresh directory under /tmp (the server user must reach it).
    durable: keep the server's defaults (fsync on), as the benchmark measures a real server."""
    binaries = bin_dir()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql; ./bootstrap test installs "
                    "them): the shared records store's tests need a real server")
    directory = Path(tempfile.mkdtemp(prefix="backup-agent-pg-"))
    directory.chmod(0o755)
    (directory / "pg").mkdir()
    secret = directory / "pg" / "owner.pass"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    if os.geteuid() == 0:
        shutil.chown(directory / "pg", "postgres")
        shutil.chown(secret, "postgres")
    subprocess.run(_as_server_user([str(binaries / "initdb"), "-D", str(directory / "pg" / "data"), "-U", OWNER,
                                    "--pwfile", str(secret), "--auth-local=trust", "--auth-host=scram-sha-256",
                                    "-E", "UTF8", "--locale=C.UTF-8", "-N"]),
                   check=True, capture_output=True, timeout=120)
    password_file = directory / "owner.pass"  # the agents' copy, readable by this process
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    server = PostgresServer(directory, free_port(), binaries, password_file, durable=durable)
    server.start()
    return server


def make_records_template(server: PostgresServer) -> None:
    """A database holding the records schema, made by the product's own `SharedStore.init`."""
    from agent.records.shared import SharedStore

    with server.admin() as db:
        db.execute(f'CREATE DATABASE "{RECORDS_TEMPLATE}" TEMPLATE template0')
    with SharedStore(server.url(RECORDS_TEMPLATE), password_file=server.password_file) as store:
        store.init()


def remove(server: PostgresServer) -> None:
    server.stop()
    shutil.rmtree(server.directory, ignore_errors=True)
