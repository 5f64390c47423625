"""sqlite: open a restored SQLite database, run `PRAGMA integrity_check` and the dataset's queries.

Read in this process with Python's sqlite3 (no subprocess): the schema of the restored file is
not trusted (`trusted_schema = OFF`), and a progress handler stops any statement once the
validator's time is up. The copy in scratch is thrown away afterwards, so a hot journal or WAL
restored with it is simply replayed there.

fail: not a database, integrity_check reports problems, a query failed or returned nothing,
false, 0 or not its expected value. error: the time ran out.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from agent.errors import CommandTimeout
from agent.models import Status
from agent.units import format_size
from agent.validate.model import Query, ValidatorSpec, Verdict, judge
from agent.validate.pg_cluster import Deadline

ID = "sqlite"
_PROGRESS_STEPS = 10_000  # SQLite VM instructions between looks at the clock


def validate(spec: ValidatorSpec, database: Path, deadline: Deadline) -> Verdict:
    """Check one restored database file. Raise CommandTimeout when the time runs out."""
    try:
        connection = sqlite3.connect(f"file:{quote(str(database))}?mode=rw", uri=True, timeout=1.0,
                                     isolation_level=None, check_same_thread=True)
    except sqlite3.Error as error:
        return Verdict(spec.label, Status.FAIL, f"{database.name} cannot be opened as a database: {error}")
    end = deadline.end
    connection.set_progress_handler(lambda: 1 if time.monotonic() > end else 0, _PROGRESS_STEPS)
    try:
        return _check(spec, connection, database, deadline)
    except sqlite3.OperationalError as error:
        if time.monotonic() > end:
            raise CommandTimeout(f"timed out after {deadline.seconds:g}s") from error
        return Verdict(spec.label, Status.FAIL, f"{database.name}: {error}")
    except sqlite3.DatabaseError as error:
        return Verdict(spec.label, Status.FAIL, f"{database.name} is not a usable SQLite database: {error}")
    finally:
        connection.close()


def _check(spec: ValidatorSpec, connection: sqlite3.Connection, database: Path, deadline: Deadline) -> Verdict:
    connection.execute("PRAGMA trusted_schema = OFF")
    connection.execute("PRAGMA cell_size_check = ON")
    report = [str(row[0]) for row in connection.execute("PRAGMA integrity_check(20)")]
    problems = [] if report == ["ok"] else [f"integrity_check: {'; '.join(report[:3])}"]
    for number, query in enumerate(spec.queries, 1):
        why = _query(connection, query, deadline)
        if why is not None:
            problems.append(f"query {number} `{query.sql}` {why}")
    size = format_size(database.stat().st_size)
    measured = {"database_bytes": database.stat().st_size, "queries": len(spec.queries),
                "integrity_ok": not report or report == ["ok"]}
    if problems:
        return Verdict(spec.label, Status.FAIL, "; ".join(problems) + f" — {database.name} ({size})", measured)
    asked = f"{len(spec.queries)} queries passed" if spec.queries else "no queries given"
    return Verdict(spec.label, Status.PASS, f"{database.name} ({size}): integrity_check ok; {asked}", measured)


def _query(connection: sqlite3.Connection, query: Query, deadline: Deadline) -> str | None:
    try:
        rows = connection.execute(query.sql).fetchmany(1)
    except sqlite3.Error as error:
        if time.monotonic() > deadline.end:
            raise CommandTimeout(f"timed out after {deadline.seconds:g}s") from error
        return f"failed: {error}"
    if not rows:
        return judge(query, None, 0)
    value = rows[0][0] if rows[0] else None
    return judge(query, None if value is None else _text(value), 1)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
