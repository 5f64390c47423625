"""Progress lines for restores and drills on a terminal: bytes, rate, ETA.

Quiet unless stderr is a terminal and --json is off (under systemd nothing is printed). Several
restores may run at once (targets in parallel): each update is one rewritten line, under a lock.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from agent.units import format_duration, format_size


class Progress:
    """Creates tasks; the disabled one costs nothing."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True, interval: float = 0.5):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.interval = interval
        self._lock = threading.Lock()

    @classmethod
    def for_terminal(cls, as_json: bool) -> Progress:
        return cls(enabled=sys.stderr.isatty() and not as_json)

    def task(self, label: str, total: int | None) -> Task:
        return Task(self, label, total)

    def _write(self, text: str, end: str = "") -> None:
        with self._lock:
            self.stream.write("\r\033[K" + text + end)
            self.stream.flush()


class Task:
    def __init__(self, owner: Progress, label: str, total: int | None):
        self.owner = owner
        self.label = label
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self._shown = 0.0

    def add(self, count: int) -> None:
        with self.owner._lock:  # fetches add from several download threads at once
            self.done += count
        self._show()

    def update(self, done: int) -> None:
        self.done = done
        self._show()

    def _show(self) -> None:
        if not self.owner.enabled:
            return
        now = time.monotonic()
        if now - self._shown >= self.owner.interval:
            self._shown = now
            self.owner._write(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.started, 1e-6)
        rate = self.done / elapsed
        text = f"  {self.label}: {format_size(self.done)}"
        if self.total:
            text += f" / {format_size(self.total)} ({min(self.done / self.total, 1):.0%})"
        text += f"  {format_size(rate)}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f"  ETA {format_duration((self.total - self.done) / rate)}"
        return text

    def close(self) -> None:
        if self.owner.enabled:
            self.owner._write(self.line() + f"  done in {format_duration(time.monotonic() - self.started)}", end="\n")


DISABLED = Progress(enabled=False)
