"""One run at a time: an flock(2) lock on STATE_DIR/run.lock.

Why flock and not a PID file: the kernel drops an flock lock when the process holding it dies,
however it dies (SIGKILL, OOM, power loss), so a stale lock file from a killed run never blocks
the next one and there is no PID-liveness guessing. The file itself stays; its content (pid, start
time) is only a hint for the message shown to the run that was turned away.

The descriptor is opened close-on-exec (Python's default), so restic and other children never
inherit the lock and cannot keep it alive after the agent is gone.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

LOCK_NAME = "run.lock"


class LockBusy(Exception):
    """Another run holds the lock. Carries the holder's hint (pid and start time) when readable."""

    def __init__(self, path: Path, holder: str):
        self.path = path
        self.holder = holder
        super().__init__(f"another backup-agent run holds {path}" + (f" ({holder})" if holder else ""))


class RunLock:
    """An exclusive, non-blocking lock on STATE_DIR/run.lock, held while the object is entered."""

    def __init__(self, state_dir: Path, note: str = ""):
        self.path = Path(state_dir) / LOCK_NAME
        self.note = note
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock at once or raise LockBusy; never wait (a second run must not queue up)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_hint(fd)
            os.close(fd)
            raise LockBusy(self.path, holder) from None
        except BaseException:
            os.close(fd)
            raise
        # Locked: leave a hint for whoever is turned away (written after locking, so never torn
        # by a second run: a turned-away run only reads).
        # The hint is only a hint: on a full disk the lock holds without it (and the run then stops
        # with "no space left on the state directory").
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}{(', ' + self.note) if self.note else ''}\n".encode(), 0)
        except OSError:
            pass
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            # Closing the descriptor releases the flock; the file stays (removing it would race
            # with a run that has just opened it).
            os.close(fd)

    def __enter__(self) -> RunLock:
        """Acquire (unless already held: `lock.acquire()` then `with lock:` is the CLI's pattern)."""
        if self._fd is None:
            self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


def _read_hint(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
