"""The shared QEF-19-05 records store: PostgreSQL (psycopg 3), every agent's chain in one table.

Agents never write to it directly: each writes its records into its local store first (the
outbox, agent.records.outbox) and delivers them from there, already numbered and hashed, so an
unreachable server delays records and never loses them. `deliver` inserts idempotently on (agent,
seq) and reads back what the server holds: a record already there with another hash is a loud
DeliveryConflict, never skipped. Readers (`records list|export|verify`, the report) read every
agent from here.

The URL is libpq's (`postgresql://user@host:port/db?sslmode=verify-full&sslrootcert=…`) and never
carries a password: that comes from libpq's passfile (~/.pgpass, PGPASSFILE), PGPASSWORD, or the
file `agent.records_password_file` names, read when connecting and handed to libpq alone.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from agent import __version__
from agent.chain_head import Anchor
from agent.clock import iso
from agent.errors import AgentError, StoreUnreadable
from agent.records import pg_schema
from agent.records.chain import AgentHead, ChainReport, ChainReports, anchors_of, reaches, walk
from agent.records.fields import COLUMNS, normalize, record_hash
from agent.records.sqlite_schema import SchemaTooNew
from agent.records_url import display_url, is_shared_url, url_problem

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_SECONDS = 10
_SELECT = ", ".join(COLUMNS)


class SharedStoreError(AgentError):
    """The shared store cannot be used now (unreachable, no schema, refused): exit code 3."""


class Unreachable(SharedStoreError, StoreUnreadable):
    """The server did not answer or refused the connection: records wait in the outbox."""


class DeliveryConflict(SharedStoreError):
    """The shared store holds a different record under an (agent, seq) being delivered."""


def read_password(path: Path | None) -> str | None:
    """The password in path (its first line), or None without a path. Raise SharedStoreError."""
    if path is None:
        return None
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeError) as error:
        raise SharedStoreError(f"cannot read agent.records_password_file {path}: {error}") from error
    return lines[0] if lines else ""


class SharedStore:
    """A connection to the shared store. agent: this machine's agent, whose chain an anchor that
    names no agent speaks of. Raise Unreachable when the server cannot be reached."""

    def __init__(self, url: str, *, password_file: Path | None = None, agent: str | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT_SECONDS):
        import psycopg
        from psycopg.rows import dict_row

        self.url = url
        self.identity = display_url(url)
        self.agent = agent
        # Heads known outside the store that every verification checks (this agent's outbox).
        self.local_anchors: list[Anchor] = []
        extra: dict[str, Any] = {}
        password = read_password(password_file)
        if password is not None:
            extra["password"] = password
        try:
            self._db = psycopg.connect(url, connect_timeout=max(1, int(connect_timeout)), row_factory=dict_row,
                                       autocommit=True, application_name="backup-agent", keepalives=1, keepalives_idle=30,
                                       keepalives_interval=10, keepalives_count=3, **extra)
        except psycopg.Error as error:
            raise Unreachable(f"cannot reach the shared records store {self.identity}: {_first_line(error)}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SharedStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self, what: str, work):
        """Run work() (database calls) and turn a server error into SharedStoreError naming `what`."""
        import psycopg

        try:
            return work()
        except psycopg.OperationalError as error:
            raise Unreachable(f"the shared records store {self.identity} failed while {what}: "
                              f"{_first_line(error)}") from None
        except psycopg.Error as error:
            raise SharedStoreError(f"the shared records store {self.identity} refused {what}: "
                                   f"{_first_line(error)}") from None

    # --- schema

    def schema_version(self) -> int:
        """The store's schema version, 0 when it has none yet."""
        def work() -> int:
            present = self._db.execute("SELECT to_regclass('schema_version') AS t").fetchone()["t"]
            if present is None:
                return 0
            return self._db.execute("SELECT max(version) AS v FROM schema_version").fetchone()["v"] or 0
        return self._run("reading its schema version", work)

    def require_schema(self) -> None:
        """Raise SchemaTooNew for a newer schema, SharedStoreError for none or an older one."""
        found = self.schema_version()
        if found > pg_schema.SCHEMA_VERSION:
            raise SchemaTooNew(f"the shared records store {self.identity} has schema version {found}, newer than this "
                               f"agent understands ({pg_schema.SCHEMA_VERSION}); upgrade backup-agent. Nothing was "
                               "read or written")
        if found < pg_schema.SCHEMA_VERSION:
            raise SharedStoreError(f"the shared records store {self.identity} has no records schema yet (version "
                                   f"{found}); run `backup-agent records init` as the database's owner")

    def init(self) -> str:
        """Create the schema when there is none; say what was done. Raise SchemaTooNew, SharedStoreError."""
        found = self.schema_version()
        if found > pg_schema.SCHEMA_VERSION:
            self.require_schema()
        if found == pg_schema.SCHEMA_VERSION:
            return f"{self.identity}: schema version {found}, nothing to do"

        def work() -> None:
            with self._db.transaction():
                self._db.execute(pg_schema.SCHEMA_2)
                self._db.execute("INSERT INTO schema_version (version, agent_version) VALUES (%s, %s)",
                                 (pg_schema.SCHEMA_VERSION, __version__))
        self._run("creating the records schema", work)
        return f"{self.identity}: created the records schema (version {pg_schema.SCHEMA_VERSION})"

    # --- writing

    def deliver(self, records: Sequence[dict[str, Any]]) -> int:
        """Insert records (numbered and hashed by their agent, in sequence order) unless already
        there; return how many were new. All or nothing. Raise DeliveryConflict when the store
        holds another record under one of their (agent, seq), SharedStoreError, Unreachable."""
        if not records:
            return 0
        rows = [self._storable(record) for record in records]
        statement = (f"INSERT INTO records ({', '.join(c for c in COLUMNS if c != 'record_no')}) VALUES "
                     f"({', '.join(['%s'] * (len(COLUMNS) - 1))}) ON CONFLICT (agent, seq) DO NOTHING")

        def work() -> int:
            with self._db.transaction(), self._db.cursor() as cursor:
                cursor.executemany(statement, [[row[c] for c in COLUMNS if c != "record_no"] for row in rows],
                                   returning=False)
                inserted = cursor.rowcount
                self._compare(rows)
                return inserted
        return self._run("the delivery", work)

    def _storable(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record with the values PostgreSQL will hand back; refuse one whose hash they would not give."""
        row = {c: normalize(c, record.get(c)) for c in COLUMNS}
        if record_hash(row["prev_hash"], row) != row["hash"]:
            raise DeliveryConflict(f"record #{row['seq']} of agent {row['agent']!r} does not match its own hash as "
                                   "the shared store would keep it; it was not delivered (`backup-agent records "
                                   "verify --local` checks the outbox)")
        return row

    def _compare(self, rows: Sequence[dict[str, Any]]) -> None:
        agent, seqs = rows[0]["agent"], [row["seq"] for row in rows]
        held = {r["seq"]: r["hash"] for r in self._db.execute(
            "SELECT seq, hash FROM records WHERE agent = %s AND seq = ANY(%s)", (agent, seqs))}
        for row in rows:
            if held.get(row["seq"]) != row["hash"]:
                raise DeliveryConflict(
                    f"the shared store {self.identity} holds record #{row['seq']} of agent {agent!r} with hash "
                    f"{(held.get(row['seq']) or 'none')[:16]}…, but this agent's outbox has {row['hash'][:16]}…: "
                    "another machine uses the same agent.name, or one of the chains was rewritten. Nothing was "
                    "delivered; `backup-agent records verify` on both sides shows which")

    # --- reading

    def head(self, agent: str) -> AgentHead | None:
        def work() -> AgentHead | None:
            row = self._db.execute("SELECT seq, hash, recorded_at FROM records WHERE agent = %s "
                                   "ORDER BY seq DESC LIMIT 1", (agent,)).fetchone()
            return AgentHead(agent, row["seq"], row["hash"], row["recorded_at"]) if row else None
        return self._run("reading a chain head", work)

    def hash_at(self, agent: str, seq: int) -> str | None:
        def work() -> str | None:
            row = self._db.execute("SELECT hash FROM records WHERE agent = %s AND seq = %s", (agent, seq)).fetchone()
            return row["hash"] if row else None
        return self._run("reading a record's hash", work)

    def agents(self) -> list[str]:
        def work() -> list[str]:
            # A loose index scan: one probe of the primary key per agent, however many records.
            found = [r["agent"] for r in self._db.execute(
                "WITH RECURSIVE a AS (SELECT min(agent) AS agent FROM records UNION ALL "
                "SELECT (SELECT min(agent) FROM records WHERE agent > a.agent) FROM a WHERE a.agent IS NOT NULL) "
                "SELECT agent FROM a WHERE agent IS NOT NULL")]
            return found
        return self._run("listing the agents", work)

    def rows(self, since: datetime | str | None = None, until: datetime | str | None = None,
             run_id: str | None = None, kind: str | None = None, agent: str | None = None) -> Iterator[dict[str, Any]]:
        """Records in record_no order (the order the store received them); since (inclusive) and
        until (exclusive) are compared as times."""
        clauses, params = [], []
        for value, operator in ((since, ">="), (until, "<")):
            if value:
                clauses.append(f"records_time(recorded_at) {operator} records_time(%s)")
                params.append(iso(value) if isinstance(value, datetime) else value)
        for column, value in (("run_id", run_id), ("kind", kind), ("agent", agent)):
            if value:
                clauses.append(f"{column} = %s")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        yield from self._stream(f"SELECT {_SELECT} FROM records {where} ORDER BY record_no", params, "reading records")

    def _stream(self, sql: str, params: Sequence[Any], what: str) -> Iterator[dict[str, Any]]:
        """Rows of a query read in batches through a server-side cursor, in one read-only transaction."""
        import psycopg

        try:
            with self._db.transaction(), self._db.cursor(name="records_reader") as cursor:
                cursor.itersize = 2000
                cursor.execute(sql, params)
                yield from cursor
        except psycopg.OperationalError as error:
            raise Unreachable(f"the shared records store {self.identity} failed while {what}: "
                              f"{_first_line(error)}") from None
        except psycopg.Error as error:
            raise SharedStoreError(f"the shared records store {self.identity} refused {what}: "
                                   f"{_first_line(error)}") from None

    def chain(self, agent: str) -> Iterator[dict[str, Any]]:
        """The agent's records in sequence order."""
        yield from self._stream(f"SELECT {_SELECT} FROM records WHERE agent = %s ORDER BY seq", (agent,),
                                f"reading agent {agent}'s chain")

    def verify_chain(self, anchors: Sequence[Anchor] = ()) -> ChainReports:
        """Walk every agent's chain (and that of every agent an anchor names) and compare it with the
        anchors for it; return each agent's report. Raise Unreachable, SharedStoreError."""
        self.require_schema()
        anchors = [*self.local_anchors, *anchors]
        named = {a.agent or self.agent for a in anchors} - {None}
        reports = ChainReports()
        for agent in sorted(set(self.agents()) | named):
            mine = anchors_of(agent, anchors, self.agent)
            with contextlib.closing(self.chain(agent)) as rows:
                reports[agent] = reaches(walk(rows, mine, agent), mine)
        return reports


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


__all__ = ["ChainReport", "DeliveryConflict", "SharedStore", "SharedStoreError", "Unreachable", "display_url",
           "is_shared_url", "url_problem"]
