"""Stopping a run cleanly on SIGTERM or SIGINT (Ctrl-C).

systemd stops a unit with SIGTERM; Python's default for it kills the process at once, so no
`finally` block runs and a restore test would leave its scratch directory behind. The CLI
installs a handler that raises RunInterrupted (a KeyboardInterrupt) in the main thread instead.
The run then sets `cancelled`, stops the external commands still running (restic restores run in
worker threads, in their own process groups, and never see the signal: each is asked with SIGINT,
so restic removes its repository lock, and killed after agent.execute.STOP_GRACE_SECONDS), waits
briefly for the workers' cleanup, and records the run as interrupted.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from agent import execute

# Set once a stop was asked for; checks look at it between steps and stop early.
cancelled = threading.Event()


class RunInterrupted(KeyboardInterrupt):
    """The agent was asked to stop (SIGTERM). A KeyboardInterrupt so every handler of Ctrl-C handles it too."""


def _raise(signum: int, frame: object) -> None:
    if cancelled.is_set():
        return  # a second signal while cleaning up must not cut the cleanup short
    cancelled.set()
    raise RunInterrupted(f"stopped by {signal.Signals(signum).name}")


def install_signal_handlers() -> None:
    """Make SIGTERM raise RunInterrupted in the main thread (SIGINT already raises KeyboardInterrupt)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise)


def stop_workers() -> None:
    """Ask every worker to stop: set `cancelled` and stop the external commands still running."""
    cancelled.set()
    execute.stop_running()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGTERM and SIGINT while something must complete (the records transaction); re-raise after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if caught:
        cancelled.set()
        raise RunInterrupted(f"stopped by {signal.Signals(caught[0]).name}")
