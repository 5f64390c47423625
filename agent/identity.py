"""Storage identities of copies: what says two declared copies are, or are not, the same bytes.

A copy counts towards 3-2-1 only if its storage is its own. A path says little (the same directory
is reached through a symlink, a bind mount, `..`, another host name); the kernel says more:
- host: the kernel's boot id (/proc/sys/kernel/random/boot_id), read where the copy lives. Two
  machines never share one, so device and inode numbers are compared only within one kernel —
  and a copy reached over SSH on this very machine is recognised as local storage.
- root: the resolved real path of the copy's root, its (st_dev, st_ino), and those of every
  directory above it, so one root nested inside another is seen whatever route reached either.
- files: (st_dev, st_ino) of each file of a plain copy — a hard-linked mirror (`cp -al`,
  `rsync --link-dest` against the primary) shares them; of a restic repository, its `config` and
  `keys/` files, which no honest replica shares (a copy has its own inodes; a hard-linked one not).
- object storage: normalised endpoint, bucket and key prefix.
- restic: the repository id from its config (`restic cat config`): one repository declared twice,
  by any route, has one id. A byte-level replica (rsync/rclone of the repository directory) has the
  same id on independent storage; `replica: true` on that copy skips only the id comparison.

The identities are gathered per copy by the target adapters (TargetHandle.storage_identity) in the
copy's own worker, and compared per dataset by checks/independence.py.
"""

from __future__ import annotations

import posixpath
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from agent.hashing import FileEntry

if TYPE_CHECKING:
    from agent.checking import CopyContext

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
# The files of a restic repository whose inodes say whether its storage is shared: written once at
# `init` (config) or when a key is added, never rewritten, so a hard-linked "replica" shares them.
RESTIC_CONFIG = "config"
RESTIC_KEYS = "keys"


class FileIds:
    """(st_dev, st_ino) of the files of a tree, 8 bytes a file (a million files' pairs as tuples
    would take over 100 MB): per device an array of inode numbers."""

    def __init__(self, pairs: Iterable[tuple[int, int]]):
        self._inodes: dict[int, array] = {}
        for device, inode in pairs:
            found = self._inodes.get(device)
            if found is None:
                found = self._inodes[device] = array("Q")
            found.append(inode)

    def __len__(self) -> int:
        return sum(len(inodes) for inodes in self._inodes.values())

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for device, inodes in self._inodes.items():
            for inode in inodes:
                yield device, inode

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileIds) and self._inodes == other._inodes

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<FileIds of {len(self)} files>"

    @classmethod
    def of(cls, files: FileIds | Iterable[tuple[int, int]]) -> FileIds:
        return files if isinstance(files, FileIds) else cls(files)

    def shared_with(self, other: FileIds) -> int:
        """How many of other's files are also files of this tree (same device and inode)."""
        shared = 0
        for device, inodes in other._inodes.items():
            mine = self._inodes.get(device)
            if mine:
                small, large = (mine, inodes) if len(mine) <= len(inodes) else (inodes, mine)
                lookup = set(small)
                shared += sum(1 for inode in large if inode in lookup)
        return shared


@dataclass(frozen=True)
class StorageIdentity:
    """Where a copy's bytes are: a directory tree on one kernel, or a prefix in one bucket."""

    host: str | None = None  # kernel boot id (directory storage)
    real_path: str | None = None
    root: tuple[int, int] | None = None  # (st_dev, st_ino) of the root
    ancestors: frozenset[tuple[int, int]] = frozenset()  # (st_dev, st_ino) of every directory above it
    endpoint: str | None = None  # object storage
    bucket: str | None = None
    prefix: str | None = None  # no leading slash, "" for the whole bucket
    # (st_dev, st_ino) of each file compared, one per file; None: not gathered (not needed)
    files: FileIds | tuple[tuple[int, int], ...] | None = None

    @property
    def is_object(self) -> bool:
        return self.bucket is not None


@dataclass(frozen=True)
class CopyIdentity:
    """One copy's identity: its storage, and for restic its repository id and replica declaration."""

    storage: StorageIdentity
    repository_id: str | None = None
    replica: bool = False


def with_files(storage: StorageIdentity, entries: Mapping[str, FileEntry] | list[FileEntry]) -> StorageIdentity:
    """Given a directory identity and file entries (with device and inode), return it with their (dev, ino) set."""
    values = entries.values() if isinstance(entries, Mapping) else entries
    return replace(storage, files=FileIds((e.device, e.inode) for e in values))


def normal_endpoint(endpoint: str | None, region: str | None) -> str:
    """An S3 endpoint as one string per service: scheme and default port dropped, host lower-cased.
    Without an endpoint (AWS), bucket names are global: "aws" stands for the whole service."""
    if not endpoint:
        return "aws"
    split = urlsplit(endpoint if "://" in endpoint else "https://" + endpoint)
    host = (split.hostname or "").lower()
    port = split.port
    default = {"http": 80, "https": 443}.get(split.scheme.lower())
    netloc = host if port in (None, default) else f"{host}:{port}"
    path = split.path.rstrip("/")
    return netloc + path


def normal_prefix(path: str) -> str:
    """A key prefix cleaned as restic cleans it (no leading or trailing slash, `//`, `.` or `..`).
    For plain object copies such keys are literal, but two prefixes equal once cleaned are taken
    for the same place: a doubt here must fail a copy, never count it twice."""
    return posixpath.normpath("/" + path).lstrip("/")


def object_identity(endpoint: str | None, region: str | None, bucket: str, path: str) -> StorageIdentity:
    return StorageIdentity(endpoint=normal_endpoint(endpoint, region), bucket=bucket, prefix=normal_prefix(path))


def gather(context: CopyContext, repository_id: Callable[[], str] | None = None) -> CopyIdentity:
    """Given a copy's context after its checks ran, return its identity, reusing the file list its
    checks already took. `repository_id` reads a restic copy's repository id. Raise
    TargetUnavailable or ResticError when a part cannot be read."""
    spec = context.spec
    handle = context.handle
    storage = handle.storage_identity(spec.path)
    if not storage.is_object:
        if spec.form == "files" and spec.role == "primary":
            # The primary's files matter only against plain copies; its list is shared with files-checksum.
            if any(copy.form == "files" for copy in context.dataset.copies):
                storage = with_files(storage, context.primary.entries())
        elif spec.form == "files":
            storage = with_files(storage, context.copy_entries())
        elif spec.form == "restic":
            members = list(handle.scan(posixpath.join(spec.path, RESTIC_KEYS)).values())
            config = handle.stat(posixpath.join(spec.path, RESTIC_CONFIG))
            storage = with_files(storage, members + ([config] if config else []))
    repository = repository_id() if spec.form == "restic" and repository_id else None
    return CopyIdentity(storage, repository, spec.replica)
