"""End-to-end fixtures: the real `backup-agent` CLI, run as a subprocess, on the demo sandbox.

The sandbox (`backup-agent demo --dir TMP`: sample data, a primary and copies on local stand-ins,
three real restic repositories) is built once per session (≈ 10 s) and shared; tests that would
damage it work on a copy. Every test here is marked `e2e`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import Completed, agent_env, run_cli
from tests.support.demo import Demo


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory `e2e` so `-m 'not e2e'` leaves them out."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


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
