"""Private scratch directories for restore tests and drills.

A restore writes only into a fresh directory (mode 0700) under agent.scratch_dir, never over the
primary or a copy, and only after a free-space check (psutil, through agent.disk) says the data
fits with a margin. The directory is removed afterwards whatever happened: on success, failure,
timeout, and on SIGTERM/SIGINT (agent.interrupt turns them into exceptions, so `finally` runs;
cleanup_all() is the CLI's last safety net).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from agent import disk

MARGIN_FRACTION = 0.10
MARGIN_BYTES = 8 * 2**20  # metadata, restic's temporary files, rounding to filesystem blocks

_OWNED = re.compile(r"^restore-.*-(\d+)\.[^.]+$")
log = logging.getLogger(__name__)

_ACTIVE: set[Path] = set()
_ACTIVE_LOCK = threading.Lock()


class ScratchError(Exception):
    """The scratch area cannot take this restore (too small, unsafe place, not writable)."""


def required_bytes(payload: int) -> int:
    """Bytes of free space a restore of `payload` bytes needs, margin included."""
    return int(payload * (1 + MARGIN_FRACTION)) + MARGIN_BYTES


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip(os.sep) + os.sep)


def overlapping(base: Path | str, protected: Iterable[str]) -> str | None:
    """Return the first protected path that the scratch base lies in or contains, else None. Works
    on a base that does not exist yet (its existing part is resolved, symlinks included), so the
    answer comes before anything is created."""
    real_base = os.path.realpath(base)
    for path in protected:
        real = os.path.realpath(path)
        if _inside(real_base, real) or _inside(real, real_base):
            return path
    return None


class ScratchDir:
    """`with ScratchDir(base, label, payload, protected) as path:` — a private directory that is gone afterwards.

    Raise ScratchError on entry, before anything is written, when the directory would overlap a
    protected path (the primary, the copy) or when base has less free space than the payload needs.
    """

    def __init__(self, base: Path, label: str, payload: int, protected: Iterable[str] = ()):
        self.base = Path(base)
        self.label = re.sub(r"[^A-Za-z0-9._-]+", "_", label)[:60]
        self.payload = payload
        self.protected = [p for p in protected if p]
        self.path: Path | None = None
        self.free_bytes: int | None = None

    def __enter__(self) -> Path:
        # Refused before anything is created: a scratch directory inside the primary or a copy would
        # otherwise be made there (with its parents) and only then found to be in the wrong place.
        overlap = overlapping(self.base, self.protected)
        if overlap:
            raise ScratchError(f"scratch directory {self.base} overlaps {overlap}; refusing to restore there, "
                               "nothing was created (set agent.scratch_dir elsewhere)")
        try:
            self.base.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise ScratchError(f"cannot create scratch directory {self.base}: {error.strerror or error}") from error
        overlap = overlapping(self.base, self.protected)  # a symlink swapped in meanwhile
        if overlap:
            raise ScratchError(f"scratch directory {self.base} overlaps {overlap}; refusing to restore there "
                               "(set agent.scratch_dir elsewhere)")
        removed = remove_abandoned(self.base)
        if removed:
            log.warning("removed %d scratch directories left by killed runs under %s", removed, self.base)
        try:
            self.free_bytes = disk.free_bytes(str(self.base))
        except OSError as error:
            raise ScratchError(f"cannot read free space of {self.base}: {error.strerror or error}") from error
        needed = required_bytes(self.payload)
        if self.free_bytes < needed:
            raise ScratchError(f"scratch {self.base} has {_mib(self.free_bytes)} free; restoring {_mib(self.payload)} "
                               f"needs {_mib(needed)} with margin — nothing restored")
        try:
            # The owner's PID in the name lets a later run remove it if this process is SIGKILLed.
            self.path = Path(tempfile.mkdtemp(prefix=f"restore-{self.label}-{os.getpid()}.", dir=self.base))  # 0700
        except OSError as error:
            raise ScratchError(f"cannot create a directory in {self.base}: {error.strerror or error}") from error
        with _ACTIVE_LOCK:
            _ACTIVE.add(self.path)
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self.path is not None:
            remove_tree(self.path)
            with _ACTIVE_LOCK:
                _ACTIVE.discard(self.path)


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def remove_tree(path: Path) -> None:
    """Remove a restored tree, including read-only directories restic recreated with their original modes."""

    def make_writable(function, failed_path, _excinfo) -> None:
        parent = os.path.dirname(failed_path)
        try:
            os.chmod(parent, stat.S_IRWXU)
            if os.path.isdir(failed_path) and not os.path.islink(failed_path):
                os.chmod(failed_path, stat.S_IRWXU)
            function(failed_path)
        except FileNotFoundError:
            pass

    if os.path.lexists(path):
        shutil.rmtree(path, onerror=make_writable)


def remove_abandoned(base: Path) -> int:
    """Remove scratch directories under base whose owning process no longer exists (a run killed
    with SIGKILL or by the OOM killer cannot clean up after itself). Return how many were removed."""
    removed = 0
    try:
        children = list(Path(base).iterdir())
    except OSError:
        return 0
    for child in children:
        match = _OWNED.match(child.name)
        if not match or not child.is_dir() or child.is_symlink():
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or _alive(pid):
            continue
        try:
            remove_tree(child)
            removed += 1
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    return True


def cleanup_all() -> None:
    """Remove every scratch directory still open (the CLI's last step, whatever happened)."""
    with _ACTIVE_LOCK:
        paths = list(_ACTIVE)
        _ACTIVE.clear()
    for path in paths:
        try:
            remove_tree(path)
        except OSError:
            pass


def active() -> list[Path]:
    with _ACTIVE_LOCK:
        return sorted(_ACTIVE)
