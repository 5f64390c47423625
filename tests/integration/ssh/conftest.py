"""A real OpenSSH server on 127.0.0.1 for the ssh target tests, started once per session.

It stands in for both the Droplet (primary data) and the NAS (copies): each test gets its own
directory tree under the server's root, reached as root with a key (key-only, no PAM). The
server gets its own host key and authorized key; known_hosts pins `[127.0.0.1]:PORT`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.targets.base import TargetContext
from agent.targets.ssh import SshTarget
from tests.integration.ssh.ssh_helpers import make_context, make_target

SSHD = "/usr/sbin/sshd"

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Sshd:
    port: int
    directory: Path
    client_key: Path
    known_hosts: Path
    host_public_key: str  # "ssh-ed25519 AAAA…"
    user: str = "root"

    def options(self, **overrides) -> dict:
        options = {"host": "127.0.0.1", "port": self.port, "user": self.user, "key_file": str(self.client_key),
                   "known_hosts": str(self.known_hosts), "connect_timeout": 5}
        options.update(overrides)
        return options


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def wait_for_banner(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not answer on 127.0.0.1:{port} within {timeout}s")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory) -> Sshd:
    if not os.path.exists(SSHD) or shutil.which("ssh-keygen") is None:
        pytest.skip("openssh-server is not installed (./bootstrap installs it)")
    directory = tmp_path_factory.mktemp("sshd")
    keygen(directory / "host")
    keygen(directory / "client")
    shutil.copy(directory / "client.pub", directory / "authorized_keys")
    port = free_port()
    (directory / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {directory}/host\nPidFile {directory}/sshd.pid\n"
        f"AuthorizedKeysFile {directory}/authorized_keys\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "Subsystem sftp internal-sftp\nMaxSessions 64\nMaxStartups 64\n"
    )
    host_public_key = " ".join((directory / "host.pub").read_text().split()[:2])
    known_hosts = directory / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_public_key}\n")
    os.makedirs("/run/sshd", exist_ok=True)
    log = open(directory / "sshd.log", "wb")  # noqa: SIM115 - closed after the server stops
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(directory / "sshd_config")],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_banner(port)
        yield Sshd(port, directory, directory / "client", known_hosts, host_public_key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def ssh_target(sshd):
    """An SshTarget to the test server, closed after the test."""
    handles = []

    def open_handle(context: TargetContext | None = None, **overrides) -> SshTarget:
        handle = SshTarget(make_target(**{k: v for k, v in overrides.items() if k in ("name", "medium")},
                                       **sshd.options(**{k: v for k, v in overrides.items()
                                                         if k not in ("name", "medium")})),
                           context or make_context())
        handles.append(handle)
        return handle

    yield open_handle
    for handle in handles:
        handle.close()

