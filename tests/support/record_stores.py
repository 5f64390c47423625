"""One records store, either kind, for the tests that run the same on both: the local SQLite store
alone (records_db a file), or the shared PostgreSQL store fed through the local outbox (records_db
a postgresql:// URL). A StoreCase writes records the way the agent does (appended to the local
store, then delivered), reads them through the CLI, and tampers with them the way the store's
owner could (triggers dropped, SQL run directly)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.records import RecordStore
from tests.support.cli import Completed
from tests.support.postgres import PostgresServer
from tests.support.records import db_path, records_cli

AGENT = "vm"


def config_text(records: str = "", name: str = AGENT) -> str:
    """CONFIG of tests.support.records with this agent's name and, optionally, more agent keys."""
    return f"""\
agent: {{state_dir: state, metrics_file: metrics/m.prom, scratch_dir: scratch, operator: 王婧, name: {name}{records}}}
processes: {{finance-payments: {{name: "财务付款 / Finance payments", rpo: 24h, rto: 48h}}}}
targets:
  droplet: {{kind: local, medium: cloud-vm, location: do-sgp1, require_mount: false}}
datasets:
  finance-records:
    process: finance-payments
    primary: {{target: droplet, form: files, path: primary}}
"""


def shared_keys(url: str, server: PostgresServer) -> str:
    return f", records_db: '{url}', records_password_file: '{server.password_file}'"


@dataclass
class StoreCase:
    """A config directory (targets.yaml, state/) whose records store is of `kind`."""

    kind: str  # "sqlite" or "postgresql"
    directory: Path
    url: str | None = None
    server: PostgresServer | None = None
    agent: str = AGENT

    @classmethod
    def make(cls, kind: str, directory: Path, url: str | None = None, server: PostgresServer | None = None,
             agent: str = AGENT) -> StoreCase:
        directory.mkdir(parents=True, exist_ok=True)
        case = cls(kind, directory, url, server, agent)
        records = shared_keys(url, server) if kind == "postgresql" else ""
        (directory / "targets.yaml").write_text(config_text(records, agent), encoding="utf-8")
        return case

    @property
    def shared(self) -> bool:
        return self.kind == "postgresql"

    @property
    def local_path(self) -> Path:
        return db_path(self.directory)

    def append(self, rows: list[dict[str, Any]]) -> tuple[int, int]:
        """Append rows as this agent, then deliver them (shared store); return the local numbers."""
        with RecordStore(self.local_path, agent=self.agent) as local:
            numbers = local.append(rows)
        if self.shared:
            self.sync()
        return numbers

    def sync(self) -> None:
        from agent.records import outbox
        from agent.records.shared import SharedStore

        with RecordStore(self.local_path, agent=self.agent) as local, \
                SharedStore(self.url, password_file=self.server.password_file, agent=self.agent) as shared:
            outbox.deliver(local, shared)

    def cli(self, *args: str) -> Completed:
        return records_cli(self.directory, *args)

    def reader(self):
        """The store as the CLI reads it (the shared one with this agent's outbox as an anchor)."""
        from agent.cli.common import open_shared
        from agent.config import load_config

        config = load_config(self.directory / "targets.yaml", reads_targets=False)
        return open_shared(config) if self.shared else RecordStore(self.local_path, readonly=True)

    def execute(self, statement: str, params: tuple = ()) -> list[tuple]:
        """Run SQL on the store as its owner (PostgreSQL: the superuser; %s placeholders either way)."""
        if self.shared:
            with self.server.admin(self.url.rsplit("/", 1)[1]) as db:
                cursor = db.execute(statement, params)
                return cursor.fetchall() if cursor.description else []
        db = sqlite3.connect(self.local_path, isolation_level=None)
        try:
            return db.execute(statement.replace("%s", "?"), params).fetchall()
        finally:
            db.close()

    def drop_trigger(self, name: str) -> None:
        self.execute(f"DROP TRIGGER {name}" + (" ON records" if self.shared else ""))

    def tamper(self, statement: str, params: tuple = (), *triggers: str) -> None:
        """Run statement with the given triggers dropped first (the owner's way around them)."""
        for trigger in triggers:
            self.drop_trigger(trigger)
        self.execute(statement, params)
