"""One SSH connection to one host with a key and a pinned known_hosts file: the only module that
imports paramiko.

Host keys are verified strictly against the configured known_hosts file: an unknown or changed
key refuses the connection (RejectPolicy) and the error names the key the server presented, so an
operator can compare it with the host before pinning it. Nothing is ever auto-accepted. A key
protected by a passphrase is refused before loading (agent.targets.ssh_keys): the agent runs
unattended.

Every failure (host key, authentication, refused, silent server, command timeout, connection
lost) raises TargetUnavailable. A failed connection is remembered, so a dead host costs one
timeout per run, not one per check; a connection that worked and died is tried once more.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import posixpath
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import paramiko

from agent import names
from agent.errors import TargetUnavailable
from agent.hashing import CHUNK
from agent.targets.base import receive_file, safe_relpath
from agent.targets.ssh_commands import KEEPALIVE_SECONDS
from agent.targets.ssh_keys import encrypted_key

log = logging.getLogger(__name__)
# paramiko logs every failed handshake at ERROR with a traceback; the agent reports the same failure
# as the copy's error, so its own log stays quiet unless the operator asked for debug output (-vv).
WIRE_LOG_NAME = __name__ + ".paramiko"
_CHANNEL_ERRORS = (paramiko.SSHException, OSError, EOFError)


def fingerprint(key: paramiko.PKey) -> str:
    """Return a host key's fingerprint in OpenSSH's form (`SHA256:base64`), as `ssh-keygen -lf` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class UnknownHostKey(paramiko.SSHException):
    """The server's host key is not in known_hosts. Carries the presented key for the message."""

    def __init__(self, hostname: str, key: paramiko.PKey):
        super().__init__(f"host key for {hostname} not in known_hosts")
        self.hostname = hostname
        self.key = key


class _RejectNamingKey(paramiko.RejectPolicy):
    """RejectPolicy that keeps the presented key, so the error can name its fingerprint."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise UnknownHostKey(hostname, key)


class _CountingSocket:
    """A TCP socket that counts the bytes it carries: what the transport really moved on the wire."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self.bytes_sent = 0
        self.bytes_received = 0

    def send(self, data: bytes) -> int:
        sent = self._sock.send(data)
        self.bytes_sent += sent
        return sent

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)
        self.bytes_sent += len(data)

    def recv(self, size: int) -> bytes:
        data = self._sock.recv(size)
        self.bytes_received += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class SshSession:
    """A lazily opened, thread-safe connection: commands each on their own channel, files over SFTP."""

    def __init__(self, host: str, port: int, user: str, key_file: str, known_hosts: str, *,
                 connect_timeout: float, command_timeout: float):
        self.host, self.port, self.user = host, port, user
        self.key_file, self.known_hosts = key_file, known_hosts
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._lock = threading.Lock()
        self.client: paramiko.SSHClient | None = None
        self._socket: _CountingSocket | None = None
        self._failure: str | None = None

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def wire_bytes(self) -> tuple[int, int]:
        """Return (sent, received) bytes on the TCP connection so far (0, 0 before connecting)."""
        if self._socket is None:
            return 0, 0
        return self._socket.bytes_sent, self._socket.bytes_received

    def transport(self) -> paramiko.Transport:
        """Return the open transport, connecting on first use. Raise TargetUnavailable."""
        with self._lock:
            if self.client is not None:
                transport = self.client.get_transport()
                if transport is not None and transport.is_active():
                    return transport
                self._drop()
                self._failure = None  # the connection died after working: try once more
            if self._failure is not None:
                raise TargetUnavailable(self._failure)
            try:
                self.client = self._connect()
            except TargetUnavailable as error:
                self._failure = str(error)
                raise
            return self.client.get_transport()

    # -- connecting ---------------------------------------------------------------------------------

    def _connect(self) -> paramiko.SSHClient:
        deadline = time.monotonic() + self.connect_timeout
        key = self._load_key()
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(self.known_hosts)
        except OSError as error:
            raise TargetUnavailable(f"cannot read known_hosts {self.known_hosts}: {error.strerror or error}") from error
        client.set_missing_host_key_policy(_RejectNamingKey())
        client.set_log_channel(WIRE_LOG_NAME)
        logging.getLogger(WIRE_LOG_NAME).setLevel(logging.DEBUG if log.isEnabledFor(logging.DEBUG) else logging.CRITICAL)
        counted = _CountingSocket(self._open_socket())
        try:
            self._handshake(client, key, counted, max(0.5, deadline - time.monotonic()))
        except BaseException:
            client.close()
            raise
        client.get_transport().set_keepalive(KEEPALIVE_SECONDS)
        self._socket = counted
        log.debug("connected to %s", self.address)
        return client

    def _load_key(self) -> paramiko.PKey:
        refusal = (f"private key {self.key_file} is passphrase-protected: passphrase-protected keys are not "
                   "supported (the agent runs unattended and uses no ssh-agent); use an unencrypted key readable only "
                   "by the service (mode 0600, e.g. handed over by systemd LoadCredential=)")
        if encrypted_key(self.key_file):
            raise TargetUnavailable(refusal)
        try:
            return paramiko.PKey.from_path(self.key_file)
        except (paramiko.PasswordRequiredException, TypeError) as error:
            # paramiko (through cryptography) says "password was not given" with a TypeError.
            raise TargetUnavailable(refusal) from error
        except (OSError, paramiko.SSHException, ValueError) as error:
            raise TargetUnavailable(f"cannot load private key {self.key_file}: {error}") from error

    def _open_socket(self) -> socket.socket:
        try:
            return socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except TimeoutError as error:
            raise TargetUnavailable(f"cannot connect to {self.address}: no answer within "
                                    f"{self.connect_timeout:g}s") from error
        except OSError as error:
            raise TargetUnavailable(f"cannot connect to {self.address}: {error.strerror or error}") from error

    def _handshake(self, client: paramiko.SSHClient, key: paramiko.PKey, counted: _CountingSocket,
                   remaining: float) -> None:
        """SSH over the counted socket within what is left of connect_timeout; every failure named."""
        where = self.address
        try:
            client.connect(
                self.host, self.port, username=self.user, pkey=key, sock=counted,
                timeout=remaining, banner_timeout=remaining, auth_timeout=remaining, channel_timeout=remaining,
                allow_agent=False, look_for_keys=False,
            )
        except paramiko.BadHostKeyException as error:
            raise TargetUnavailable(
                f"host key CHANGED for {where}: server presented {error.key.get_name()} {fingerprint(error.key)}, "
                f"known_hosts {self.known_hosts} has {fingerprint(error.expected_key)}; refusing to connect "
                "(possible man-in-the-middle, or the host was rebuilt: verify, then update known_hosts)"
            ) from error
        except UnknownHostKey as error:
            raise TargetUnavailable(
                f"unknown host key for {where}: server presented {error.key.get_name()} {fingerprint(error.key)}, "
                f"not in known_hosts {self.known_hosts}; refusing to connect (verify it on the host with "
                "`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`, then add it)"
            ) from error
        except paramiko.AuthenticationException as error:
            raise TargetUnavailable(f"authentication failed for {where} with key {self.key_file}: {error}") from error
        except _CHANNEL_ERRORS as error:
            reason = str(error) or type(error).__name__
            if counted.bytes_received == 0:
                # paramiko's own message here ("No existing session") would hide the cause.
                reason = f"the server accepted TCP but did not speak SSH within {self.connect_timeout:g}s"
            elif "banner" in reason.lower():
                reason = f"the server did not speak SSH ({reason})"
            raise TargetUnavailable(f"cannot connect to {where}: {reason}") from error

    def _drop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    # -- commands -----------------------------------------------------------------------------------

    def run(self, command: str, *, stdin: bytes = b"", timeout: float | None = None) -> tuple[int, bytes, bytes]:
        """Run one shell command on the host and return (exit status, stdout, stderr).

        stdin is fed from a separate thread while output is read, so a long input cannot
        deadlock against a full output window. Raise TargetUnavailable on connection loss or when
        the command runs past `timeout` (default: the run's command timeout).
        """
        timeout = timeout or self.command_timeout
        transport = self.transport()
        try:
            channel = transport.open_session(timeout=self.connect_timeout)
        except _CHANNEL_ERRORS as error:
            raise TargetUnavailable(f"{self.address}: cannot open a session: {error}") from error
        try:
            channel.exec_command(command)
            if stdin:
                threading.Thread(target=_feed, args=(channel, stdin), daemon=True).start()
            else:
                channel.shutdown_write()
            out, err = self._collect(channel, transport, command, timeout)
            status = channel.recv_exit_status()
        except _CHANNEL_ERRORS as error:
            raise TargetUnavailable(f"{self.address}: remote command failed: {error}") from error
        finally:
            channel.close()
        return status, out, err

    def _collect(self, channel: paramiko.Channel, transport: paramiko.Transport, command: str,
                 timeout: float) -> tuple[bytes, bytes]:
        """Read a command's stdout and stderr until it exits. Raise TargetUnavailable past timeout."""
        out: list[bytes] = []
        err: list[bytes] = []
        deadline = time.monotonic() + timeout
        while True:
            drained = False
            while channel.recv_ready():
                out.append(channel.recv(1 << 16))
                drained = True
            while channel.recv_stderr_ready():
                err.append(channel.recv_stderr(1 << 16))
                drained = True
            if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                return b"".join(out), b"".join(err)
            if drained:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TargetUnavailable(f"{self.address}: remote command timed out after {timeout:g}s: "
                                        f"{command[:200]}")
            if not transport.is_active():
                raise TargetUnavailable(f"{self.address}: connection lost while running a command")
            select.select([channel], [], [], min(remaining, 0.25))

    # -- files over SFTP ----------------------------------------------------------------------------

    def _sftp(self) -> paramiko.SFTPClient:
        try:
            sftp = self.transport().open_sftp_client()
        except _CHANNEL_ERRORS as error:
            raise TargetUnavailable(f"{self.address}: cannot open SFTP: {error}") from error
        try:
            sftp.get_channel().settimeout(self.command_timeout)
        except BaseException:
            sftp.close()
            raise
        return sftp

    def download(self, path: str, relpaths: list[str], destination: str,
                 progress: Callable[[int], None] | None = None) -> int:
        """Copy files under path into the local destination over SFTP on the same connection, for a
        restore test (the one place file data is meant to cross the network); return bytes copied."""
        total = 0
        sftp = self._sftp()
        try:
            for relpath in relpaths:
                safe_relpath(relpath)  # refused before the source is opened
                try:
                    # As bytes: paramiko would encode a str as strict UTF-8, and a name need not be.
                    with sftp.open(names.to_bytes(posixpath.join(path, relpath)), "rb") as source:
                        source.prefetch()
                        total += receive_file(iter(lambda source=source: source.read(CHUNK), b""), destination,
                                              relpath, progress)
                except FileNotFoundError as error:
                    raise TargetUnavailable(f"cannot restore {names.show(relpath)}: it vanished from {path} on "
                                            f"{self.address}") from error
                except _CHANNEL_ERRORS as error:
                    raise TargetUnavailable(f"cannot restore {names.show(relpath)} from {self.address}: {error}") \
                        from error
        finally:
            sftp.close()
        return total

    def remove(self, remote: str, what: str) -> None:
        """Delete one remote file over SFTP (the way restic reaches a repository); one already gone is fine."""
        sftp = self._sftp()
        try:
            sftp.remove(remote)
        except FileNotFoundError:
            pass  # gone already: what was wanted
        except _CHANNEL_ERRORS as error:
            raise TargetUnavailable(f"cannot remove {what} on {self.address}: {error}") from error
        finally:
            sftp.close()


def _feed(channel: paramiko.Channel, data: bytes) -> None:
    try:
        channel.sendall(data)
        channel.shutdown_write()
    except _CHANNEL_ERRORS:
        log.debug("feeding stdin failed", exc_info=True)
