"""What restic prints, read: pure functions from restic's output (JSON and text) to values.

restic's JSON (Go's encoding/json) puts U+FFFD for every byte of a name that is not UTF-8; its text
listing keeps the bytes but is ambiguous where a name holds a newline. with_raw_paths reads the
two together, exactly. Names are str with surrogate escapes throughout (agent.names)."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.hashing import FileEntry

REPLACEMENT = "\ufffd"  # what restic's JSON (Go's encoding/json) puts for each byte that is not UTF-8
IGNORING_ERROR = "ignoring error for "  # how restic 0.14 restore names, on stderr, each file it could not restore


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: datetime
    hostname: str
    paths: tuple[str, ...]
    tags: tuple[str, ...]


def parse_time(text: str) -> datetime:
    """Given a time as restic prints it, RFC 3339 with nanoseconds ("2026-11-24T03:01:02.123456789+00:00"),
    return it to the microsecond Python keeps. Raise ValueError."""
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if not match:
        return datetime.fromisoformat(text)
    fraction = (match.group(2) or "")[:7]
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return datetime.fromisoformat(match.group(1) + fraction + zone)


def parse_snapshot(item: dict[str, Any]) -> Snapshot:
    """One snapshot of `restic snapshots --json`. Raise KeyError or ValueError."""
    return Snapshot(
        id=item["id"],
        short_id=item.get("short_id", item["id"][:8]),
        time=parse_time(item["time"]),
        hostname=item.get("hostname", ""),
        paths=tuple(item.get("paths") or ()),
        tags=tuple(item.get("tags") or ()),
    )


def parse_snapshots(output: str) -> list[Snapshot]:
    """Given `restic snapshots --json` output, return the snapshots in its order. Raise ValueError."""
    return [parse_snapshot(item) for item in json.loads(output or "[]")]


def select_snapshots(snapshots: list[Snapshot], snapshot_filter: dict[str, Any]) -> list[Snapshot]:
    """Given a repository's snapshots and a dataset's filter (tags, host, path), return its own, oldest first."""
    tags = set(snapshot_filter.get("tags") or [])
    host = snapshot_filter.get("host")
    path = snapshot_filter.get("path")
    chosen = [
        s for s in snapshots
        if tags <= set(s.tags)
        and (host is None or s.hostname == host)
        and (path is None or path.rstrip("/") in {p.rstrip("/") for p in s.paths})
    ]
    return sorted(chosen, key=lambda s: s.time)


def parse_repository_id(output: str) -> str:
    """Given `restic cat config` output, return the repository's id. Raise ValueError."""
    try:
        identifier = json.loads(output)["id"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError("restic cat config did not print a repository id") from error
    if not isinstance(identifier, str) or not identifier:
        raise ValueError("restic cat config printed an empty repository id")
    return identifier


def parse_version(output: str) -> str:
    """Given `restic version` output, return the version ("0.14.0"), else the output itself."""
    match = re.search(r"restic (\S+)", output)
    return match.group(1) if match else output.strip()


# restic 0.14 `snapshots` says this on stderr for each snapshot file it cannot load, and goes on.
_UNREADABLE_SNAPSHOT = re.compile(r"could not load snapshot ([0-9a-f]{8,64}): (.*)$", re.M)


def unreadable_snapshots(stderr: str) -> list[tuple[str, str]]:
    """Given `restic snapshots` stderr, return (snapshot id as restic names it, why) for each snapshot
    file restic could not load, in its order."""
    return [(m.group(1), m.group(2).strip()) for m in _UNREADABLE_SNAPSHOT.finditer(stderr)]


def unreadable_message(unreadable: list[tuple[str, str]]) -> str:
    """Say which snapshot files could not be read and why that leaves the newest backup unknown."""
    named = "; ".join(f"snapshot {sid} ({why[:120]})" for sid, why in unreadable[:3])
    more = f" and {len(unreadable) - 3} more" if len(unreadable) > 3 else ""
    return (f"cannot read {named}{more}: the newest backup is not known (an unreadable snapshot may be the "
            "newest, an older one is not taken in its place); repair or forget it (snapshots/ of the repository)")


# --- listings ------------------------------------------------------------------------------------


def parse_ls(output: str) -> list[dict[str, Any]]:
    """Given `restic ls --json` output, return its nodes in listing order (the snapshot line left out)."""
    return [node for node in map(json.loads, filter(str.strip, output.splitlines()))
            if node.get("struct_type") == "node"]


def has_lossy_paths(nodes: Iterable[dict[str, Any]]) -> bool:
    """Whether some path of an `ls --json` listing may stand for bytes that are not UTF-8."""
    return any(REPLACEMENT in node.get("path", "") for node in nodes)


def _same_name(lossy: str, raw: str) -> bool:
    """Whether a path from restic's JSON (U+FFFD for each byte that is not UTF-8) is raw, a path
    with surrogate escapes (one per such byte), character for character."""
    return len(lossy) == len(raw) and all(
        a == b or (a == REPLACEMENT and 0xDC80 <= ord(b) <= 0xDCFF) for a, b in zip(lossy, raw, strict=True))


def with_raw_paths(nodes: list[dict[str, Any]], text_listing: str) -> list[dict[str, Any]]:
    """Given `ls --json` nodes and `restic --quiet ls` of the same snapshot (each path followed by a
    newline, same order, bytes kept), return the nodes with their real paths and names.

    The text form alone is ambiguous (a name may hold a newline), the JSON alone lossy; together
    they are exact: each JSON path has as many characters as the real one, so each is read off the
    text at its place and must agree with it except where the JSON says U+FFFD. Raise ValueError
    when they do not agree (a listing that changed in between, an unknown restic output)."""
    exact: list[dict[str, Any]] = []
    position = 0
    for node in nodes:
        lossy = node.get("path", "")
        raw = text_listing[position:position + len(lossy)]
        if not _same_name(lossy, raw) or text_listing[position + len(lossy):position + len(lossy) + 1] != "\n":
            raise ValueError(f"restic's text listing does not match its JSON listing at {lossy!r}")
        position += len(lossy) + 1
        exact.append({**node, "path": raw, "name": raw.rsplit("/", 1)[-1]} if REPLACEMENT in lossy else node)
    return exact


def snapshot_root(files: list[dict[str, Any]], paths: tuple[str, ...]) -> str:
    """Given a snapshot's file nodes and the paths it backed up, return where the backed-up directory
    sits inside it, with a slash at each end: restic stores the absolute path it was given, or only
    its last component when it was given a relative one ("/data/"); "/" when it backed up several."""
    if len(paths) != 1:
        return "/"
    backed_up = paths[0].rstrip("/")
    for candidate in (backed_up + "/", "/" + posixpath.basename(backed_up) + "/"):
        if any(node["path"].startswith(candidate) for node in files):
            return candidate
    return "/"


def file_entries(files: list[dict[str, Any]], prefix: str) -> dict[str, FileEntry]:
    """Given a snapshot's file nodes and its root, return the files under the root by relative path,
    with the size and mtime the backup recorded (0 when it recorded none). Raise ValueError."""
    entries: dict[str, FileEntry] = {}
    for node in files:
        path = node["path"]
        if not path.startswith(prefix):
            continue
        relpath = path[len(prefix):]
        mtime = parse_time(node["mtime"]).timestamp() if node.get("mtime") else 0.0
        entries[relpath] = FileEntry(relpath, int(node.get("size", 0)), mtime)
    return entries


def failed_files(stderr: str, prefix: str, known: Iterable[str] = ()) -> list[str]:
    """Given a failed restore's stderr, where the backed-up directory sits in the snapshot and the
    files the backup holds, return the dataset-relative paths restic named in its "ignoring error
    for PATH: …" lines, so a damaged pack is reported by the files it took down. A known file is
    found by its whole name (which may hold a newline or ": "); other lines are read up to ": "."""
    failed = {relpath for relpath in known if f"{IGNORING_ERROR}{prefix}{relpath}: " in stderr}
    for line in stderr.splitlines():
        if not line.startswith(IGNORING_ERROR):
            continue
        path = line[len(IGNORING_ERROR):].split(": ", 1)[0]
        relpath = path[len(prefix):] if path.startswith(prefix) else path.lstrip("/")
        # A line cut short by a newline or ": " inside a name already found whole adds nothing.
        if not any(whole.startswith(relpath) and whole[len(relpath):][:1] in ("\n", ":") for whole in failed):
            failed.add(relpath)
    return sorted(failed)
