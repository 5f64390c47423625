"""Real pg_dump files for the restore-validate tests, made by Debian's PostgreSQL 15.

A source cluster runs as the `postgres` user in a temporary directory, on a Unix socket only, just
long enough to write the dumps; it is stopped and removed before the tests use them:
- good.dump (custom format) and good.sql (plain) of a database whose `shipments` holds 3 rows;
- empty.dump: the same schema, `shipments` empty;
- killed.dump: pg_dump SIGKILLed while writing, so the file ends mid-table (a failed dump job).

Also: a directory usable as agent.scratch_dir by a server that runs as another user (every
directory above it is searchable; tmp_path's are not).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SERVER_USER = "postgres"  # created by Debian's postgresql package
SCHEMA = "CREATE TABLE shipments (id int PRIMARY KEY, customer text NOT NULL, shipped date NOT NULL);"
ROWS = "INSERT INTO shipments VALUES (1, 'Acme', '2026-11-01'), (2, '华南贸易', '2026-11-02'), (3, 'Globex', '2026-11-03');"
# Dumped before shipments (pg_dump goes by name) and large enough to be killed in the middle of.
BIG = "CREATE TABLE big (id int, pad text); INSERT INTO big SELECT g, repeat('x', 200) || g FROM generate_series(1, 100000) g;"
KILL_AT_BYTES = 1_000_000


def bin_dir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not found or os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs Debian's postgresql (apt-get install postgresql), root and setpriv")
    return found[-1]


@contextmanager
def open_directory() -> Iterator[Path]:
    """A fresh directory under /tmp that other users may search (mode 0711), removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="ba-pg-", dir="/tmp"))
    directory.chmod(0o711)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _as_server(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", SERVER_USER, "--", *command], capture_output=True, text=True,
                          check=True, timeout=120, **kwargs)


def make_dumps(destination: Path) -> dict[str, Path]:
    """Write good.dump, good.sql, empty.dump and killed.dump into destination; return them by name."""
    tools = bin_dir()
    with open_directory() as work:
        cluster = work / "src"
        cluster.mkdir(mode=0o700)
        shutil.chown(cluster, SERVER_USER)
        _as_server([f"{tools}/initdb", "-D", str(cluster / "data"), "-U", "src", "-A", "trust", "--no-sync"])
        _as_server([f"{tools}/pg_ctl", "-D", str(cluster / "data"), "-l", str(cluster / "log"), "-w", "-o",
                    f"-c listen_addresses='' -k {cluster} -c fsync=off", "start"])
        try:
            return _dump_all(tools, cluster, destination)
        finally:
            _as_server([f"{tools}/pg_ctl", "-D", str(cluster / "data"), "-m", "immediate", "-w", "stop"])


def _dump_all(tools: str, cluster: Path, destination: Path) -> dict[str, Path]:
    def psql(database: str, sql: str) -> None:
        subprocess.run([f"{tools}/psql", "-X", "-q", "-h", str(cluster), "-U", "src", "-d", database,
                        "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True, timeout=120)

    def dump(database: str, target: Path, *options: str) -> Path:
        with open(target, "wb") as out:
            subprocess.run([f"{tools}/pg_dump", "-h", str(cluster), "-U", "src", *options, database], stdout=out,
                           check=True, timeout=120)
        return target

    for database, sql in (("full_db", SCHEMA + ROWS), ("empty_db", SCHEMA), ("killed_db", SCHEMA + ROWS + BIG)):
        psql("postgres", f"CREATE DATABASE {database}")
        psql(database, sql)
    destination.mkdir(parents=True, exist_ok=True)
    dumps = {"good.dump": dump("full_db", destination / "good.dump", "-Fc"),
             "good.sql": dump("full_db", destination / "good.sql"),
             "empty.dump": dump("empty_db", destination / "empty.dump", "-Fc")}
    dumps["killed.dump"] = _killed_dump(tools, cluster, destination / "killed.dump")
    return dumps


def _killed_dump(tools: str, cluster: Path, target: Path) -> Path:
    """pg_dump SIGKILLed once it has written KILL_AT_BYTES: `big` is cut, `shipments` never written."""
    with open(target, "wb") as out:
        process = subprocess.Popen([f"{tools}/pg_dump", "-h", str(cluster), "-U", "src", "-Fc", "-Z0", "killed_db"],
                                   stdout=out)
        deadline = time.monotonic() + 60
        while target.stat().st_size < KILL_AT_BYTES and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, "pg_dump finished before it could be killed"
    return target
