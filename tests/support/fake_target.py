"""An in-memory TargetHandle, for fast unit tests of the checks (tests/unit/checks).

The checks see a target only through agent.targets.base.TargetHandle; this fake implements it over
a dict of files (path -> bytes, mtime, inode, ctime) instead of a disk, an SSH host or a bucket.
Nothing else is faked: hashes are real SHA-256 of the bytes, read through the product's own hash
cache rules (agent.hashing.split_cached / store_read, so a byte changed under an unchanged size
and mtime is seen as silent corruption, as on a real disk), and fetch() writes real files into the
restore test's real scratch directory through the product's receive_file. What the fake cannot
show — a real mount, a real SSH or S3 error — is what the integration tests drive for real.

    disk = FakeTarget("hdd", medium="hdd")
    disk.tree("/mnt/hdd/data", {"a.txt": b"alpha"}, mtime=disk.now - 3600)
    disk.corrupt("/mnt/hdd/data/a.txt")        # size and mtime kept, ctime moves
    disk.break_("unreachable")                 # every operation raises TargetUnavailable
    disk.deny("/mnt/hdd/data/a.txt")           # that one file cannot be read
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import posixpath
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agent.config import Target
from agent.errors import TargetUnavailable
from agent.hash_cache import HashCache
from agent.hashing import FileEntry, HashOutcome, split_cached, store_read
from agent.identity import StorageIdentity
from agent.names import show
from agent.targets import handle_class
from agent.targets.base import (
    CAPABILITIES,
    Immutability,
    Probe,
    ResticLocation,
    TargetContext,
    TargetHandle,
    receive_file,
    safe_relpath,
)

# How a broken target answers: the message of the TargetUnavailable every operation then raises.
FAILURES = {
    "unreachable": "cannot connect to {name}: [Errno 111] Connection refused",
    "permission denied": "{name}: permission denied",
    "timeout": "{name}: no answer within 30s (timed out)",
}
OPERATIONS = frozenset({"probe", "scan", "stat", "hash", "fetch", "storage_identity", "immutability"})
CHUNK = 64 * 1024
_DEVICES = itertools.count(2049)  # each disk its own st_dev, as separate filesystems have


def target_context(now: float, cache: HashCache | None = None) -> TargetContext:
    """A TargetContext as a run makes one (an in-memory hash cache unless one is given)."""
    return TargetContext(hash_cache=cache or HashCache(None), now=now, rehash_every=30 * 86400, hash_workers=2,
                         command_timeout=300)


@dataclass
class FakeFile:
    data: bytes
    mtime: float
    inode: int
    ctime_ns: int
    unreadable: str | None = None  # why reading it fails (permission denied, I/O error)


@dataclass
class FakeDisk:
    """What a target's paths hold. Two FakeTargets sharing one disk are one storage reached by two
    routes (a bind mount, another host name): the independence check must see it."""

    host: str = "9cdfc7b6-fake-boot-id"  # the kernel's boot id, as agent.identity reads it: one machine
    device: int = field(default_factory=lambda: next(_DEVICES))
    files: dict[str, FakeFile] = field(default_factory=dict)
    directories: dict[str, int] = field(default_factory=lambda: {"/": 2})  # path -> inode
    inodes: Iterator[int] = field(default_factory=lambda: itertools.count(100))
    clock_ns: Iterator[int] = field(default_factory=lambda: itertools.count(1_000_000_000, 1_000))


class FakeTarget(TargetHandle):
    """A target whose files live in memory. Paths are absolute POSIX paths; every operation the
    checks use is here, and any of them can be made to raise TargetUnavailable."""

    def __init__(self, name: str = "fake", kind: str = "local", *, medium: str = "hdd", location: str = "office",
                 target: Target | None = None, context: TargetContext | None = None, disk: FakeDisk | None = None,
                 now: float | None = None):
        context = context or target_context(now if now is not None else time.time())
        super().__init__(target or Target(name, kind, medium, location, {}), context)
        self.disk = disk or FakeDisk()
        self.failure: str | None = None
        self.failing: frozenset[str] = OPERATIONS
        self.probe_result: Probe | None = None  # answer probe() with this instead of looking
        self.immutability_state: Any = None  # what immutability() returns (agent.targets.s3.Immutability)
        self.identity: StorageIdentity | None = None  # answer storage_identity() with this
        self.calls: list[tuple[str, str]] = []  # (operation, path), to see what a check touched
        # What the real kind can do, the fake can do (agent.targets.base.CAPABILITIES).
        real = handle_class(self.target.kind)
        for capability in CAPABILITIES:
            setattr(self, capability, getattr(real, capability))

    @property
    def now(self) -> float:
        return self.context.now

    # --- what the test does to the target ----------------------------------------------------

    def write(self, path: str, data: bytes | str, mtime: float | None = None) -> str:
        """Create or overwrite a file (a new inode only when it is new); ctime moves as on a disk."""
        path = _normal(path)
        data = data.encode() if isinstance(data, str) else data
        mtime = self.now - 86400 if mtime is None else mtime
        self._mkdirs(posixpath.dirname(path))
        existing = self.disk.files.get(path)
        if existing:
            existing.data, existing.mtime, existing.ctime_ns = data, mtime, next(self.disk.clock_ns)
        else:
            self.disk.files[path] = FakeFile(data, mtime, next(self.disk.inodes), next(self.disk.clock_ns))
        return path

    def tree(self, root: str, files: dict[str, bytes | str], mtime: float | None = None) -> str:
        """Write files under root (keys relative to it); return root."""
        self.mkdir(root)
        for relpath, data in files.items():
            self.write(posixpath.join(root, relpath), data, mtime)
        return _normal(root)

    def mkdir(self, path: str) -> None:
        self._mkdirs(_normal(path))

    def corrupt(self, path: str) -> None:
        """Flip one byte in the middle: size and mtime unchanged, only ctime moves (bit rot, or a
        write that put the mtime back)."""
        file = self.disk.files[_normal(path)]
        data = bytearray(file.data)
        data[len(data) // 2] ^= 0x01
        file.data, file.ctime_ns = bytes(data), next(self.disk.clock_ns)

    def touch(self, path: str, mtime: float) -> None:
        file = self.disk.files[_normal(path)]
        file.mtime, file.ctime_ns = mtime, next(self.disk.clock_ns)

    def remove(self, path: str) -> None:
        del self.disk.files[_normal(path)]

    def link(self, source: str, destination: str) -> None:
        """A hard link: one file (one inode) under a second name."""
        self._mkdirs(posixpath.dirname(_normal(destination)))
        self.disk.files[_normal(destination)] = self.disk.files[_normal(source)]

    def deny(self, path: str, reason: str = "Permission denied") -> None:
        """Make one file unreadable: listing still shows it, reading it fails."""
        self.disk.files[_normal(path)].unreadable = reason

    def break_(self, how: str = "unreachable", operations: Iterable[str] | None = None) -> None:
        """From now on, the given operations (default: all) raise TargetUnavailable the way `how` would."""
        if how not in FAILURES:
            raise ValueError(f"unknown failure {how!r}; known: {', '.join(FAILURES)}")
        self.failure = how
        self.failing = frozenset(operations) if operations is not None else OPERATIONS

    def heal(self) -> None:
        self.failure = None

    def read(self, path: str) -> bytes:
        return self.disk.files[_normal(path)].data

    def alias(self, name: str, kind: str = "local", *, medium: str = "hdd", location: str = "office") -> FakeTarget:
        """Another target reaching the same storage (a bind mount, the same host under another name)."""
        return FakeTarget(name, kind, medium=medium, location=location, context=self.context, disk=self.disk)

    # --- TargetHandle ----------------------------------------------------------------------------

    def probe(self, path: str, *, require_tree: bool) -> Probe:
        self._touch("probe", path)
        if self.probe_result is not None:
            return self.probe_result
        path = _normal(path)
        if path not in self.disk.directories and path not in self.disk.files:
            return Probe(False, f"path does not exist: {path}")
        if require_tree and path not in self.disk.directories:
            return Probe(False, f"not a directory: {path}")
        return Probe(True, "reachable (fake)")

    def scan(self, path: str) -> dict[str, FileEntry]:
        self._touch("scan", path)
        root = _normal(path)
        if root not in self.disk.directories:
            raise TargetUnavailable(f"cannot list {path}: No such file or directory")
        return {relpath: self._entry(relpath, file) for relpath, file in self._under(root)}

    def stat(self, path: str) -> FileEntry | None:
        self._touch("stat", path)
        path = _normal(path)
        if path in self.disk.directories:
            return FileEntry(posixpath.basename(path), 0, 0.0, self.disk.directories[path], 0, self.disk.device)
        file = self.disk.files.get(path)
        return self._entry(posixpath.basename(path), file) if file else None

    def hash(self, path: str, entries: list[FileEntry],
             progress: Callable[[int], None] | None = None) -> HashOutcome:
        self._touch("hash", path)
        root = _normal(path)

        def key(entry: FileEntry) -> str:
            return f"fake://{self.target.name}{posixpath.join(root, entry.relpath)}"

        cache = self.context.hash_cache
        digests, to_read = split_cached(entries, key, cache=cache, now=self.now, rehash_every=self.context.rehash_every)
        from_cache = len(digests)
        unreadable: dict[str, str] = {}
        read: list[tuple[FileEntry, tuple | None, str]] = []
        for entry, cached in to_read:
            file = self.disk.files.get(posixpath.join(root, entry.relpath))
            if file is None or file.unreadable:
                unreadable[entry.relpath] = file.unreadable if file else "No such file or directory"
                continue
            read.append((entry, cached, hashlib.sha256(file.data).hexdigest()))
            if progress:
                progress(len(file.data))
        fresh, silently_changed = store_read(read, key, cache=cache, now=self.now)
        digests.update(fresh)
        bytes_read = sum(len(self.disk.files[posixpath.join(root, e.relpath)].data) for e, _, _ in read)
        return HashOutcome(digests, unreadable, silently_changed, bytes_read, from_cache)

    def restic_location(self, path: str) -> ResticLocation:
        return ResticLocation(repository=f"fake:{self.target.name}:{_normal(path)}")

    def storage_identity(self, path: str) -> StorageIdentity:
        self._touch("storage_identity", path)
        if self.identity is not None:
            return self.identity
        real = _normal(path)
        if real not in self.disk.directories:
            raise TargetUnavailable(f"cannot read the storage identity of {path}: No such file or directory")
        ancestors = set()
        current = real
        while current != "/":
            current = posixpath.dirname(current)
            ancestors.add((self.disk.device, self.disk.directories[current]))
        return StorageIdentity(host=self.disk.host, real_path=real, root=(self.disk.device, self.disk.directories[real]),
                               ancestors=frozenset(ancestors))

    def fetch(self, path: str, relpaths: list[str], destination: str,
              progress: Callable[[int], None] | None = None) -> int:
        self._touch("fetch", path)
        total = 0
        for relpath in relpaths:
            safe_relpath(relpath)
            file = self.disk.files.get(posixpath.join(_normal(path), relpath))
            if file is None:
                raise TargetUnavailable(f"cannot restore {show(relpath)}: it vanished from {path}")
            if file.unreadable:
                raise TargetUnavailable(f"cannot restore {show(relpath)}: {file.unreadable}")
            chunks = (file.data[i:i + CHUNK] for i in range(0, len(file.data), CHUNK))
            total += receive_file(chunks, destination, relpath, progress)
        return total

    def immutability(self) -> Any:
        """What the bucket says about versioning and object lock (set immutability_state)."""
        self._touch("immutability", "")
        if self.immutability_state is None:
            raise TargetUnavailable(f"{self.target.name}: no bucket state was set on this fake target")
        # As the real S3 target does: the minimum is the target's min_retention setting.
        minimum = getattr(self.target.settings, "min_retention", self.immutability_state.min_retention_seconds)
        return dataclasses.replace(self.immutability_state, min_retention_seconds=minimum)

    # --- inside ----------------------------------------------------------------------------------

    def _touch(self, operation: str, path: str) -> None:
        self.calls.append((operation, path))
        if self.failure and operation in self.failing:
            raise TargetUnavailable(FAILURES[self.failure].format(name=self.target.name))

    def _entry(self, relpath: str, file: FakeFile) -> FileEntry:
        return FileEntry(relpath, len(file.data), file.mtime, file.inode, file.ctime_ns, self.disk.device)

    def _under(self, root: str) -> list[tuple[str, FakeFile]]:
        prefix = root.rstrip("/") + "/"
        return sorted((path[len(prefix):], file) for path, file in self.disk.files.items() if path.startswith(prefix))

    def _mkdirs(self, path: str) -> None:
        while path not in self.disk.directories:
            self.disk.directories[path] = next(self.disk.inodes)
            path = posixpath.dirname(path)


def _normal(path: str) -> str:
    return posixpath.normpath("/" + path.lstrip("/")) if path else "/"


def bucket_state(bucket: str, versioning: str, object_lock: bool, mode: str | None,
                 retention_seconds: float | None) -> Immutability:
    """What a bucket says about versioning and object lock, for immutability_state; the minimum
    retention comes from the fake s3 target's min_retention, as on the real one."""
    return Immutability(bucket, versioning, object_lock, mode, retention_seconds, min_retention_seconds=0.0)
