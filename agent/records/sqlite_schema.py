"""The local SQLite records store's schema: its versions, creating it, and migrating an older one.

Schema 1 (before agents were named): one table `records`, no version table. Schema 2 adds the
columns `agent`, `seq` and `chain` (ALTER TABLE, so they come after `hash`), the tables
`schema_version`, `store_agent` (the one agent whose chain the store holds) and `outbox` (how far
each shared store has received that chain). Migrating never rewrites a record: rows written under
schema 1 keep NULL in the new columns and read as chain 1, seq = record_no, agent = the store's
agent; their hashes verify as they always did.
"""

from __future__ import annotations

import sqlite3

from agent import __version__
from agent.clock import iso, now
from agent.errors import AgentError
from agent.records.fields import CHAINED_V1, IDENTITY

SCHEMA_VERSION = 2
# The first store's columns, then the ones schema 2 added: one layout whether created or migrated.
LAYOUT = (*CHAINED_V1, "hash", *IDENTITY)

_RECORDS = f"""
CREATE TABLE IF NOT EXISTS records (
    {", ".join(f"{c} {'INTEGER PRIMARY KEY' if c == 'record_no' else ''}" for c in LAYOUT[:len(CHAINED_V1) + 1])}
)"""
_SCHEMA_2 = (
    "CREATE INDEX IF NOT EXISTS records_time ON records (recorded_at)",
    "CREATE INDEX IF NOT EXISTS records_run ON records (run_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS records_agent_seq ON records (agent, seq)",
    "CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records "
    "BEGIN SELECT RAISE(ABORT, 'QEF-19-05 records are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records "
    "BEGIN SELECT RAISE(ABORT, 'QEF-19-05 records are append-only (kept 5 years)'); END",
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL, "
    "agent_version TEXT)",
    "CREATE TABLE IF NOT EXISTS store_agent (agent TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS outbox (store TEXT PRIMARY KEY, agent TEXT NOT NULL, seq INTEGER NOT NULL, "
    "hash TEXT NOT NULL, delivered_at TEXT NOT NULL)",
)


class SchemaTooNew(AgentError):
    """The store was written by a newer agent: this one cannot read or extend it (exit code 3)."""


def tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def columns(db: sqlite3.Connection) -> set[str]:
    return {row[1] for row in db.execute("PRAGMA table_info(records)")}


def version(db: sqlite3.Connection) -> int:
    """The store's schema version: 0 when there is no records table, 1 for the first layout."""
    present = tables(db)
    if "records" not in present:
        return 0
    if "schema_version" not in present:
        return 2 if "agent" in columns(db) else 1
    return db.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 1


def refuse_newer(found: int, where: str) -> None:
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(f"the records store {where} has schema version {found}, newer than this agent understands "
                           f"({SCHEMA_VERSION}); upgrade backup-agent. Nothing was read or written")


def stored_agent(db: sqlite3.Connection) -> str | None:
    if "store_agent" not in tables(db):
        return None
    row = db.execute("SELECT agent FROM store_agent LIMIT 1").fetchone()
    return row[0] if row else None


def legacy_agent(db: sqlite3.Connection) -> str | None:
    """The host named by the newest schema-1 record, as an agent name (None without one)."""
    from agent.agent_name import agent_name_from

    if "records" not in tables(db):
        return None
    row = db.execute("SELECT agent_host FROM records ORDER BY record_no DESC LIMIT 1").fetchone()
    return agent_name_from(row[0]) if row and row[0] else None


def ensure(db: sqlite3.Connection, agent: str, where: str) -> tuple[int, int]:
    """Create or migrate the schema inside the caller's transaction; return (version found, now).
    The store's agent becomes `agent` when it has none yet. Raise SchemaTooNew."""
    found = version(db)
    refuse_newer(found, where)
    if found < SCHEMA_VERSION:
        db.execute(_RECORDS)
        for column in IDENTITY:
            if column not in columns(db):
                db.execute(f"ALTER TABLE records ADD COLUMN {column}")
        for statement in _SCHEMA_2:
            db.execute(statement)
        stamp = iso(now())
        if found == 1:
            db.execute("INSERT OR IGNORE INTO schema_version VALUES (1, ?, NULL)", (stamp,))
        db.execute("INSERT OR IGNORE INTO schema_version VALUES (?, ?, ?)", (SCHEMA_VERSION, stamp, __version__))
    if stored_agent(db) is None:
        db.execute("INSERT INTO store_agent (agent) VALUES (?)", (agent,))
    return found, SCHEMA_VERSION
