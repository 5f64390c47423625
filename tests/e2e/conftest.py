"""End-to-end fixtures: the real `backup-agent` CLI, run as a subprocess, on the demo sandbox.

The sandbox (`backup-agent demo --dir TMP`: sample data, a primary and copies on local stand-ins,
three real restic repositories) is built once per session (≈ 10 s) and shared; tests that would
damage it work on a copy. Every test here is marked `e2e`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CLI = str(Path(sys.executable).with_name("backup-agent"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory `e2e` so `-m 'not e2e'` leaves them out."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def agent_env(tmp: Path) -> dict[str, str]:
    """The environment for the CLI: no inherited config path or pinned clock, HOME in the sandbox
    so nothing (restic's cache included) is written outside it."""
    env = {k: v for k, v in os.environ.items() if k not in ("BACKUP_AGENT_CONFIG", "BACKUP_AGENT_NOW")}
    env["HOME"] = str(tmp / "home")
    env["XDG_CACHE_HOME"] = str(tmp / "home" / ".cache")
    return env


@dataclass
class Completed:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.stdout)


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


def run_cli(args: list[str], env: dict[str, str], timeout: float = 300) -> Completed:
    started = time.monotonic()
    result = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=timeout)
    return Completed([CLI, *args], result.returncode, result.stdout, result.stderr, time.monotonic() - started)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The demo sandbox, built once with `backup-agent demo --dir TMP --json`."""
    root = tmp_path_factory.mktemp("e2e-demo")
    env = agent_env(root)
    directory = root / "sandbox"
    build = run_cli(["demo", "--dir", str(directory), "--json"], env, timeout=600)
    assert build.returncode == 0, f"demo failed ({build.returncode}):\n{build.stderr}"
    return Demo(directory, directory / "targets.yaml", build, env)


@pytest.fixture(scope="session")
def verify_json(demo: Demo) -> Completed:
    """One unfiltered `verify --json` on the sandbox, shared by the contract tests."""
    return demo.run("verify", "--json")


@pytest.fixture(scope="session")
def verify_text(demo: Demo) -> Completed:
    """One unfiltered `-vv verify` (table on stdout, debug log on stderr), for readability and secrets."""
    return demo.run("-vv", "verify")


@pytest.fixture()
def sandbox_copy(demo: Demo, tmp_path: Path) -> Callable[[], Path]:
    """Return a function that copies the sandbox's config and state into tmp_path (for damaging tests)."""
    import shutil

    def make() -> Path:
        target = tmp_path / "sandbox"
        shutil.copytree(demo.directory, target, symlinks=True)
        return target / "targets.yaml"

    return make
