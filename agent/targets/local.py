"""Local targets: directories on this machine, usually removable SSD/HDD mounts."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent import disk, manifest
from agent.errors import TargetUnavailable
from agent.hashing import CHUNK, FileEntry, HashOutcome, hash_tree
from agent.identity import BOOT_ID_PATH, StorageIdentity
from agent.names import show
from agent.targets.base import Probe, ResticLocation, TargetHandle, receive_file, safe_relpath
from agent.targets.options import KindOptions, Value, option

# Media on which a local copy is usually removable: require_mount defaults to true there.
REMOVABLE_MEDIA = {"ssd", "hdd", "usb", "tape"}


@dataclass(frozen=True, kw_only=True)
class LocalOptions(KindOptions):
    """A local target's keys: whether its copies must be on a mounted disk, and which one."""

    require_mount: bool | None = option(
        {"type": "boolean", "description": "local: the path must be on a mounted, non-root filesystem."},
        default=None)  # None only until complete(): then the medium has decided
    mountpoint: str | None = option(
        {"type": "string", "minLength": 1,
         "description": "local: the exact mountpoint the disk is mounted at; copies must lie under it.",
         "examples": ["/mnt/backup-hdd"]},
        default=None, value=Value.DIRECTORY)
    removable: bool = option(
        {"type": "boolean",
         "description": "local: a disk unplugged by design (the air-gapped copy). Not mounted is `offline`, "
                        "credited from its last passed verification for credit_for, not an error.",
         "examples": [True]},
        default=False)

    def complete(self, medium: str) -> LocalOptions:
        if self.require_mount is None:
            mounted = self.removable or medium.casefold() in REMOVABLE_MEDIA
            return dataclasses.replace(self, require_mount=mounted)
        return self


class LocalTarget(TargetHandle):
    """Directories on this machine: every operation is a system call, every hash read here."""

    can_fetch = True
    can_tell_storage = True
    can_remove_restic_lock = True

    def probe(self, path: str, *, require_tree: bool) -> Probe:
        facts = {}
        if self.target.settings.require_mount:
            # Checked before existence: an unplugged disk often leaves its empty mountpoint behind,
            # and "empty" or "stale" would hide the real problem.
            existing = _nearest_existing(path)
            mount = disk.mount_of(existing)
            facts["mountpoint"] = mount.mountpoint
            if mount.is_root:
                return Probe(False, f"not mounted: {path} is on the root filesystem, not on a mounted {self.target.medium}",
                             facts=facts)
            expected = self.target.settings.mountpoint
            if expected and os.path.realpath(mount.mountpoint) != os.path.realpath(expected):
                # The path sits on some other mounted filesystem (e.g. /mnt itself is a mount),
                # so "not the root filesystem" alone would call an unplugged disk mounted.
                return Probe(False, f"not mounted: {path} is on {mount.mountpoint}, not on the {self.target.medium} "
                             f"expected at {expected}", facts=facts)
            medium = disk.detected_medium(mount.device)
        else:
            medium = None
        if not os.path.exists(path):
            return Probe(False, f"path does not exist: {path}", medium, facts)
        if require_tree and not os.path.isdir(path):
            return Probe(False, f"not a directory: {path}", medium, facts)
        if not os.access(path, os.R_OK | os.X_OK):
            return Probe(False, f"permission denied: {path}", medium, facts)
        detail = f"mounted at {facts['mountpoint']}" if "mountpoint" in facts else "reachable"
        if medium and medium != self.target.medium and self.target.medium in ("ssd", "hdd"):
            detail += f"; detected medium {medium} differs from declared {self.target.medium} (declared wins)"
        return Probe(True, detail, medium, facts)

    def scan(self, path: str) -> Mapping[str, FileEntry]:
        try:
            return manifest.scan(path)
        except OSError as error:
            raise TargetUnavailable(f"cannot list {path}: {error.strerror or error}") from error

    def stat(self, path: str) -> FileEntry | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise TargetUnavailable(f"cannot stat {path}: {error.strerror or error}") from error
        return FileEntry(os.path.basename(path), st.st_size, st.st_mtime, st.st_ino, st.st_ctime_ns, st.st_dev)

    def hash(self, path: str, entries: list[FileEntry],
             progress: Callable[[int], None] | None = None) -> HashOutcome:
        return hash_tree(
            path,
            entries,
            cache=self.context.hash_cache,
            now=self.context.now,
            rehash_every=self.context.rehash_every,
            workers=self.context.hash_workers,
            progress=progress,
            interval=self.context.schedule_interval,
            cpu=self.context.cpu,
        )

    def restic_location(self, path: str) -> ResticLocation:
        return ResticLocation(repository=path)

    def storage_identity(self, path: str) -> StorageIdentity:
        try:
            with open(BOOT_ID_PATH, encoding="ascii") as handle:
                host = handle.read().strip()
            real = os.path.realpath(path, strict=True)
            st = os.stat(real)
            ancestors = set()
            current = real
            while current != os.path.dirname(current):
                current = os.path.dirname(current)
                above = os.stat(current)
                ancestors.add((above.st_dev, above.st_ino))
        except OSError as error:
            raise TargetUnavailable(f"cannot read the storage identity of {path}: {error.strerror or error}"
                                    f"{f' ({error.filename})' if error.filename else ''}") from error
        if not host:
            raise TargetUnavailable(f"cannot read the storage identity of {path}: {BOOT_ID_PATH} is empty")
        return StorageIdentity(host=host, real_path=real, root=(st.st_dev, st.st_ino), ancestors=frozenset(ancestors))

    def _remove_restic_lock(self, path: str, lock_id: str) -> None:
        try:
            os.unlink(os.path.join(path, "locks", lock_id))
        except FileNotFoundError:
            pass  # gone already: what was wanted
        except OSError as error:
            raise TargetUnavailable(f"cannot remove restic lock {lock_id[:8]} in {path}: {error.strerror or error}") \
                from error

    def fetch(self, path: str, relpaths: list[str], destination: str,
              progress: Callable[[int], None] | None = None) -> int:
        """Copy files under path into destination (a restore test's scratch directory); return bytes copied."""
        total = 0
        for relpath in relpaths:
            safe_relpath(relpath)  # refused before the source is opened
            try:
                with open(os.path.join(path, relpath), "rb") as source:
                    total += receive_file(iter(lambda source=source: source.read(CHUNK), b""), destination, relpath,
                                          progress)
            except FileNotFoundError as error:
                raise TargetUnavailable(f"cannot restore {show(relpath)}: it vanished from {path}") from error
            except OSError as error:
                raise TargetUnavailable(f"cannot restore {show(relpath)}: {error.strerror or error}") from error
        return total


def _nearest_existing(path: str) -> str:
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current
