"""`restic diff --json` between two snapshots: the command line and its output, read by pure
functions (kept apart from commands.py and parse.py so the anomaly check adds one small module).

restic 0.14 prints one JSON object per changed path, {"message_type": "change", "path", "modifier"},
and a last {"message_type": "statistics", …}. Modifiers: "+" added, "-" removed, "M" content
changed, "U" metadata only, "T" type changed. A directory's path ends with "/"."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Diff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)  # content changed, or the type of the entry
    statistics: dict[str, Any] = field(default_factory=dict)


def diff_arguments(base_id: str, newest_id: str) -> list[str]:
    return ["--no-lock", "diff", "--json", "--", base_id, newest_id]


def parse_diff(output: str) -> Diff:
    """Given `restic diff --json` output, return the files added, removed and modified (snapshot
    paths; directories left out). Raise ValueError on output that is not what restic documents."""
    diff = Diff()
    for line in output.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        kind = item.get("message_type")
        if kind == "statistics":
            diff.statistics.update(item)
            continue
        if kind != "change":
            continue
        path, modifier = item["path"], item["modifier"]
        if path.endswith("/"):
            continue
        if modifier == "+":
            diff.added.append(path)
        elif modifier == "-":
            diff.removed.append(path)
        elif modifier in ("M", "T"):
            diff.modified.append(path)
    return diff
