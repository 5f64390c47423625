"""`config check`: what a night's run needs on this machine — referenced files readable, password_env
set, password_command's program present, local copy paths there — without contacting any host.
In-process (agent.config_check), against real files in tmp_path.

Unreadable files: the suite runs as root, and root reads any file whatever its mode, so a mode-000
file proves nothing as root. The tests that need an unreadable file switch this process's
*effective* uid and gid to nobody (os.seteuid, restored in a finally) around the check, which
asks the kernel with os.access(effective_ids=True): the kernel really refuses, nothing is faked.
They skip, saying so, when the process is not root (it could not switch back).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from agent.config import Config, parse_config
from agent.config_check import check_config, check_readiness
from agent.errors import ConfigError
from tests.support.configs import minimal

NOBODY = 65534


def ready(tmp_path: Path, document: dict | None = None) -> Config:
    """The minimal config with every file and local path it names present in tmp_path."""
    for directory in ("primary", "copy"):
        (tmp_path / directory).mkdir(exist_ok=True)
    for name in ("k", "kh", "pw"):
        (tmp_path / name).write_text("x\n")
    return parse_config(document or minimal(), tmp_path / "targets.yaml", environ={})


def on_root_filesystem(path: Path) -> bool:
    return os.stat(path).st_dev == os.stat("/").st_dev


@contextlib.contextmanager
def as_nobody() -> Iterator[None]:
    """Run the block with effective uid and gid nobody (see the module docstring)."""
    if os.geteuid() != 0:
        pytest.skip("switching the effective uid needs root; run as root to test unreadable files")
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory anyone may enter (pytest's tmp_path is root's alone)."""
    directory = Path(tempfile.mkdtemp(prefix="backup-agent-readiness-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_a_ready_installation_has_no_problem(tmp_path: Path) -> None:
    found = check_readiness(ready(tmp_path), environ={"PATH": os.defpath})
    assert (found.errors, found.warnings) == ([], [])


def test_a_missing_password_file_is_an_error_with_its_key_path(tmp_path: Path) -> None:
    config = ready(tmp_path)
    (tmp_path / "pw").unlink()
    assert check_readiness(config).errors == [f"datasets.d.copies[1].password_file: {tmp_path / 'pw'} does not exist"]


def test_a_directory_where_a_file_is_expected_is_an_error(tmp_path: Path) -> None:
    config = ready(tmp_path)
    (tmp_path / "k").unlink()
    (tmp_path / "k").mkdir()
    assert check_readiness(config).errors == [
        f"targets.nas.key_file: {tmp_path / 'k'} is a directory; a file is expected here"]


def test_one_missing_file_used_by_several_keys_is_one_problem(tmp_path: Path) -> None:
    document = minimal()
    document["targets"]["nas"]["known_hosts"] = "k"
    config = ready(tmp_path, document)
    (tmp_path / "k").unlink()
    assert check_readiness(config).errors == [
        f"targets.nas.key_file: {tmp_path / 'k'} does not exist (also targets.nas.known_hosts)"]


def test_a_mode_000_file_is_unreadable_for_a_user_that_is_not_root(tmp_path: Path, open_dir: Path) -> None:
    document = minimal()
    document["datasets"]["d"]["copies"][1]["password_file"] = str(open_dir / "pw")
    config = ready(tmp_path, document)
    (open_dir / "pw").write_text("secret\n")
    (open_dir / "pw").chmod(0o000)
    assert not [e for e in check_readiness(config).errors if "password_file" in e], "root reads it"
    with as_nobody():
        errors = check_readiness(config).errors
    assert f"datasets.d.copies[1].password_file: {open_dir / 'pw'} is not readable by the running user " \
           f"(uid {NOBODY})" in errors, errors


def test_a_file_behind_a_directory_without_search_permission_cannot_be_reached(tmp_path: Path,
                                                                                open_dir: Path) -> None:
    (open_dir / "ssh").mkdir(mode=0o700)
    (open_dir / "ssh" / "known_hosts").write_text("host ssh-ed25519 AAAA\n")
    (open_dir / "ssh" / "known_hosts").chmod(0o644)
    document = minimal()
    document["targets"]["nas"]["known_hosts"] = str(open_dir / "ssh" / "known_hosts")
    config = ready(tmp_path, document)
    with as_nobody():
        errors = check_readiness(config).errors
    assert f"targets.nas.known_hosts: {open_dir / 'ssh' / 'known_hosts'} cannot be reached by the running user " \
           f"(uid {NOBODY}): a directory on the way denies search" in errors, errors


@pytest.mark.parametrize(("environ", "state"), [({}, "is not set"), ({"RESTIC_PW": ""}, "is set but empty")])
def test_an_unset_password_env_is_an_error(tmp_path: Path, environ: dict, state: str) -> None:
    document = minimal()
    document["datasets"]["d"]["copies"][1] = {"target": "nas", "form": "restic", "path": "/r",
                                              "password_env": "RESTIC_PW"}
    config = ready(tmp_path, document)
    (error,) = check_readiness(config, environ=environ).errors
    assert error.startswith(f"datasets.d.copies[1].password_env: the environment variable RESTIC_PW {state}")
    assert check_readiness(config, environ={"RESTIC_PW": "hunter2"}).errors == []


@pytest.mark.parametrize(("command", "problem"), [
    ("no-such-password-tool --get restic", "its program 'no-such-password-tool' is not on PATH"),
    ("/nonexistent/bin/getpw restic", "its program /nonexistent/bin/getpw is not an executable file"),
    ("{tmp}/pw --get", "its program {tmp}/pw is not an executable file"),  # a plain mode-0644 file
    ("cat 'unclosed", "cannot be split into words"),
])
def test_a_password_command_whose_program_is_missing_is_an_error(tmp_path: Path, command: str, problem: str) -> None:
    document = minimal()
    document["datasets"]["d"]["copies"][1] = {"target": "nas", "form": "restic", "path": "/r",
                                              "password_command": command.format(tmp=tmp_path)}
    (error,) = check_readiness(ready(tmp_path, document)).errors
    assert error.startswith(f"datasets.d.copies[1].password_command: {problem.format(tmp=tmp_path)}"), error


def test_a_password_command_is_never_run(tmp_path: Path) -> None:
    witness = tmp_path / "the-command-ran"
    document = minimal()
    document["datasets"]["d"]["copies"][1] = {"target": "nas", "form": "restic", "path": "/r",
                                              "password_command": f"touch {witness}"}
    assert check_readiness(ready(tmp_path, document)).errors == []
    assert not witness.exists()


def test_a_missing_local_path_is_an_error(tmp_path: Path) -> None:
    config = ready(tmp_path)
    (tmp_path / "copy").rmdir()
    assert check_readiness(config).errors == [f"datasets.d.copies[0].path: path does not exist: {tmp_path / 'copy'}"]


def test_a_removable_disk_not_mounted_now_is_one_warning_not_an_error(tmp_path: Path) -> None:
    if not on_root_filesystem(tmp_path):
        pytest.skip("tmp_path is on its own mount here: it would read as a mounted disk")
    document = minimal()
    del document["targets"]["disk"]["require_mount"]  # an hdd: require_mount defaults to true
    document["targets"]["disk"]["mountpoint"] = "mnt-hdd"  # not even its mountpoint directory is there
    config = ready(tmp_path, document)
    (tmp_path / "copy").rmdir()
    found = check_readiness(config)
    assert found.errors == []
    (warning,) = found.warnings
    assert warning.startswith("targets.disk: not mounted: ") and warning.endswith("datasets.d.copies[0].path")
    assert "normal for a removable hdd" in warning


def test_a_declared_mountpoint_that_is_not_a_directory_is_an_error(tmp_path: Path) -> None:
    document = minimal()
    document["targets"]["disk"]["mountpoint"] = "k"
    assert f"targets.disk.mountpoint: {tmp_path / 'k'} is not a directory" in check_readiness(
        ready(tmp_path, document)).errors


def write_config(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_offline_checks_the_file_alone_and_lists_unset_variables(tmp_path: Path) -> None:
    document = minimal()
    document["targets"]["nas"]["key_file"] = "${CREDENTIALS_DIRECTORY}/id_ed25519"
    document["datasets"]["d"]["copies"][1]["password_env"] = "RESTIC_PW"
    del document["datasets"]["d"]["copies"][1]["password_file"]
    path = write_config(tmp_path, document)  # and none of the files or paths it names exist
    found = check_config(path, offline=True, environ={})
    assert (found.errors, found.warnings) == ([], [])
    assert found.not_checked == ["targets.nas.key_file: ${CREDENTIALS_DIRECTORY} is not set here"]
    with pytest.raises(ConfigError, match=r"targets.nas.key_file: \$\{CREDENTIALS_DIRECTORY\} is not set"):
        check_config(path, environ={})
    found = check_config(path, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert any(e.startswith("targets.nas.known_hosts: ") for e in found.errors)
    assert any(e.startswith("datasets.d.copies[1].password_env: ") for e in found.errors)
    assert any(e.startswith("datasets.d.primary.path: ") for e in found.errors)
