"""Fixtures for the integration tests: real restic repositories, real file trees, real configs.

Nothing here is mocked. One restic repository is initialised and backed up once per session
(restic init costs ≈ 3 s) and copied into each test with shutil.copytree, so a test can break its
own copy freely. Every test writes a targets.yaml into its tmp_path, loads it with the product's
own loader (agent.config.load_config) and drives agent.run.run_verification, saving the rotation
state afterwards exactly as `backup-agent verify` does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import Config, load_config
from agent.models import CheckResult, CopyResult, DatasetResult, RunResult
from agent.run import run_verification, select_datasets

PASSWORD = "correct horse battery staple 19-05"
FRESH_TAG = "platform-db"
STALE_TAG = "archive"
STALE_DAYS = 10


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory `integration` so `-m 'not integration'` leaves them out."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


# --- restic ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResticTemplate:
    """A restic repository built once per session: two snapshots of `data`, tagged FRESH_TAG
    (taken now) and STALE_TAG (taken STALE_DAYS ago with `backup --time`)."""

    repo: Path
    password_file: Path
    data: Path
    cache_dir: Path

    def env(self) -> dict[str, str]:
        """Environment for the tests' own restic calls (set-up and breakage, not the agent's)."""
        return {**os.environ, "RESTIC_CACHE_DIR": str(self.cache_dir), "RESTIC_PASSWORD_FILE": str(self.password_file)}

    def restic(self, repo: Path, *args: str) -> str:
        """Run restic on a repository for test set-up; raise with stderr on failure."""
        done = subprocess.run(["restic", "--repo", str(repo), *args], env=self.env(), capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0:
            raise AssertionError(f"restic {' '.join(args)} failed: {done.stderr}")
        return done.stdout


def write_sample_tree(root: Path) -> None:
    """Write a small but realistic tree: nested directories, text, binary, a file with a space and
    Chinese in its name, and enough incompressible bytes for a data pack of its own."""
    (root / "db").mkdir(parents=True)
    (root / "docs" / "2026").mkdir(parents=True)
    (root / "db" / "lithera-2026-11-23.sql").write_text("-- dump\n" + "INSERT INTO orders VALUES (1);\n" * 2000)
    (root / "db" / "blob.bin").write_bytes(os.urandom(300_000))
    (root / "docs" / "2026" / "invoice-0007.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(40_000))
    (root / "docs" / "2026" / "出货单 11月.txt").write_text("出货 / shipping note\n", encoding="utf-8")
    (root / "docs" / "readme.txt").write_text("finance records\n")
    (root / "empty.txt").write_bytes(b"")


@pytest.fixture(scope="session")
def restic_template(tmp_path_factory: pytest.TempPathFactory) -> ResticTemplate:
    if shutil.which("restic") is None:
        pytest.skip("restic is not installed (apt-get install restic); these tests need the real tool")
    root = tmp_path_factory.mktemp("restic-template")
    password_file = root / "restic.pass"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    data = root / "data"
    write_sample_tree(data)
    template = ResticTemplate(root / "repo", password_file, data, root / "restic-cache")
    template.restic(template.repo, "init")
    template.restic(template.repo, "backup", "--tag", FRESH_TAG, str(data))
    stale_time = (datetime.now() - timedelta(days=STALE_DAYS)).strftime("%Y-%m-%d %H:%M:%S")
    template.restic(template.repo, "backup", "--tag", STALE_TAG, "--time", stale_time, str(data))
    return template


@pytest.fixture
def make_repo(tmp_path: Path, restic_template: ResticTemplate):
    """Return a function giving a private copy of the template repository at tmp_path/repos/NAME."""

    def make(name: str = "repo", under: Path | None = None) -> Path:
        destination = (under or tmp_path / "repos") / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(restic_template.repo, destination)
        return destination

    return make


def pack_files(repo: Path) -> list[Path]:
    """Return a repository's pack files, largest first (the largest holds the file data; the
    small ones hold trees, which plain `restic check` reads)."""
    packs = [p for p in (repo / "data").rglob("*") if p.is_file()]
    return sorted(packs, key=lambda p: p.stat().st_size, reverse=True)


def read_data_group(pack: Path, total: int) -> int:
    """The --read-data-subset group (1-based) restic puts a pack in: the first byte of its ID mod t.
    (restic's selectPacksByBucket; checked against restic 0.14 by test_checks_restic.)"""
    return int(pack.name[:2], 16) % total + 1


def flip_bytes(path: Path, offset: int | None = None, count: int = 8) -> None:
    """Invert `count` bytes in the middle of a file, keeping its mode (restic packs are 0400:
    made writable for the write, then read-only again)."""
    mode = path.stat().st_mode & 0o7777
    path.chmod(0o600)
    size = path.stat().st_size
    offset = size // 2 if offset is None else offset
    with open(path, "r+b") as handle:
        handle.seek(offset)
        original = handle.read(count)
        handle.seek(offset)
        handle.write(bytes(b ^ 0xFF for b in original))
    path.chmod(mode)


# --- plain trees ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sample_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file tree written once per session (mtimes from session start: older than any stamp)."""
    root = tmp_path_factory.mktemp("sample") / "tree"
    write_sample_tree(root)
    return root


def mirror(source: Path, destination: Path, stamp: str | None = ".last-sync") -> Path:
    """Copy a tree the way rsync -a does (mtimes kept), then touch the stamp as a sync job would."""
    shutil.copytree(source, destination, dirs_exist_ok=True)
    if stamp:
        (destination / stamp).write_text("synced\n")
    return destination


# --- configs and runs -------------------------------------------------------------------------


@dataclass
class Sandbox:
    """Builds a targets.yaml in a test's tmp_path, loads it with the product's loader, and runs it.

    Targets are local directories; require_mount is false unless a test asks for it, because
    tmp_path is not a mounted disk (the mount tests are the ones about that)."""

    root: Path
    password_file: Path | None
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    agent: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] | None = None
    processes: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "lithera-platform": {"name": "Lithera 平台 / Lithera platform", "rpo": "1d", "rto": "4h"},
    })

    def target(self, name: str, medium: str, location: str, **options: Any) -> str:
        """Declare a local target; require_mount=None leaves the key out (the medium's default)."""
        options.setdefault("require_mount", False)
        if options["require_mount"] is None:
            del options["require_mount"]
        self.targets[name] = {"kind": "local", "medium": medium, "location": location, **options}
        return name

    def restic_copy(self, target: str, repo: Path, **extra: Any) -> dict[str, Any]:
        copy = {"target": target, "form": "restic", "path": str(repo)}
        if not any(k in extra for k in ("password_file", "password_env", "password_command")):
            copy["password_file"] = str(self.password_file)
        return {**copy, **extra}

    @staticmethod
    def files_copy(target: str, path: Path, stamp: str | None = ".last-sync", **extra: Any) -> dict[str, Any]:
        copy = {"target": target, "form": "files", "path": str(path), **extra}
        if stamp:
            copy["stamp"] = stamp
        return copy

    def dataset(self, name: str, primary: dict[str, Any], copies: list[dict[str, Any]],
                policy: dict[str, Any] | None = None, process: str = "lithera-platform") -> str:
        self.datasets[name] = {"process": process, "primary": primary, "copies": copies}
        if policy is not None:
            self.datasets[name]["policy"] = policy
        return name

    def config(self) -> Config:
        document: dict[str, Any] = {
            "agent": {
                "state_dir": str(self.root / "state"),
                "metrics_file": str(self.root / "metrics" / "backup_agent.prom"),
                "scratch_dir": str(self.root / "scratch"),
                "operator": "测试 / test",
                "concurrency": 4,
                "command_timeout": "5m",
                "read_data_cycle": "3d",     # with schedule_interval 1d: t = 3 read-data groups
                "schedule_interval": "1d",
                **self.agent,
            },
            "processes": self.processes,
            "targets": self.targets,
            "datasets": self.datasets,
        }
        if self.policy is not None:
            document["policy"] = self.policy
        path = self.root / "targets.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return load_config(path)

    def verify(self) -> RunResult:
        """Run a verification of every dataset and keep its rotation state, as `backup-agent verify` does."""
        config = self.config()
        run = run_verification(config, select_datasets(config, (), ()))
        if run.state is not None:
            run.state.save()
        return run


@pytest.fixture
def sandbox(tmp_path: Path, restic_template: ResticTemplate) -> Sandbox:
    return Sandbox(tmp_path, restic_template.password_file)


@pytest.fixture
def files_sandbox(tmp_path: Path) -> Sandbox:
    """A sandbox for tests that need no restic (policy, files)."""
    return Sandbox(tmp_path, None)


# --- reading results --------------------------------------------------------------------------


def dataset_result(run: RunResult, name: str) -> DatasetResult:
    return next(d for d in run.datasets if d.dataset.name == name)


def copy_result(run: RunResult, dataset: str, target: str) -> CopyResult:
    return next(c for c in dataset_result(run, dataset).copies if c.spec.target.name == target)


def check_result(copy: CopyResult, name: str) -> CheckResult:
    found = [c for c in copy.checks if c.name == name]
    assert found, f"check {name} did not run on {copy.spec.key}: {[c.name for c in copy.checks]}"
    return found[0]


def statuses(copy: CopyResult) -> dict[str, str]:
    """{check: status} of one copy, for readable assertion messages."""
    return {c.name: f"{c.status}: {c.detail}" for c in copy.checks}


# --- mounts -----------------------------------------------------------------------------------


def on_root_filesystem(path: Path) -> bool:
    """Independent of the product's own disk module: same device as / means not a separate mount."""
    return os.stat(path).st_dev == os.stat("/").st_dev


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


@contextlib.contextmanager
def mounted_tmpfs(mountpoint: Path, options: str) -> Iterator[Path]:
    """Mount a real tmpfs at mountpoint for the block (skip the test with the reason if this machine
    does not allow it) and unmount it afterwards, lazily if something still holds it."""
    if os.geteuid() != 0 or shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mountpoint)],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        if os.path.ismount(mountpoint):
            subprocess.run(["umount", str(mountpoint)], capture_output=True, timeout=30)
        if os.path.ismount(mountpoint):
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, timeout=30)


@pytest.fixture
def silent_server():
    """The port of a TCP server on 127.0.0.1 that accepts connections and never says a word (a
    hung sshd or S3 endpoint)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()
