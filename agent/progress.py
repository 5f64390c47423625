"""Progress on a terminal for the long steps — hashing, restic check, restores, a drill's hash
check — one line per running task, drawn by rich so several targets working at once never garble
each other, and log lines and notes scroll above them.

Quiet unless stderr is a terminal and --json is off: under systemd nothing is drawn. A disabled
Progress costs nothing; tasks are created the same way either way.
"""

from __future__ import annotations

import sys
import threading
import time

from agent.units import format_duration, format_size


class Progress:
    """Creates tasks; draws them while any is open."""

    def __init__(self, enabled: bool = True, interval: float = 0.5, console=None):
        self.enabled = enabled
        self.interval = interval
        self._console = console
        self._lock = threading.Lock()
        self._display = None  # rich.progress.Progress while a task is open
        self._open = 0

    @classmethod
    def for_terminal(cls, as_json: bool) -> Progress:
        return cls(enabled=sys.stderr.isatty() and not as_json)

    def task(self, label: str, total: int | None, unit: str = "bytes") -> Task:
        return Task(self, label, total, unit)

    def note(self, line: str) -> None:
        """Print one line above the running tasks (or plainly when none runs); nothing when disabled."""
        if not self.enabled:
            return
        with self._lock:
            console = self._display.console if self._display is not None else self._new_console()
            console.print(line, markup=False, highlight=False)

    def _new_console(self):
        from rich.console import Console

        return self._console or Console(file=sys.stderr, highlight=False)

    def _start(self, label: str, total: int | None, unit: str) -> int | None:
        from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        with self._lock:
            if self._display is None:
                self._display = RichProgress(
                    TextColumn("{task.description}"), BarColumn(bar_width=24), TextColumn("{task.fields[amount]}"),
                    TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), TimeElapsedColumn(),
                    console=self._new_console(), transient=True, refresh_per_second=1 / self.interval)
                self._display.start()
            self._open += 1
            return self._display.add_task(label, total=total, amount="", rate="")

    def _finish(self, task_id: int, summary: str) -> None:
        with self._lock:
            display = self._display
            if display is None:
                return
            display.remove_task(task_id)
            display.console.print(summary, markup=False, highlight=False)
            self._open -= 1
            if self._open == 0:
                display.stop()
                self._display = None

    def _update(self, task_id: int, completed: int, amount: str, rate: str) -> None:
        display = self._display
        if display is not None:
            display.update(task_id, completed=completed, amount=amount, rate=rate)


class Task:
    """One long step: bytes (or files) done of a total, shown while it runs, a summary line at the end."""

    def __init__(self, owner: Progress, label: str, total: int | None, unit: str = "bytes"):
        self.owner = owner
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._id = owner._start(label, total, unit) if owner.enabled else None

    def add(self, count: int) -> None:
        with self._lock:  # fetches add from several download threads at once
            self.done += count
            done = self.done
        self._show(done)

    def update(self, done: int) -> None:
        with self._lock:
            self.done = done
        self._show(done)

    def _amount(self, done: int) -> str:
        shown = format_size(done) if self.unit == "bytes" else f"{done:,} {self.unit}"
        if self.total:
            shown += " / " + (format_size(self.total) if self.unit == "bytes" else f"{self.total:,}")
        return shown

    def _rate(self, done: int) -> str:
        per_second = done / max(time.monotonic() - self.started, 1e-6)
        return f"{format_size(per_second)}/s" if self.unit == "bytes" else f"{per_second:,.0f} {self.unit}/s"

    def _show(self, done: int) -> None:
        if self._id is not None:
            self.owner._update(self._id, done, self._amount(done), self._rate(done))

    def line(self) -> str:
        if not self.done and not self.total:  # a step with nothing to count (restic check): its time says it
            return f"  {self.label}:"
        return f"  {self.label}: {self._amount(self.done)}  {self._rate(self.done)}"

    def close(self) -> None:
        if self._id is not None:
            task_id, self._id = self._id, None
            self.owner._finish(task_id, self.line() + f"  done in {format_duration(time.monotonic() - self.started)}")

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


DISABLED = Progress(enabled=False)
