"""SSH targets (the Droplet, the NAS): one paramiko connection per target, commands run remotely.

Why remote commands: an inventory is ONE `find -printf` per tree, not one round trip per file,
and SHA-256 is computed by `sha256sum` on the remote host, so file data never crosses the
network just to be hashed — only paths go out and digests come back.

Host keys are verified strictly against the configured known_hosts file: an unknown or changed
key refuses the connection (RejectPolicy) and the error names the key the server presented, so an
operator can compare it with the host before pinning it. Nothing is ever auto-accepted.

The host needs a POSIX shell, GNU findutils (`find -printf`) and GNU coreutils 8.30 or newer
(`sha256sum -z`), as on Debian/Ubuntu hosts (a NAS on busybox may lack them: check with
`find --version` and `sha256sum --help`); without them the copy is an error naming the tool,
never a pass.

Every failure (host key, authentication, refused, silent server, command timeout, remote error)
raises TargetUnavailable, or is a Probe(ok=False) from probe(): the checks turn it into `error`.
A failed connection is remembered for the rest of the run, so a dead host costs one timeout,
not one per check.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import posixpath
import re
import select
import shlex
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import paramiko

from agent import names
from agent.errors import TargetUnavailable
from agent.hashing import CHUNK, FileEntry, HashOutcome, split_cached, store_read
from agent.identity import BOOT_ID_PATH, StorageIdentity
from agent.targets.base import Probe, ResticLocation, TargetContext, TargetHandle, receive_file, safe_relpath
from agent.targets.ssh_keys import encrypted_key
from agent.units import parse_duration

log = logging.getLogger(__name__)
# paramiko logs every failed handshake at ERROR with a traceback; the agent reports the same failure
# as the copy's error, so its own log stays quiet unless the operator asked for debug output (-vv).
WIRE_LOG_NAME = __name__ + ".paramiko"

DEFAULT_PORT = 22
DEFAULT_CONNECT_TIMEOUT = 15.0
KEEPALIVE_SECONDS = 30
# find's record per file: relative path, size, mtime, inode, ctime, device — NUL-separated, so any
# name (spaces, newlines, non-UTF-8 bytes) survives. Device and inode say whether two trees share a
# file (hard links), compared with the same kernel's numbers (agent.identity).
FIND_FORMAT = r"%P\0%s\0%T@\0%i\0%C@\0%D\0"
FIND_FIELDS = 6
STAT_FORMAT = r"%s\0%T@\0%i\0%C@\0%D\0"
MISSING_EXIT = 44
# One round trip for a copy's storage identity (agent.identity): the host's boot id, the root's
# real path, then "device inode" of the root and of each directory above it, NUL-separated.
IDENTITY_SCRIPT = (
    "set -e; id=$(cat {boot_id}); test -n \"$id\"; printf '%s\\0' \"$id\"; "
    "p=$(realpath -e -- {path}); printf '%s\\0' \"$p\"; "
    "while :; do stat -L --printf='%d %i\\0' -- \"$p\"; test \"$p\" != / || break; p=$(dirname -- \"$p\"); done"
)
_SHA256_LINE = re.compile(rb"^\\?([0-9a-f]{64}) [ *](.*)$", re.S)
_ESCAPED = re.compile(rb"\\[\\nr]")
_UNESCAPE = {b"\\\\": b"\\", b"\\n": b"\n", b"\\r": b"\r"}


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


def _decimal_ns(text: str) -> int:
    """Given find's seconds with a fraction ("1700000000.1234567890"), return exact nanoseconds."""
    whole, _, fraction = text.partition(".")
    return int(whole) * 1_000_000_000 + int((fraction + "000000000")[:9])


def parse_find(output: bytes) -> dict[str, FileEntry]:
    """Given `find -printf FIND_FORMAT` output, return the entries keyed by relative path (the
    name's bytes as surrogate escapes, agent.names)."""
    fields = output.split(b"\0")
    if fields and fields[-1] == b"":
        fields.pop()
    if len(fields) % FIND_FIELDS:
        raise TargetUnavailable(f"unexpected find output: {len(fields)} fields is not a multiple of {FIND_FIELDS}")
    entries: dict[str, FileEntry] = {}
    for i in range(0, len(fields), FIND_FIELDS):
        name, size, mtime, inode, ctime, device = fields[i:i + FIND_FIELDS]
        relpath = names.from_bytes(name)
        entries[relpath] = FileEntry(relpath, int(size), float(mtime), int(inode), _decimal_ns(ctime.decode()),
                                     int(device))
    return entries


def parse_sha256sum(output: bytes) -> dict[str, str]:
    """Given `sha256sum -z` output for names sent as `./NAME`, return {NAME: digest}.

    Records end in NUL and GNU coreutils leaves names as they are under -z; a record that starts
    with a backslash has its name escaped (`\\\\`, `\\n`, `\\r`, as without -z) and is unescaped,
    so a sha256sum that escapes anyway cannot make a name that was never sent."""
    digests = {}
    for record in output.split(b"\0"):
        if not record:
            continue
        match = _SHA256_LINE.match(record)
        if not match:
            continue
        name = match.group(2)
        if record.startswith(b"\\"):
            name = _ESCAPED.sub(lambda m: _UNESCAPE[m.group()], name)
        if name.startswith(b"./"):
            digests[names.from_bytes(name[2:])] = match.group(1).decode()
    return digests


class SshTarget(TargetHandle):
    """A host reached over SSH with a private key and a pinned known_hosts file."""

    def __init__(self, target, context: TargetContext):
        super().__init__(target, context)
        options = target.options
        self.host: str = options["host"]
        self.port: int = int(options.get("port", DEFAULT_PORT))
        self.user: str = options["user"]
        self.key_file: str = options["key_file"]
        self.known_hosts: str = options["known_hosts"]
        self.connect_timeout: float = parse_duration(options.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT))
        self._lock = threading.Lock()
        self._client: paramiko.SSHClient | None = None
        self._socket: _CountingSocket | None = None
        self._failure: str | None = None

    # -- connection -------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def wire_bytes(self) -> tuple[int, int]:
        """Return (sent, received) bytes on this target's TCP connection so far (0, 0 before connecting)."""
        if self._socket is None:
            return 0, 0
        return self._socket.bytes_sent, self._socket.bytes_received

    def _transport(self) -> paramiko.Transport:
        """Return the open transport, connecting on first use. Raise TargetUnavailable."""
        with self._lock:
            if self._client is not None:
                transport = self._client.get_transport()
                if transport is not None and transport.is_active():
                    return transport
                self._drop()
                self._failure = None  # the connection died after working: try once more
            if self._failure is not None:
                raise TargetUnavailable(self._failure)
            try:
                self._client = self._connect()
            except TargetUnavailable as error:
                self._failure = str(error)
                raise
            return self._client.get_transport()

    def _connect(self) -> paramiko.SSHClient:
        deadline = time.monotonic() + self.connect_timeout
        where = f"{self.address}"
        refusal = (f"private key {self.key_file} is passphrase-protected: passphrase-protected keys are not "
                   "supported (the agent runs unattended and uses no ssh-agent); use an unencrypted key readable only "
                   "by the service (mode 0600, e.g. handed over by systemd LoadCredential=)")
        if encrypted_key(self.key_file):
            raise TargetUnavailable(refusal)
        try:
            key = paramiko.PKey.from_path(self.key_file)
        except (paramiko.PasswordRequiredException, TypeError) as error:
            # paramiko (through cryptography) says "password was not given" with a TypeError.
            raise TargetUnavailable(refusal) from error
        except (OSError, paramiko.SSHException, ValueError) as error:
            raise TargetUnavailable(f"cannot load private key {self.key_file}: {error}") from error
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(self.known_hosts)
        except OSError as error:
            raise TargetUnavailable(f"cannot read known_hosts {self.known_hosts}: {error.strerror or error}") from error
        client.set_missing_host_key_policy(_RejectNamingKey())
        client.set_log_channel(WIRE_LOG_NAME)
        logging.getLogger(WIRE_LOG_NAME).setLevel(logging.DEBUG if log.isEnabledFor(logging.DEBUG) else logging.CRITICAL)
        try:
            raw = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except TimeoutError as error:
            raise TargetUnavailable(f"cannot connect to {where}: no answer within {self.connect_timeout:g}s") from error
        except OSError as error:
            raise TargetUnavailable(f"cannot connect to {where}: {error.strerror or error}") from error
        counted = _CountingSocket(raw)
        remaining = max(0.5, deadline - time.monotonic())
        try:
            client.connect(
                self.host, self.port, username=self.user, pkey=key, sock=counted,
                timeout=remaining, banner_timeout=remaining, auth_timeout=remaining, channel_timeout=remaining,
                allow_agent=False, look_for_keys=False,
            )
        except paramiko.BadHostKeyException as error:
            client.close()
            raise TargetUnavailable(
                f"host key CHANGED for {where}: server presented {error.key.get_name()} {fingerprint(error.key)}, "
                f"known_hosts {self.known_hosts} has {fingerprint(error.expected_key)}; refusing to connect "
                "(possible man-in-the-middle, or the host was rebuilt: verify, then update known_hosts)"
            ) from error
        except UnknownHostKey as error:
            client.close()
            raise TargetUnavailable(
                f"unknown host key for {where}: server presented {error.key.get_name()} {fingerprint(error.key)}, "
                f"not in known_hosts {self.known_hosts}; refusing to connect (verify it on the host with "
                "`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`, then add it)"
            ) from error
        except paramiko.AuthenticationException as error:
            client.close()
            raise TargetUnavailable(f"authentication failed for {where} with key {self.key_file}: {error}") from error
        except (paramiko.SSHException, OSError, EOFError) as error:
            client.close()
            reason = str(error) or type(error).__name__
            if counted.bytes_received == 0:
                # paramiko's own message here ("No existing session") would hide the cause.
                reason = f"the server accepted TCP but did not speak SSH within {self.connect_timeout:g}s"
            elif "banner" in reason.lower():
                reason = f"the server did not speak SSH ({reason})"
            raise TargetUnavailable(f"cannot connect to {where}: {reason}") from error
        transport = client.get_transport()
        transport.set_keepalive(KEEPALIVE_SECONDS)
        self._socket = counted
        log.debug("connected to %s", where)
        return client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    # -- remote commands --------------------------------------------------------------------

    def run(self, command: str, *, stdin: bytes = b"", timeout: float | None = None) -> tuple[int, bytes, bytes]:
        """Run one shell command on the host and return (exit status, stdout, stderr).

        stdin is fed from a separate thread while output is read, so a long input cannot
        deadlock against a full output window. Raise TargetUnavailable on connection loss or when
        the command runs past `timeout` (default: the run's command timeout).
        """
        timeout = timeout or self.context.command_timeout
        transport = self._transport()
        try:
            channel = transport.open_session(timeout=self.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError) as error:
            raise TargetUnavailable(f"{self.address}: cannot open a session: {error}") from error
        out: list[bytes] = []
        err: list[bytes] = []
        deadline = time.monotonic() + timeout
        writer = None
        try:
            channel.exec_command(command)
            if stdin:
                writer = threading.Thread(target=_feed, args=(channel, stdin), daemon=True)
                writer.start()
            else:
                channel.shutdown_write()
            while True:
                drained = False
                while channel.recv_ready():
                    out.append(channel.recv(1 << 16))
                    drained = True
                while channel.recv_stderr_ready():
                    err.append(channel.recv_stderr(1 << 16))
                    drained = True
                if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
                if drained:
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TargetUnavailable(f"{self.address}: remote command timed out after {timeout:g}s: "
                                            f"{command[:200]}")
                if not transport.is_active():
                    raise TargetUnavailable(f"{self.address}: connection lost while running a command")
                select.select([channel], [], [], min(remaining, 0.25))
            status = channel.recv_exit_status()
        except (paramiko.SSHException, OSError, EOFError) as error:
            raise TargetUnavailable(f"{self.address}: remote command failed: {error}") from error
        finally:
            channel.close()
        return status, b"".join(out), b"".join(err)

    def _cache_key(self, root: str):
        prefix = f"ssh://{self.user}@{self.host}:{self.port}"
        base = root if root.startswith("/") else "/~/" + root

        def key(entry: FileEntry) -> str:
            return prefix + posixpath.join(base, entry.relpath)

        return key

    # -- TargetHandle -----------------------------------------------------------------------

    def probe(self, path: str, *, require_tree: bool) -> Probe:
        quoted = _quoted(path)
        script = (
            f"if ! test -e {quoted}; then echo missing; "
            + (f"elif ! test -d {quoted}; then echo notdir; elif ! test -r {quoted} -a -x {quoted}; then echo denied; "
               if require_tree else f"elif ! test -r {quoted}; then echo denied; ")
            + "else echo ok; fi"
        )
        try:
            status, out, err = self.run(script, timeout=min(self.context.command_timeout, 60 + self.connect_timeout))
        except TargetUnavailable as error:
            return Probe(False, str(error), facts={"host": self.host, "port": self.port})
        answer = out.decode(errors="replace").strip()
        facts = {"host": self.host, "port": self.port}
        if status != 0 or answer not in ("ok", "missing", "notdir", "denied"):
            return Probe(False, f"{self.address}: probe failed (exit {status}): {_tail(err)}", facts=facts)
        detail = {
            "ok": f"reachable over SSH ({self.address})",
            "missing": f"path does not exist on {self.address}: {path}",
            "notdir": f"not a directory on {self.address}: {path}",
            "denied": f"permission denied on {self.address}: {path}",
        }[answer]
        return Probe(answer == "ok", detail, facts=facts)

    def scan(self, path: str) -> dict[str, FileEntry]:
        status, out, err = self.run(f"find -H {_quoted(path)} -type f -printf '{FIND_FORMAT}'")
        if status != 0:
            raise TargetUnavailable(f"cannot list {path} on {self.address}: {_tail(err)}")
        return parse_find(out)

    def stat(self, path: str) -> FileEntry | None:
        quoted = _quoted(path)
        status, out, err = self.run(
            f"if test -e {quoted}; then exec find -H {quoted} -maxdepth 0 -printf '{STAT_FORMAT}'; "
            f"else exit {MISSING_EXIT}; fi"
        )
        if status == MISSING_EXIT:
            return None
        fields = out.split(b"\0")
        if status != 0 or len(fields) < 5:
            raise TargetUnavailable(f"cannot stat {path} on {self.address}: {_tail(err)}")
        size, mtime, inode, ctime, device = fields[:5]
        return FileEntry(posixpath.basename(path), int(size), float(mtime), int(inode), _decimal_ns(ctime.decode()),
                         int(device))

    def hash(self, path: str, entries: list[FileEntry],
             progress: Callable[[int], None] | None = None) -> HashOutcome:
        """SHA-256 by `sha256sum` on the host: paths go out NUL-separated on stdin, digests come back.

        Files are split into `hash_workers` batches of similar total size, each one remote
        command on its own channel of the same connection, so the host's cores work in parallel.
        """
        key = self._cache_key(path)
        digests, to_read = split_cached(entries, key, cache=self.context.hash_cache, now=self.context.now,
                                        rehash_every=self.context.rehash_every)
        from_cache = len(digests)
        batches = _balance(to_read, max(1, self.context.hash_workers))
        results: list[tuple[dict[str, str], bytes] | BaseException] = [None] * len(batches)  # type: ignore[list-item]

        def work(index: int) -> None:
            batch = batches[index]
            # Every name as ./NAME: GNU sha256sum reads a lone `-` as standard input even after `--`.
            payload = b"".join(b"./" + names.to_bytes(e.relpath) + b"\0" for e, _ in batch)
            try:
                status, out, err = self.run(
                    f"cd {_quoted(path)} && xargs -0 -r sha256sum -z --", stdin=payload)
                if re.search(rb"(invalid|unrecognized|unknown) option", err):
                    raise TargetUnavailable(f"sha256sum on {self.address} lacks -z (GNU coreutils 8.30 or newer is "
                                            f"needed on the host): {_tail(err)}")
                if status not in (0, 123):  # 123: xargs saw sha256sum fail on some file, named in stderr
                    raise TargetUnavailable(f"cannot hash files under {path} on {self.address} "
                                            f"(exit {status}): {_tail(err)}")
                results[index] = (parse_sha256sum(out), err)
                if progress:
                    progress(sum(entry.size for entry, _ in batch))
            except BaseException as error:  # noqa: BLE001 - re-raised below in the caller's thread
                results[index] = error

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(batches))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        unreadable: dict[str, str] = {}
        done: list[tuple[FileEntry, tuple | None, str]] = []
        for batch, result in zip(batches, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            found, err = result
            reasons = _sha256sum_errors(err)
            for entry, cached in batch:
                digest = found.get(entry.relpath)
                if digest is None:
                    unreadable[entry.relpath] = reasons.get(entry.relpath, "not hashed by sha256sum on the host")
                else:
                    done.append((entry, cached, digest))
        fresh, silently_changed = store_read(done, key, cache=self.context.hash_cache, now=self.context.now)
        digests.update(fresh)
        bytes_read = sum(entry.size for entry, _, _ in done)
        return HashOutcome(digests, unreadable, silently_changed, bytes_read, from_cache)

    def fetch(self, path: str, relpaths: list[str], destination: str,
              progress: Callable[[int], None] | None = None) -> int:
        """Copy files under path into the local destination over SFTP on the same connection, for a
        restore test (the one place file data is meant to cross the network); return bytes copied."""
        total = 0
        try:
            sftp = self._transport().open_sftp_client()
        except (paramiko.SSHException, OSError, EOFError) as error:
            raise TargetUnavailable(f"{self.address}: cannot open SFTP: {error}") from error
        try:
            sftp.get_channel().settimeout(self.context.command_timeout)
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
                except (OSError, paramiko.SSHException, EOFError) as error:
                    raise TargetUnavailable(f"cannot restore {names.show(relpath)} from {self.address}: {error}") \
                        from error
        finally:
            sftp.close()
        return total

    def storage_identity(self, path: str) -> StorageIdentity:
        """The identity as the remote host's own kernel sees it (its boot id, device and inode numbers)."""
        script = IDENTITY_SCRIPT.format(boot_id=shlex.quote(BOOT_ID_PATH), path=shlex.quote(path))
        status, out, err = self.run(script)
        fields = out.split(b"\0")
        if fields and fields[-1] == b"":
            fields.pop()
        if status != 0 or len(fields) < 3:
            raise TargetUnavailable(f"cannot read the storage identity of {path} on {self.address} "
                                    f"(needs {BOOT_ID_PATH}, realpath and stat): {_tail(err)}")
        try:
            numbers = [tuple(int(n) for n in field.split()) for field in fields[2:]]
        except ValueError as error:
            raise TargetUnavailable(f"unexpected stat output on {self.address}: {error}") from error
        if any(len(pair) != 2 for pair in numbers):
            raise TargetUnavailable(f"unexpected stat output on {self.address} for {path}")
        return StorageIdentity(host=fields[0].decode("ascii", "replace").strip(),
                               real_path=fields[1].decode("utf-8", "surrogateescape"),
                               root=numbers[0], ancestors=frozenset(numbers[1:]))

    def restic_location(self, path: str) -> ResticLocation:
        """restic over SFTP with OpenSSH, under the same key, port and known_hosts as the agent's own connection."""
        command = shlex.join([
            "ssh", "-p", str(self.port), "-i", self.key_file,
            "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", f"ConnectTimeout={max(1, round(self.connect_timeout))}",
            "-o", f"ServerAliveInterval={KEEPALIVE_SECONDS}",
            f"{self.user}@{self.host}", "-s", "sftp",
        ])
        return ResticLocation(repository=f"sftp:{self.user}@{self.host}:{path}", options=(f"sftp.command={command}",))

    def _remove_restic_lock(self, path: str, lock_id: str) -> None:
        """Over SFTP, the way restic itself reaches this repository."""
        remote = posixpath.join(path, "locks", lock_id)
        try:
            sftp = self._transport().open_sftp_client()
        except (paramiko.SSHException, OSError, EOFError) as error:
            raise TargetUnavailable(f"{self.address}: cannot open SFTP: {error}") from error
        try:
            sftp.get_channel().settimeout(self.context.command_timeout)
            sftp.remove(remote)
        except FileNotFoundError:
            pass  # gone already: what was wanted
        except (OSError, paramiko.SSHException, EOFError) as error:
            raise TargetUnavailable(f"cannot remove restic lock {lock_id[:8]} on {self.address}: {error}") from error
        finally:
            sftp.close()


def _feed(channel: paramiko.Channel, data: bytes) -> None:
    try:
        channel.sendall(data)
        channel.shutdown_write()
    except (paramiko.SSHException, OSError, EOFError):
        log.debug("feeding stdin failed", exc_info=True)


def _balance(items: list[tuple[FileEntry, tuple | None]], count: int) -> list[list[tuple[FileEntry, tuple | None]]]:
    """Split files into up to `count` batches of similar total size (largest first into the lightest)."""
    if not items:
        return []
    batches: list[list] = [[] for _ in range(min(count, len(items)))]
    loads = [0] * len(batches)
    for item in sorted(items, key=lambda i: i[0].size, reverse=True):
        lightest = loads.index(min(loads))
        batches[lightest].append(item)
        loads[lightest] += item[0].size
    return batches


def _sha256sum_errors(stderr: bytes) -> dict[str, str]:
    """Map `sha256sum: ./NAME: reason` lines to {NAME: reason}. (A name sha256sum had to quote is
    not matched; its file is then "not hashed", unreadable all the same.)"""
    reasons = {}
    for line in names.from_bytes(stderr).splitlines():
        if line.startswith("sha256sum: "):
            name, _, reason = line[len("sha256sum: "):].rpartition(": ")
            if name.startswith("./"):
                reasons[name[2:]] = reason
    return reasons


def _quoted(path: str) -> str:
    """A remote path for the shell: quoted, and never readable as an option (agent.names.operand)."""
    return shlex.quote(names.operand(path))


def _tail(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no error output"
