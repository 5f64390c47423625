"""The interface every target kind implements. Checks see targets only through it."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from agent import interrupt
from agent.errors import TargetUnavailable
from agent.hash_cache import HashCache
from agent.hashing import FileEntry, HashOutcome
from agent.identity import StorageIdentity
from agent.names import show

if TYPE_CHECKING:
    from agent.config import Target

# What a kind can do beyond probe, scan, stat, hash and restic_location (which every kind must):
# explicit class attributes of TargetHandle, False unless the kind's handle says otherwise.
CAPABILITIES = ("can_fetch", "can_tell_storage", "can_remove_restic_lock", "can_prove_immutability")


@dataclass(frozen=True)
class TargetContext:
    """What adapters share within one run."""

    hash_cache: HashCache
    now: float  # epoch seconds
    rehash_every: float
    hash_workers: int
    command_timeout: float
    # The schedule's interval (agent.schedule_interval): bit-rot re-reads are spread over the
    # nights of one rehash_every cycle (agent.hashing.split_cached). None: not spread.
    schedule_interval: float | None = None
    # The run's CPU budget (agent.run.Session.cpu): one slot per core, taken by each hashing task
    # and by each restic process on a local repository, so targets in parallel share the cores
    # instead of oversubscribing them. None: no budget.
    cpu: Any = None


@dataclass(frozen=True)
class Probe:
    """Whether a copy's location can be used at all, and what the adapter saw there."""

    ok: bool
    detail: str
    detected_medium: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResticLocation:
    """How restic reaches a repository on this target: URL, extra -o options, extra environment."""

    repository: str
    options: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()  # values to mask in logs (from env)


@dataclass(frozen=True)
class Immutability:
    """What a target says about keeping what is written to it (read by checks/immutability.py)."""

    bucket: str
    versioning: str  # Enabled, Suspended or "" (never enabled)
    object_lock: bool
    mode: str | None  # GOVERNANCE or COMPLIANCE (default retention), None without a rule
    retention_seconds: float | None
    # The shortest default retention the target's configuration accepts (s3: min_retention).
    min_retention_seconds: float


class TargetHandle(ABC):
    """An open target. Methods raise agent.errors.TargetUnavailable when the target cannot answer.

    Capabilities (CAPABILITIES) say which optional methods a kind implements; a method a kind
    lacks raises TargetUnavailable, so whatever needed it is an error, never a pass."""

    can_fetch: ClassVar[bool] = False  # fetch(): copy files out for a restore test of a files/objects copy
    can_tell_storage: ClassVar[bool] = False  # storage_identity(): where a copy's bytes are (independence)
    can_remove_restic_lock: ClassVar[bool] = False  # remove_restic_lock(): a stale lock proved the agent's own
    can_prove_immutability: ClassVar[bool] = False  # immutability(): versioning and retention (3-2-1-1-0)
    # How many files a caller hands hash() at a time, so memory does not grow with the tree
    # (checks/files_checksum); 0: all at once (s3 spends a sample budget per call).
    hash_chunk: ClassVar[int] = 4096

    @classmethod
    def supports(cls, capabilities: Iterable[str]) -> bool:
        """Whether this kind has every one of the named capabilities. Raise ValueError for a name
        that is not one (a typo must not read as "unsupported")."""
        unknown = set(capabilities) - set(CAPABILITIES)
        if unknown:
            raise ValueError(f"not target capabilities: {', '.join(sorted(unknown))}; known: {', '.join(CAPABILITIES)}")
        return all(getattr(cls, name) for name in capabilities)

    def __init__(self, target: Target, context: TargetContext):
        self.target = target
        self.context = context

    @abstractmethod
    def probe(self, path: str, *, require_tree: bool) -> Probe:
        """Given a copy's path, say whether it is reachable (and mounted, for local disks)."""

    @abstractmethod
    def scan(self, path: str) -> dict[str, FileEntry]:
        """Return every regular file under path, keyed by path relative to it."""

    @abstractmethod
    def stat(self, path: str) -> FileEntry | None:
        """Return one file's entry, or None when it does not exist."""

    @abstractmethod
    def hash(self, path: str, entries: list[FileEntry],
             progress: Callable[[int], None] | None = None) -> HashOutcome:
        """Return SHA-256 of the given files under path, computed where the data lives; progress,
        if given, is called with the bytes of each file (or batch) as it is done."""

    @abstractmethod
    def restic_location(self, path: str) -> ResticLocation:
        """Return how restic reaches a repository at path on this target."""

    def storage_identity(self, path: str) -> StorageIdentity:
        """Given a copy's path, return where its bytes are (agent.identity): for a directory, the
        host's boot id, the root's real path and (device, inode) and those of the directories above
        it; for object storage, endpoint, bucket and prefix. Raise TargetUnavailable.

        Kinds that cannot say inherit this refusal, so their copies' independence is an error, never a pass.
        """
        raise TargetUnavailable(f"a {self.target.kind} target cannot tell where its storage is, so whether a "
                                "copy on it shares storage with another cannot be decided")

    def fetch(self, path: str, relpaths: list[str], destination: str,
              progress: Callable[[int], None] | None = None) -> int:
        """Copy the given files under path into the local directory destination, keeping their
        relative paths, for a restore test; return the bytes copied. Raise TargetUnavailable.

        Kinds that cannot restore yet inherit this refusal, so their restore test is an error, never a pass.
        """
        raise TargetUnavailable(f"restore from a {self.target.kind} target is not supported yet")

    def immutability(self) -> Immutability:
        """Return what the target says about keeping what is written to it. Raise TargetUnavailable."""
        raise TargetUnavailable(f"a {self.target.kind} target cannot say whether it keeps what is written to it")

    def remove_restic_lock(self, path: str, lock_id: str) -> None:
        """Delete locks/LOCK_ID of the restic repository at path (a stale lock agent.restic.locks
        proved this agent's own); a lock already gone is fine. Raise TargetUnavailable."""
        if len(lock_id) != 64 or any(c not in "0123456789abcdef" for c in lock_id):
            raise TargetUnavailable(f"refusing to remove {lock_id[:80]!r}: not a restic lock ID")
        self._remove_restic_lock(path, lock_id)

    def _remove_restic_lock(self, path: str, lock_id: str) -> None:
        # Kinds without it refuse: the lock stays and the check says so.
        raise TargetUnavailable(f"removing a restic lock on a {self.target.kind} target is not supported")

    def close(self) -> None:  # noqa: B027 - an optional hook: most kinds hold nothing open
        """Release connections. Safe to call twice."""


class UnsupportedTarget(TargetHandle):
    """A target kind this build cannot verify yet: every operation is an error, never a pass."""

    def __init__(self, target: Target, context: TargetContext, reason: str):
        super().__init__(target, context)
        self.reason = reason

    def probe(self, path: str, *, require_tree: bool) -> Probe:
        return Probe(False, self.reason)

    def _unavailable(self):
        raise TargetUnavailable(self.reason)

    def scan(self, path):
        self._unavailable()

    def stat(self, path):
        self._unavailable()

    def hash(self, path, entries, progress=None):
        self._unavailable()

    def restic_location(self, path):
        self._unavailable()


def safe_relpath(relpath: str) -> str:
    """Refuse a relative path that would land outside the scratch directory (absolute, or with ..)."""
    from agent.errors import TargetUnavailable

    normal = os.path.normpath(relpath)
    if os.path.isabs(normal) or normal == ".." or normal.startswith(".." + os.sep):
        raise TargetUnavailable(f"refusing to restore {show(relpath)}: it leaves the scratch directory")
    return normal


def receive_file(chunks: Iterable[bytes], destination: str, relpath: str,
                 progress: Callable[[int], None] | None = None) -> int:
    """Write one fetched file into a restore test's scratch directory under its relative path and
    return its size. The path must stay inside destination and the file must not exist yet, so a
    fetch can never write over anything. Every kind's fetch() ends here."""
    local_file = os.path.join(destination, safe_relpath(relpath))
    os.makedirs(os.path.dirname(local_file), mode=0o700, exist_ok=True)
    total = 0
    with open(local_file, "xb") as sink:
        for chunk in chunks:
            if interrupt.cancelled.is_set():
                # A stop request: end here, so nothing is still writing once the scratch goes.
                raise TargetUnavailable(f"stopped by a signal while restoring {show(relpath)}")
            sink.write(chunk)
            total += len(chunk)
            if progress:
                progress(len(chunk))
    return total
