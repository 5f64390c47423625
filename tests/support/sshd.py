"""The ssh tests' helpers and the recipe of the real OpenSSH server they (and bench/remote_hash.py)
run on 127.0.0.1: its own host and client keys, key-only, known_hosts pinning `[127.0.0.1]:PORT`."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agent.config import Target
from agent.hash_cache import HashCache
from agent.targets.base import TargetContext
from tests.support.servers import free_port, stop


def make_context(command_timeout: float = 60, hash_workers: int = 2, cache: HashCache | None = None) -> TargetContext:
    return TargetContext(hash_cache=cache or HashCache(None), now=time.time(), rehash_every=30 * 86400,
                         hash_workers=hash_workers, command_timeout=command_timeout)


def make_target(name: str = "droplet", medium: str = "cloud-vm", **options) -> Target:
    return Target(name, "ssh", medium, "test", options)


SSHD = "/usr/sbin/sshd"


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


def target_config(sshd: Sshd, medium: str, location: str) -> dict:
    """A targets.yaml entry for an ssh target reaching the test sshd."""
    return {"kind": "ssh", "medium": medium, "location": location, **sshd.options(connect_timeout="5s")}


def sshd_available() -> bool:
    return os.path.exists(SSHD) and shutil.which("ssh-keygen") is not None


def keygen(path: Path) -> Path:
    """Write an ed25519 key pair without passphrase at PATH (and PATH.pub); return PATH."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


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


@contextlib.contextmanager
def running_sshd(directory: Path) -> Iterator[Sshd]:
    """Run sshd on a free 127.0.0.1 port with its own host and client keys (key-only, root, no
    PAM), known_hosts pinning `[127.0.0.1]:PORT`, its log in DIRECTORY/sshd.log; stop it by PID."""
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
    with open(directory / "sshd.log", "wb") as log:
        process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(directory / "sshd_config")],
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_banner(port)
            yield Sshd(port, directory, directory / "client", known_hosts, host_public_key)
        finally:
            stop(process)
