"""The demo sandbox (`backup-agent demo --dir DIR`) as the e2e tests use it, and what it declares."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from tests.support.cli import Completed, run_cli

# Copies per dataset the demo declares, the primary included.
EXPECTED_COPIES = {"platform-db": 5, "platform-files": 4, "finance-records": 4, "shipping-docs": 3}


@dataclass
class Demo:
    directory: Path
    config: Path
    build: Completed  # the `demo` command itself (it also runs verify)
    env: dict[str, str]

    @property
    def password(self) -> str:
        return (self.directory / "secrets" / "restic.pass").read_text().strip()

    @property
    def records_db(self) -> Path:
        return self.directory / "state" / "records.sqlite"

    @property
    def metrics_file(self) -> Path:
        return self.directory / "metrics" / "backup_agent.prom"

    def run(self, *args: str, config: Path | None = None, timeout: float = 300) -> Completed:
        """Run `backup-agent --config CONFIG ARGS...` and return what it did."""
        return run_cli(["--config", str(config or self.config), *args], self.env, timeout)

    def record_count(self) -> int:
        with sqlite3.connect(f"file:{self.records_db}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM records").fetchone()[0]
