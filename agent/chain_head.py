"""What remembers the tail of the QEF-19-05 chain besides the store itself.

A hash chain shows an edit or a deletion inside it, but not that its newest records were cut off
or that the whole store was replaced by an empty one: what is left is still a perfect chain. So
the newest record's number and hash are kept in two more places next to the store:

- the head file (`records.sqlite.head`), rewritten at every append. It is written *before* the
  append commits, marked pending with the head it builds on, and confirmed after the commit, so a
  crash or a full disk at any point leaves a head the store agrees with (the old one or the new).
- the head log (`records-head.log`): a line per committed append, only ever appended to (make it
  append-only with `chattr +a` where the filesystem allows), and a line when the operator accepts
  a new chain (`verify --accept-new-chain`); only lines after the last such event count.

Outside the host, the metrics backup_agent_records_last_number and _last_hash_prefix (kept by
Prometheus) remember it, and `records verify --anchor N:HASH` checks a remembered head. A local
attacker who can write every one of these files can still cut the tail and rewrite both
consistently; only an anchor kept elsewhere shows that.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent import atomic
from agent.clock import iso, now

MIN_PREFIX = 13  # hex digits: the 52 bits exported as backup_agent_records_last_hash_prefix
NEW_CHAIN = "new-chain"


class HeadUnreadable(Exception):
    """The head file exists but cannot be read or parsed."""


@dataclass(frozen=True)
class Anchor:
    """A record the chain is known to have reached: its number and its hash (or a prefix of it)."""

    record_no: int  # the record's sequence number in its agent's chain
    hash: str
    source: str
    agent: str | None = None  # None: the agent of the store it is checked against

    def matches(self, digest: str | None) -> bool:
        return digest is not None and digest.startswith(self.hash)


@dataclass(frozen=True)
class Head:
    record_no: int
    hash: str
    # While the append that moves the head here is not confirmed: the head it builds on.
    base: Anchor | None = None


def head_path(store: Path) -> Path:
    return Path(str(store) + ".head")


def log_path(store: Path) -> Path:
    # Not "records.sqlite.*": a glob that removes the store and its head leaves the log.
    return Path(store).with_name(f"{Path(store).stem}-head.log")


def parse_anchor(text: str) -> Anchor:
    """Given [AGENT/]NUMBER:HASH (HASH: the full hex digest or its first ≥ 13 hex digits; NUMBER the
    record's sequence number in AGENT's chain, this agent's without AGENT), return an Anchor.
    Raise ValueError."""
    match = re.fullmatch(r"(?:([a-z0-9][a-z0-9_.-]{0,63})/)?#?(\d+):([0-9a-fA-F]+)", text.strip())
    if not match or not MIN_PREFIX <= len(match.group(3)) <= 64:
        raise ValueError(f"--anchor {text!r}: expected [AGENT/]NUMBER:HASH with at least {MIN_PREFIX} hex digits of "
                         "the record's SHA-256 (e.g. 4711:3f2a9c0d1e4b7 or office/4711:3f2a9c0d1e4b7; from the "
                         "metric: printf '%013x' VALUE)")
    return Anchor(int(match.group(2)), match.group(3).lower(), "--anchor", match.group(1))


def read_head(store: Path) -> Head | None:
    """Return the head file's head, None when there is no head file. Raise HeadUnreadable."""
    path = head_path(store)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        base = None
        if data.get("pending"):
            base = Anchor(int(data["base_record_no"]), str(data["base_hash"]), "head file (head before an "
                          "unconfirmed append)")
        return Head(int(data["record_no"]), str(data["hash"]), base)
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        # Garbage where the head should be. An OSError (an I/O error, permissions) is not caught:
        # that is a read problem, never evidence of tampering.
        raise HeadUnreadable(f"head file {path} is unreadable: {error}") from error


def write_head(store: Path, head: Head) -> None:
    """Replace the head file atomically (temp file, fsync, rename). Raise OSError; no temp file is left."""
    path = head_path(store)
    document: dict = {"record_no": head.record_no, "hash": head.hash}
    if head.base is not None:
        document.update(pending=True, base_record_no=head.base.record_no, base_hash=head.base.hash)
    atomic.replace_file(path, (json.dumps(document) + "\n").encode("utf-8"))


def set_aside(store: Path) -> bool | None:
    """Before an append: hard-link the head file aside (no space needed, so it works on a full disk)
    for `put_back`. Return whether there was a head file; None when it could not be set aside."""
    path, aside = head_path(store), _aside_path(store)
    try:
        aside.unlink(missing_ok=True)
        os.link(path, aside)
        return True
    except FileNotFoundError:
        return False
    except OSError:
        return None


def put_back(store: Path, existed: bool | None) -> None:
    """After a failed append: the head as set_aside found it. Raise OSError."""
    if existed:
        os.replace(_aside_path(store), head_path(store))
    elif existed is False:
        head_path(store).unlink(missing_ok=True)


def drop_aside(store: Path) -> None:
    _aside_path(store).unlink(missing_ok=True)


def _aside_path(store: Path) -> Path:
    return Path(str(head_path(store)) + ".before-append")


def read_log(store: Path) -> list[Anchor]:
    """Return the heads the log remembers since the last accepted new chain, oldest first. A line
    that does not parse (torn by a crash) is skipped: it proves nothing either way."""
    try:
        lines = log_path(store).read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    anchors: list[Anchor] = []
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
            if entry.get("event") == NEW_CHAIN:
                anchors = []
            elif "record_no" in entry:
                anchors.append(Anchor(int(entry["record_no"]), str(entry["hash"]), f"head log {log_path(store)} "
                                      f"line {number}"))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return anchors


def append_log(store: Path, entry: dict) -> None:
    """Append one line to the head log (fsync'd). On failure the log is cut back to where it was,
    so a full disk never leaves half a line. Raise OSError."""
    line = json.dumps({"at": iso(now()), **entry}, ensure_ascii=False, sort_keys=True) + "\n"
    fd = os.open(log_path(store), os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            data = line.encode("utf-8")
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # after a torn line, start a fresh one
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(28, "short write to the head log")
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass  # an append-only (chattr +a) log cannot be cut back; the torn line is skipped on reading
            raise
    finally:
        os.close(fd)


def remembered(store: Path) -> list[Anchor]:
    """The heads a run must find in the store before it appends: the head file's (a pending head
    counts by the head it builds on) and the log's newest. Raise HeadUnreadable."""
    head = read_head(store)
    anchors = []
    if head is not None:
        anchors.append(head.base or Anchor(head.record_no, head.hash, f"head file {head_path(store)}"))
    logged = read_log(store)
    if logged:
        anchors.append(logged[-1])
    return [a for a in anchors if a.record_no > 0]


def continuity_problem(store: Path, last: tuple[int, str] | None, lookup: Callable[[int], str | None]) -> str | None:
    """Given the store's newest record (number, hash; None when the store is missing or empty) and a
    way to read any record's hash, return why appending now would hide lost records, or None.

    Problems: the head file is unreadable, or missing while the store holds records; the store
    does not reach a remembered head (emptied, replaced, tail cut); a remembered record differs."""
    try:
        head = read_head(store)
        anchors = remembered(store)
    except HeadUnreadable as error:
        return str(error)
    last_no = last[0] if last else 0
    if head is None and last_no:
        return (f"the head file {head_path(store)} is missing while the store holds records up to #{last_no}: "
                "nothing shows whether newer records were cut off")
    if head is not None and head.base is not None:
        if last_no >= head.record_no:
            anchors.append(Anchor(head.record_no, head.hash, f"head file {head_path(store)}"))
        elif last_no != head.base.record_no:
            # An append commits whole: the store ends where it began or where it ended, never between.
            return (f"the records store {store} ends at record #{last_no}, between the head #{head.base.record_no} "
                    f"an append began from and the #{head.record_no} it wrote (head file {head_path(store)})")
    for anchor in sorted(anchors, key=lambda a: a.record_no, reverse=True):
        if anchor.record_no > last_no:
            holds = (f"ends at record #{last_no}" if last_no else
                     "holds no records" if Path(store).exists() else "does not exist")
            return (f"the records store {store} {holds}, but the {anchor.source} says the chain reached "
                    f"#{anchor.record_no} (sha256 {anchor.hash[:16]}…)")
        digest = last[1] if last and anchor.record_no == last_no else lookup(anchor.record_no)
        if not anchor.matches(digest):
            return (f"record #{anchor.record_no} in {store} differs from the {anchor.source} "
                    f"(sha256 {anchor.hash[:16]}…): the chain was rewritten")
    return None
