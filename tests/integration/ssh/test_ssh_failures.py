"""Every way an SSH target can be unusable is an error within the connect timeout, never a pass.

Host keys are pinned: an unknown or changed key refuses the connection and names the key the
server presented, in the form `ssh-keygen -lf` prints, so the operator can compare.
"""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from agent.errors import TargetUnavailable
from tests.support.sshd import make_context

pytestmark = pytest.mark.integration

CONNECT_TIMEOUT = 2
SLACK = 1.5


def ssh_keygen_fingerprint(public_key_file) -> str:
    return subprocess.run(["ssh-keygen", "-lf", str(public_key_file)], capture_output=True, text=True,
                          check=True).stdout.split()[1]


def assert_error_within_timeout(handle, tmp_path, *expected: str) -> str:
    """Probe, scan and hash must all fail, naming the cause, each within the connect timeout."""
    started = time.monotonic()
    probe = handle.probe(str(tmp_path), require_tree=True)
    elapsed = time.monotonic() - started
    assert not probe.ok
    for text in expected:
        assert text in probe.detail
    assert elapsed < CONNECT_TIMEOUT + SLACK, f"took {elapsed:.1f}s"
    # The failure is remembered for the run: later calls fail at once, not after another timeout.
    started = time.monotonic()
    with pytest.raises(TargetUnavailable):
        handle.scan(str(tmp_path))
    with pytest.raises(TargetUnavailable):
        handle.stat(str(tmp_path))
    assert time.monotonic() - started < 0.5
    return probe.detail


def test_unknown_host_key_is_refused_naming_the_presented_fingerprint(sshd, ssh_target, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text(f"[127.0.0.1]:{sshd.port + 1} {sshd.host_public_key}\n")  # another host only
    handle = ssh_target(known_hosts=str(empty), connect_timeout=CONNECT_TIMEOUT)
    detail = assert_error_within_timeout(handle, tmp_path, "unknown host key",
                                         ssh_keygen_fingerprint(sshd.directory / "host.pub"))
    assert "ssh-ed25519" in detail


def test_changed_host_key_is_refused_naming_both_fingerprints(sshd, ssh_target, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "impostor")], check=True)
    pinned = " ".join((tmp_path / "impostor.pub").read_text().split()[:2])
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {pinned}\n")
    handle = ssh_target(known_hosts=str(known_hosts), connect_timeout=CONNECT_TIMEOUT)
    assert_error_within_timeout(handle, tmp_path, "host key CHANGED",
                                ssh_keygen_fingerprint(sshd.directory / "host.pub"),
                                ssh_keygen_fingerprint(tmp_path / "impostor.pub"))


def test_missing_known_hosts_file_is_an_error(ssh_target, tmp_path):
    handle = ssh_target(known_hosts=str(tmp_path / "absent"), connect_timeout=CONNECT_TIMEOUT)
    assert_error_within_timeout(handle, tmp_path, "cannot read known_hosts")


def test_hashed_known_hosts_entries_are_accepted(sshd, ssh_target, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts.read_text())
    subprocess.run(["ssh-keygen", "-H", "-f", str(known_hosts)], check=True, capture_output=True)
    assert known_hosts.read_text().startswith("|1|")
    assert ssh_target(known_hosts=str(known_hosts)).probe(str(tmp_path), require_tree=True).ok


def test_wrong_user_is_an_authentication_error(ssh_target, tmp_path):
    handle = ssh_target(user="no-such-user", connect_timeout=CONNECT_TIMEOUT)
    assert_error_within_timeout(handle, tmp_path, "authentication failed", "no-such-user@127.0.0.1")


def test_wrong_key_is_an_authentication_error(ssh_target, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")], check=True)
    handle = ssh_target(key_file=str(tmp_path / "stranger"), connect_timeout=CONNECT_TIMEOUT)
    assert_error_within_timeout(handle, tmp_path, "authentication failed")


def test_missing_key_file_is_an_error(ssh_target, tmp_path):
    handle = ssh_target(key_file=str(tmp_path / "absent"), connect_timeout=CONNECT_TIMEOUT)
    assert_error_within_timeout(handle, tmp_path, "cannot load private key")


def test_server_not_listening_is_an_error(ssh_target, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    handle = ssh_target(port=closed_port, connect_timeout=CONNECT_TIMEOUT)
    assert_error_within_timeout(handle, tmp_path, "cannot connect", "refused")


def test_server_that_never_speaks_is_an_error_within_the_timeout(ssh_target, silent_server, tmp_path):
    handle = ssh_target(port=silent_server, connect_timeout=CONNECT_TIMEOUT)
    started = time.monotonic()
    detail = assert_error_within_timeout(handle, tmp_path, "did not speak SSH")
    assert time.monotonic() - started >= CONNECT_TIMEOUT - 0.2  # it did wait for the banner
    assert str(silent_server) in detail


def test_a_dropped_connection_is_reopened(ssh_target, tmp_path):
    handle = ssh_target(context=make_context())
    assert handle.probe(str(tmp_path), require_tree=True).ok
    handle._client.get_transport().close()  # as if the network dropped it
    assert handle.probe(str(tmp_path), require_tree=True).ok
