"""An in-memory restic repository, for fast unit tests of the restic checks (tests/unit/checks).

It answers what CopyContext.restic (agent.restic.ResticRepository) answers the checks —
snapshots(), check(), ls(), stats(), repository_id() and run("restore", …) — from snapshots the
test adds, and fails the way the test says with the product's own ResticError. Its damage model
follows restic 0.14 as tests/integration/test_checks_restic.py sees it: flipped bytes inside a
pack are found only by `check --read-data-subset` of the group holding that pack (and by restoring
the files in it); a lost pack is found by plain `check` too. Whether restic behaves so is what the
integration tests prove against the real tool.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.restic import ResticError, ResticFailure, Snapshot
from agent.targets.base import ResticLocation

# What restic 0.14 prints for each kind of failure (stderr), as the agent's classifier reads it.
STDERR = {
    ResticFailure.WRONG_PASSWORD: "Fatal: wrong password or no key found",
    ResticFailure.NO_REPOSITORY: "Fatal: unable to open config file: Stat: stat /r/config: no such file or directory\n"
                                 "Is there a repository at the following location?",
    ResticFailure.LOCKED: "Fatal: unable to create lock in backend: repository is already locked by PID 4242",
    ResticFailure.UNREACHABLE: "Fatal: unable to open repository: dial tcp 127.0.0.1:22: connect: connection refused",
    ResticFailure.TIMEOUT: "",
    ResticFailure.NOT_INSTALLED: "",
    ResticFailure.DATA_ERROR: "Pack ID does not match, want 3f1a2b3c, got 9e8d7c6b\nFatal: repository contains errors",
    ResticFailure.OTHER: "Fatal: something unexpected",
}


def restic_error(kind: ResticFailure, stderr: str | None = None) -> ResticError:
    """A ResticError as agent.restic builds one: the kind, then restic's last meaningful line."""
    stderr = STDERR.get(kind, "") if stderr is None else stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    return ResticError(kind, f"{kind}: {lines[-1] if lines else 'no output'}", stderr)


@dataclass
class FakeSnapshot:
    snapshot: Snapshot
    files: dict[str, tuple[bytes, float]]  # absolute path in the snapshot -> (bytes, mtime)


@dataclass
class FakeRestic:
    """Stands in for agent.restic.ResticRepository. Set `failures[operation]` (snapshots, check,
    read-data, ls, stats, restore, repository_id) to a ResticError to make that operation fail."""

    location: ResticLocation = field(default_factory=lambda: ResticLocation("fake:/repo"))
    snapshot_list: list[FakeSnapshot] = field(default_factory=list)
    failures: dict[str, ResticError] = field(default_factory=dict)
    damaged_groups: set[int] = field(default_factory=set)  # read-data groups holding a damaged pack
    all_groups_damaged: bool = False
    damaged_files: set[str] = field(default_factory=set)  # snapshot paths whose data a damaged pack holds
    pack_lost: bool = False
    id: str = "0f0e0d0c" + "ab" * 28
    calls: list[tuple[str, ...]] = field(default_factory=list)
    removed_locks: list[Any] = field(default_factory=list)

    # --- what the test does to the repository -------------------------------------------------

    def add_snapshot(self, files: dict[str, bytes | tuple[bytes, float]], *, time: datetime,
                     root: str = "/srv/data", tags: tuple[str, ...] = (), host: str = "fake-host") -> Snapshot:
        """A backup of `root` taken at `time` holding files (relative to root: bytes, or (bytes, mtime))."""
        stored = {}
        for relpath, value in files.items():
            data, mtime = value if isinstance(value, tuple) else (value, time.timestamp() - 3600)
            stored[posixpath.join(root, relpath)] = (data.encode() if isinstance(data, str) else data, mtime)
        digest = hashlib.sha256(f"{root}{time.isoformat()}{tags}{len(self.snapshot_list)}".encode()).hexdigest()
        snapshot = Snapshot(digest, digest[:8], time.astimezone(UTC), host, (root,), tuple(tags))
        self.snapshot_list.append(FakeSnapshot(snapshot, stored))
        return snapshot

    def backup(self, source: Any, root: str, *, time: datetime, tags: tuple[str, ...] = ()) -> Snapshot:
        """`restic backup ROOT` of a fake target's tree (bytes and mtimes as they are now)."""
        files = {relpath: (source.read(posixpath.join(root, relpath)), entry.mtime)
                 for relpath, entry in source.scan(root).items()}
        return self.add_snapshot(files, time=time, root=root, tags=tags)

    def corrupt_pack(self, group: int | None = None, files: tuple[str, ...] = ()) -> None:
        """Flip bytes inside a data pack: `check --read-data-subset` of `group` (of every group when
        None) fails, plain `check` does not; restoring `files` (snapshot paths) fails."""
        if group is None:
            self.all_groups_damaged = True
        else:
            self.damaged_groups.add(group)
        self.damaged_files.update(files)

    def lose_pack(self) -> None:
        """Delete a pack: plain `check` fails as well."""
        self.pack_lost = True
        self.all_groups_damaged = True

    def fail(self, operation: str, kind: ResticFailure, stderr: str | None = None) -> None:
        self.failures[operation] = restic_error(kind, stderr)

    # --- what ResticRepository answers ------------------------------------------------------------

    def snapshots(self) -> list[Snapshot]:
        self._call("snapshots")
        return [s.snapshot for s in sorted(self.snapshot_list, key=lambda s: s.snapshot.time)]

    def check(self, read_data_subset: str | None = None) -> str:
        if read_data_subset is None:
            self._call("check")
            if self.pack_lost:
                raise restic_error(ResticFailure.DATA_ERROR, "error: pack 3f1a2b3c: does not exist\n"
                                                             "Fatal: repository contains errors")
            return "no errors were found\n"
        self._call("read-data", read_data_subset)
        group = int(read_data_subset.split("/")[0])
        if self.pack_lost or self.all_groups_damaged or group in self.damaged_groups:
            raise restic_error(ResticFailure.DATA_ERROR)
        return "no errors were found\n"

    def ls(self, snapshot_id: str) -> list[dict[str, Any]]:
        self._call("ls", snapshot_id)
        found = self._snapshot(snapshot_id)
        nodes: dict[str, dict[str, Any]] = {}
        for path, (data, mtime) in sorted(found.files.items()):
            directory = posixpath.dirname(path)
            while directory not in nodes and directory != "/":
                nodes[directory] = {"name": posixpath.basename(directory), "type": "dir", "path": directory,
                                    "struct_type": "node"}
                directory = posixpath.dirname(directory)
            nodes[path] = {"name": posixpath.basename(path), "type": "file", "path": path, "size": len(data),
                           "mtime": datetime.fromtimestamp(mtime, UTC).isoformat(), "struct_type": "node"}
        return [nodes[p] for p in sorted(nodes)]

    def stats(self, snapshot_id: str, mode: str = "restore-size") -> dict[str, Any]:
        self._call("stats", snapshot_id)
        files = self._snapshot(snapshot_id).files
        return {"total_size": sum(len(d) for d, _ in files.values()), "total_file_count": len(files)}

    def repository_id(self) -> str:
        self._call("repository_id")
        return self.id

    def run(self, *args: str, timeout: float | None = None) -> str:
        """Only `restore` and `diff` reach run() from the checks: restore [--target=DIR] [--verify]
        [--include=PATTERN]… [--] SNAPSHOT, writing the files under DIR + their snapshot path; and
        --no-lock diff --json -- BASE NEWEST (agent.restic.diff), content compared byte for byte."""
        if args[:3] == ("--no-lock", "diff", "--json"):
            return self._diff(*args[-2:])
        if not args or args[0] != "restore":
            raise AssertionError(f"the fake restic does not know `restic {' '.join(args)}`")
        self._call("restore", *args[1:])
        target, includes, snapshot_id = _restore_arguments(args[1:])
        damaged = []
        for path, (data, mtime) in self._snapshot(snapshot_id).files.items():
            if includes and not any(path == p or path.startswith(p.rstrip("/") + "/") for p in includes):
                continue
            if path in self.damaged_files:
                damaged.append(path)
                continue
            local = Path(target + path)
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            os.utime(local, (mtime, mtime))
        if damaged:
            lines = [f"ignoring error for {p}: LoadDataBlob: ciphertext verification failed" for p in sorted(damaged)]
            raise restic_error(ResticFailure.DATA_ERROR, "\n".join([*lines, f"Fatal: There were {len(lines)} errors"]))
        return ""

    def _diff(self, base_id: str, newest_id: str) -> str:
        self._call("diff", base_id, newest_id)
        old, new = self._snapshot(base_id).files, self._snapshot(newest_id).files
        changes = [("+", p) for p in new if p not in old] + [("-", p) for p in old if p not in new]
        changes += [("M", p) for p in new if p in old and new[p][0] != old[p][0]]
        lines = [json.dumps({"message_type": "change", "path": p, "modifier": m}) for m, p in sorted(changes, key=lambda c: c[1])]
        lines.append(json.dumps({"message_type": "statistics", "changed_files": sum(1 for m, _ in changes if m == "M"),
                                 "added": {"bytes": sum(len(new[p][0]) for m, p in changes if m != "-")},
                                 "removed": {"bytes": sum(len(old[p][0]) for m, p in changes if m != "+")}}))
        return "\n".join(lines) + "\n"

    # --- inside ----------------------------------------------------------------------------------

    def _call(self, operation: str, *args: str) -> None:
        self.calls.append((operation, *args))
        if operation in self.failures:
            raise self.failures[operation]

    def _snapshot(self, snapshot_id: str) -> FakeSnapshot:
        for found in self.snapshot_list:
            if snapshot_id in (found.snapshot.id, found.snapshot.short_id):
                return found
        raise restic_error(ResticFailure.OTHER, f"Fatal: no matching ID found for prefix {snapshot_id!r}")


def _restore_arguments(arguments: tuple[str, ...]) -> tuple[str, list[str], str]:
    """(target, include patterns unescaped, snapshot) from restore's arguments, written either as
    --flag=value or --flag value."""
    target, includes, positional = "", [], []
    items = iter(arguments)
    for item in items:
        if item == "--":
            positional += list(items)
        elif item.startswith("--target"):
            target = item.split("=", 1)[1] if "=" in item else next(items)
        elif item.startswith("--include"):
            pattern = item.split("=", 1)[1] if "=" in item else next(items)
            includes.append(_unescape(pattern))
        elif not item.startswith("-"):
            positional.append(item)
    if not target or not positional:
        raise AssertionError(f"restore without --target or snapshot: {arguments}")
    return target, includes, positional[-1]


def _unescape(pattern: str) -> str:
    # restic reads --include like filepath.Match: a backslash quotes the next character.
    out, escaped = [], False
    for char in pattern:
        if char == "\\" and not escaped:
            escaped = True
            continue
        out.append(char)
        escaped = False
    return "".join(out)
