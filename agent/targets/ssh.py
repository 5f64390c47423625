"""SSH targets (the Droplet, the NAS): one connection per target (agent.targets.ssh_session),
commands run remotely (agent.targets.ssh_commands).

An inventory is one `find` per tree and SHA-256 is computed by `sha256sum` on the host, so file
data never crosses the network just to be hashed; a restore test copies files over SFTP on the
same connection. The host needs a POSIX shell, GNU findutils (`find -printf`) and GNU coreutils
8.30 or newer (`sha256sum -z`), as on Debian/Ubuntu hosts (a NAS on busybox may lack them: check
with `find --version` and `sha256sum --help`); without them the copy is an error naming the
tool, never a pass.

Every failure raises TargetUnavailable, or is a Probe(ok=False) from probe(): the checks turn it
into `error`.
"""

from __future__ import annotations

import posixpath
import shlex
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.errors import TargetUnavailable
from agent.hash_cache import CacheRow
from agent.hashing import FileEntry, HashOutcome, split_cached, store_read, unchanged
from agent.identity import BOOT_ID_PATH, StorageIdentity
from agent.manifest import Manifest
from agent.targets import ssh_commands as remote
from agent.targets.base import Probe, ResticLocation, TargetContext, TargetHandle
from agent.targets.options import DURATION_SCHEMA, KindOptions, Value, option

# The parsers' old home: kept importable from here.
from agent.targets.ssh_commands import parse_find, parse_sha256sum  # noqa: F401
from agent.targets.ssh_commands import sha256sum_errors as _sha256sum_errors  # noqa: F401

if TYPE_CHECKING:
    from agent.config import Target
    from agent.targets.ssh_session import SshSession

DEFAULT_PORT = 22
DEFAULT_CONNECT_TIMEOUT = 15.0
_STRING = {"type": "string", "minLength": 1}


@dataclass(frozen=True, kw_only=True)
class SshOptions(KindOptions):
    """An ssh target's keys: where the host is, and the key and known_hosts that reach it."""

    host: str = option(_STRING)
    port: int = option({"type": "integer", "minimum": 1, "maximum": 65535}, default=DEFAULT_PORT)
    user: str = option(_STRING)
    key_file: str = option({**_STRING, "description": "ssh: private key file, e.g. ${CREDENTIALS_DIRECTORY}/id_ed25519."},
                           value=Value.FILE)
    known_hosts: str = option({**_STRING, "description": "ssh: known_hosts file pinning the host keys."},
                              value=Value.FILE)
    connect_timeout: float = option(DURATION_SCHEMA, default=DEFAULT_CONNECT_TIMEOUT, value=Value.DURATION)


class SshTarget(TargetHandle):
    """A host reached over SSH with a private key and a pinned known_hosts file."""

    can_fetch = True
    can_tell_storage = True
    can_remove_restic_lock = True

    def __init__(self, target: Target, context: TargetContext):
        super().__init__(target, context)
        from agent.targets.ssh_session import SshSession  # paramiko loads only when an ssh target is opened

        settings: SshOptions = target.settings
        self.host, self.port, self.user = settings.host, settings.port, settings.user
        self.key_file, self.known_hosts = settings.key_file, settings.known_hosts
        self.connect_timeout = settings.connect_timeout
        self.session: SshSession = SshSession(
            self.host, self.port, self.user, self.key_file, self.known_hosts,
            connect_timeout=self.connect_timeout, command_timeout=context.command_timeout)

    @property
    def address(self) -> str:
        return self.session.address

    @property
    def _client(self):
        """The open paramiko client, or None (tests drop its transport to simulate a lost network)."""
        return self.session.client

    def wire_bytes(self) -> tuple[int, int]:
        """Return (sent, received) bytes on this target's TCP connection so far (0, 0 before connecting)."""
        return self.session.wire_bytes()

    def run(self, command: str, *, stdin: bytes = b"", timeout: float | None = None) -> tuple[int, bytes, bytes]:
        """Run one shell command on the host (agent.targets.ssh_session.SshSession.run)."""
        return self.session.run(command, stdin=stdin, timeout=timeout)

    def close(self) -> None:
        self.session.close()

    def _cache_key(self, root: str) -> Callable[[FileEntry], str]:
        prefix = f"ssh://{self.user}@{self.host}:{self.port}"
        base = root if root.startswith("/") else "/~/" + root

        def key(entry: FileEntry) -> str:
            return prefix + posixpath.join(base, entry.relpath)

        return key

    # -- TargetHandle -------------------------------------------------------------------------------

    def probe(self, path: str, *, require_tree: bool) -> Probe:
        facts = {"host": self.host, "port": self.port}
        try:
            status, out, err = self.run(remote.probe_script(path, require_tree=require_tree),
                                        timeout=min(self.context.command_timeout, 60 + self.connect_timeout))
        except TargetUnavailable as error:
            return Probe(False, str(error), facts=facts)
        answer = out.decode(errors="replace").strip()
        if status != 0 or answer not in remote.PROBE_ANSWERS:
            return Probe(False, f"{self.address}: probe failed (exit {status}): {remote.tail(err)}", facts=facts)
        detail = {
            "ok": f"reachable over SSH ({self.address})",
            "missing": f"path does not exist on {self.address}: {path}",
            "notdir": f"not a directory on {self.address}: {path}",
            "denied": f"permission denied on {self.address}: {path}",
        }[answer]
        return Probe(answer == "ok", detail, facts=facts)

    def scan(self, path: str) -> Mapping[str, FileEntry]:
        status, out, err = self.run(remote.scan_command(path))
        if status != 0:
            raise TargetUnavailable(f"cannot list {path} on {self.address}: {remote.tail(err)}")
        return Manifest.from_entries(remote.parse_find(out).values())  # compact, in name order

    def stat(self, path: str) -> FileEntry | None:
        status, out, err = self.run(remote.stat_command(path))
        if status == remote.MISSING_EXIT:
            return None
        entry = remote.parse_stat(path, out) if status == 0 else None
        if entry is None:
            raise TargetUnavailable(f"cannot stat {path} on {self.address}: {remote.tail(err)}")
        return entry

    def hash(self, path: str, entries: list[FileEntry],
             progress: Callable[[int], None] | None = None) -> HashOutcome:
        """SHA-256 by `sha256sum` on the host: paths go out NUL-separated on stdin, digests come back.

        Files are split into `hash_workers` batches of similar total size, each one remote
        command on its own channel of the same connection, so the host's cores work in parallel.
        """
        key = self._cache_key(path)
        read_at: dict[str, float] = {}
        digests, to_read = split_cached(entries, key, cache=self.context.hash_cache, now=self.context.now,
                                        rehash_every=self.context.rehash_every,
                                        interval=self.context.schedule_interval, read_at=read_at)
        from_cache = len(digests)
        batches = remote.balance(to_read, max(1, self.context.hash_workers))
        results = self._hash_batches(path, batches, progress)
        unreadable: dict[str, str] = {}
        done: list[tuple[FileEntry, CacheRow | None, str]] = []
        for batch, (found, err) in zip(batches, results, strict=True):
            reasons = remote.sha256sum_errors(err)
            for entry, cached in batch:
                digest = found.get(entry.relpath)
                if digest is None:
                    unreadable[entry.relpath] = reasons.get(entry.relpath, "not hashed by sha256sum on the host")
                else:
                    done.append((entry, cached, digest))
        fresh, silently_changed = store_read(done, key, cache=self.context.hash_cache, now=self.context.now)
        digests.update(fresh)
        bytes_read = sum(entry.size for entry, _, _ in done)
        reread = sum(entry.size for entry, cached, _ in done if unchanged(entry, cached))
        read_at.update((entry.relpath, self.context.now) for entry, _, _ in done)
        return HashOutcome(digests, unreadable, silently_changed, bytes_read, from_cache, bytes_reread=reread,
                           read_at=read_at)

    def _hash_batches(self, path: str, batches: list[list[tuple[FileEntry, CacheRow | None]]],
                      progress: Callable[[int], None] | None) -> list[tuple[dict[str, str], bytes]]:
        """Run one sha256sum per batch, in parallel; return (digests, stderr) per batch. Raise the
        first failure (TargetUnavailable) in the caller's thread."""
        results: list[tuple[dict[str, str], bytes] | BaseException | None] = [None] * len(batches)

        def work(index: int) -> None:
            batch = batches[index]
            try:
                status, out, err = self.run(remote.hash_command(path),
                                            stdin=remote.hash_input([entry for entry, _ in batch]))
                if remote.lacks_sha256sum_z(err):
                    raise TargetUnavailable(f"sha256sum on {self.address} lacks -z (GNU coreutils 8.30 or newer is "
                                            f"needed on the host): {remote.tail(err)}")
                if status not in (0, 123):  # 123: xargs saw sha256sum fail on some file, named in stderr
                    raise TargetUnavailable(f"cannot hash files under {path} on {self.address} "
                                            f"(exit {status}): {remote.tail(err)}")
                results[index] = (remote.parse_sha256sum(out), err)
                if progress:
                    progress(sum(entry.size for entry, _ in batch))
            except BaseException as error:  # noqa: BLE001 - re-raised below in the caller's thread
                results[index] = error

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(batches))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results  # type: ignore[return-value]

    def fetch(self, path: str, relpaths: list[str], destination: str,
              progress: Callable[[int], None] | None = None) -> int:
        """Copy files under path into the local destination over SFTP on the same connection, for a
        restore test (the one place file data is meant to cross the network); return bytes copied."""
        return self.session.download(path, relpaths, destination, progress)

    def storage_identity(self, path: str) -> StorageIdentity:
        """The identity as the remote host's own kernel sees it (its boot id, device and inode numbers)."""
        status, out, err = self.run(remote.identity_script(path))
        identity = remote.parse_identity(out, self.address, path) if status == 0 else None
        if identity is None:
            raise TargetUnavailable(f"cannot read the storage identity of {path} on {self.address} "
                                    f"(needs {BOOT_ID_PATH}, realpath and stat): {remote.tail(err)}")
        return identity

    def restic_location(self, path: str) -> ResticLocation:
        """restic over SFTP with OpenSSH, under the same key, port and known_hosts as the agent's own connection."""
        command = shlex.join([
            "ssh", "-p", str(self.port), "-i", self.key_file,
            "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", f"ConnectTimeout={max(1, round(self.connect_timeout))}",
            "-o", f"ServerAliveInterval={remote.KEEPALIVE_SECONDS}",
            f"{self.user}@{self.host}", "-s", "sftp",
        ])
        return ResticLocation(repository=f"sftp:{self.user}@{self.host}:{path}", options=(f"sftp.command={command}",))

    def _remove_restic_lock(self, path: str, lock_id: str) -> None:
        """Over SFTP, the way restic itself reaches this repository."""
        self.session.remove(posixpath.join(path, "locks", lock_id), f"restic lock {lock_id[:8]}")
