"""A restic repository's files as they lie on a target: which are named by the SHA-256 of their
content (restic's design: every file under data/, index/, snapshots/ and keys/), and what each holds.

Pure functions over relative paths (as a target's scan returns them), so a repository's bytes can
be proven where they lie, without its password: hash the file, compare with its name."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agent.hashing import FileEntry

# The directory of a repository file → what it holds, as the detail names it.
HOLDS = {"data": "pack", "index": "index", "snapshots": "snapshot", "keys": "key"}
_NAME = re.compile(r"^[0-9a-f]{64}$")
# A file restic is still writing (its backends write "<id>-tmp-…" and rename it when complete).
_IN_FLIGHT = re.compile(r"^[0-9a-f]{64}-tmp-")


@dataclass
class RepositoryFiles:
    """A repository's listing sorted: the files named by their hash, and the others under the same
    directories (restic's unfinished writes, strays), which prove nothing and are only counted."""

    named: list[FileEntry] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)


def holds(relpath: str) -> str | None:
    """What a repository file holds ("pack", "index", "snapshot", "key"), None outside those directories."""
    return HOLDS.get(relpath.split("/", 1)[0]) if "/" in relpath else None


def expected_digest(relpath: str) -> str:
    """The SHA-256 a repository file's content must have: its name."""
    return posixpath.basename(relpath)


def sort_files(entries: Mapping[str, FileEntry] | Iterable[FileEntry]) -> RepositoryFiles:
    """Given a repository's files (a target's scan, paths relative to the repository), return the
    ones named by their hash and the others under data/, index/, snapshots/ and keys/."""
    values = entries.values() if isinstance(entries, Mapping) else entries
    found = RepositoryFiles()
    for entry in values:
        if holds(entry.relpath) is None:
            continue  # config, locks/: not named by their content
        name = posixpath.basename(entry.relpath)
        if _NAME.match(name):
            found.named.append(entry)
        elif _IN_FLIGHT.match(name):
            found.in_flight.append(entry.relpath)
        else:
            found.strays.append(entry.relpath)
    found.named.sort(key=lambda e: e.relpath)
    return found


def describe(relpath: str) -> str:
    """'data/e3/e3218c54… (a pack)' — a repository file as a detail names it."""
    what = holds(relpath) or "file"
    article = "an" if what[0] in "aeiou" else "a"
    return f"{relpath} ({article} {what})"
