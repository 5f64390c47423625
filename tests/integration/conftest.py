"""Fixtures for the integration tests: real restic repositories, real file trees, real configs.

Nothing here is mocked. One restic repository is initialised and backed up once per session
(restic init costs ≈ 3 s) and copied into each test with shutil.copytree, so a test can break its
own copy freely. Every test writes a targets.yaml into its tmp_path, loads it with the product's
own loader (agent.config.load_config) and drives agent.run.run_verification, saving the rotation
state afterwards exactly as `backup-agent verify` does (tests/support/sandbox.py). The helpers
these fixtures use live in tests/support/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import servers
from tests.support.mounts import mounted_tmpfs, on_root_filesystem
from tests.support.postgres import (
    RECORDS_TEMPLATE,
    PostgresServer,
    make_records_template,
    remove,
    start_postgres,
)
from tests.support.restic import ResticTemplate, build_template, write_sample_tree
from tests.support.sandbox import Sandbox


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory `integration` so `-m 'not integration'` leaves them out."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


# --- restic ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def restic_template(tmp_path_factory: pytest.TempPathFactory) -> ResticTemplate:
    if shutil.which("restic") is None:
        pytest.skip("restic is not installed (apt-get install restic); these tests need the real tool")
    return build_template(tmp_path_factory.mktemp("restic-template"))


@pytest.fixture
def make_repo(tmp_path: Path, restic_template: ResticTemplate):
    """Return a function giving a private copy of the template repository at tmp_path/repos/NAME."""

    def make(name: str = "repo", under: Path | None = None) -> Path:
        destination = (under or tmp_path / "repos") / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(restic_template.repo, destination)
        return destination

    return make


# --- plain trees ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sample_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file tree written once per session (mtimes from session start: older than any stamp)."""
    root = tmp_path_factory.mktemp("sample") / "tree"
    write_sample_tree(root)
    return root


# --- configs and runs -------------------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path: Path, restic_template: ResticTemplate) -> Sandbox:
    return Sandbox(tmp_path, restic_template.password_file)


@pytest.fixture
def files_sandbox(tmp_path: Path) -> Sandbox:
    """A sandbox for tests that need no restic (policy, files)."""
    return Sandbox(tmp_path, None)


# --- mounts -----------------------------------------------------------------------------------


@pytest.fixture
def root_fs_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on the root filesystem (the empty mountpoint an unplugged disk leaves behind)."""
    if on_root_filesystem(tmp_path):
        yield tmp_path / "mnt"
        return
    for base in ("/var/tmp", "/root", "/opt"):
        if os.path.isdir(base) and os.access(base, os.W_OK) and on_root_filesystem(Path(base)):
            directory = Path(base) / f"backup-agent-test-{os.getpid()}-{tmp_path.name}"
            directory.mkdir()
            try:
                yield directory / "mnt"
            finally:
                shutil.rmtree(directory, ignore_errors=True)
            return
    pytest.skip("no writable directory on the root filesystem here (tmp_path is on its own mount)")


@pytest.fixture
def tmpfs_mount(root_fs_dir: Path) -> Iterator[Path]:
    """A real mounted filesystem (tmpfs) whose mountpoint directory sits on the root filesystem
    (so unmounting it is an unplug), unmounted afterwards. Needs root."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the healthy-mount case is not testable as this user")
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("mount/umount are not installed")
    mountpoint = root_fs_dir / "ssd-mount"
    mountpoint.mkdir(parents=True)
    with mounted_tmpfs(mountpoint, "size=64m,mode=0755"):
        yield mountpoint


@pytest.fixture
def silent_server():
    """The port of a TCP server on 127.0.0.1 that accepts connections and never says a word (a
    hung sshd or S3 endpoint)."""
    with servers.silent_server() as port:
        yield port


# --- PostgreSQL (the shared records store) --------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (tests/support/postgres.py), with a template
    database holding the records schema; stopped and removed at the end."""
    server = start_postgres()
    try:
        make_records_template(server)
        yield server
    finally:
        remove(server)


@pytest.fixture
def shared_db(postgres: PostgresServer) -> Iterator[str]:
    """A fresh database with the records schema, for this test only; its records_db URL."""
    name = postgres.create_database(RECORDS_TEMPLATE)
    yield postgres.url(name)
    postgres.drop_database(name)


@pytest.fixture
def empty_db(postgres: PostgresServer) -> Iterator[str]:
    """A fresh empty database (no schema: for `records init`); its records_db URL."""
    name = postgres.create_database()
    yield postgres.url(name)
    postgres.drop_database(name)
