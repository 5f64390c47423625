"""Small persistent state between runs (read-data rotation, restore-test rotation), in STATE_DIR/state.json.

Written atomically: `stage()` writes the new state to a temporary file (fsync'd) before the run's
records are committed and `install()` renames it over state.json after, so a full disk fails the
run before anything is written and a killed run never leaves it half-written.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import space


class StateStore:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        try:
            self._data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self._data = {}
        except (OSError, ValueError):
            # A corrupt state file only costs rotation progress; start over rather than stop verifying.
            self._data = {}

    def get(self, section: str, key: str, default: Any = None) -> Any:
        with self._lock:
            return json.loads(json.dumps(self._data.get(section, {}).get(key, default)))

    def put(self, section: str, key: str, value: Any) -> None:
        with self._lock:
            self._data.setdefault(section, {})[key] = value

    def save(self) -> None:
        """Write state.json now. Raise NoSpaceError on a full disk (state.json is left as it was)."""
        self.stage().install()

    def stage(self) -> StagedState:
        """Write the state next to state.json without replacing it yet. Raise NoSpaceError on a full disk."""
        with self._lock:
            text = json.dumps(self._data, indent=1, sort_keys=True, ensure_ascii=False)
        with space.writing(self.path.parent, "writing state.json"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _remove_leftovers(self.path.parent)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".state.", suffix=".tmp")
            try:
                # A file name that is not UTF-8 (a lone surrogate, agent.names) is written as the JSON
                # escape \udcXX, which reads back as the same character: the file stays valid UTF-8.
                with os.fdopen(handle, "w", encoding="utf-8", errors="backslashreplace") as file:
                    file.write(text)
                    file.flush()
                    os.fsync(file.fileno())
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        return StagedState(Path(temporary), self.path)


@dataclass
class StagedState:
    """A state.json written to a temporary file, waiting to replace the real one (or to be dropped)."""

    temporary: Path
    path: Path

    def install(self) -> None:
        try:
            with space.writing(self.path.parent, "writing state.json"):
                os.replace(self.temporary, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        self.temporary.unlink(missing_ok=True)


def _remove_leftovers(directory: Path, older_than_seconds: float = 3600.0) -> None:
    """Remove staged state files a killed run left behind (an hour old: no live run still needs them)."""
    limit = time.time() - older_than_seconds
    for leftover in directory.glob(".state.*.tmp"):
        try:
            if leftover.stat().st_mtime < limit:
                leftover.unlink()
        except OSError:
            pass
