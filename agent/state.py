"""Small persistent state between runs (read-data rotation, restore-test rotation), in STATE_DIR/state.json.

Written atomically after the run's records are committed, so a killed run never leaves it half-written.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any


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
        with self._lock:
            text = json.dumps(self._data, indent=1, sort_keys=True, ensure_ascii=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".state.", suffix=".tmp")
        try:
            # A file name that is not UTF-8 (a lone surrogate, agent.names) is written as the JSON
            # escape \udcXX, which reads back as the same character: the file stays valid UTF-8.
            with os.fdopen(handle, "w", encoding="utf-8", errors="backslashreplace") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
