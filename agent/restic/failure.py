"""How a restic command failed, read from its stderr.

restic 0.14 (Debian 12) has no distinct exit codes, so a failure is classified by the first
pattern of an ordered table that matches stderr (ResticError.kind), as the checks' verdicts need:
a data error fails a check, anything else it cannot decide is an error."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

from agent.errors import ExecuteError


class ResticFailure(StrEnum):
    NO_SPACE = "no space left on device"
    WRONG_PASSWORD = "wrong password"
    NO_REPOSITORY = "no repository"
    LOCKED = "repository locked"
    DATA_ERROR = "repository data errors"
    PASSWORD_UNAVAILABLE = "password unavailable"
    TIMEOUT = "timed out"
    NOT_INSTALLED = "restic not installed"
    UNREACHABLE = "repository unreachable"
    OTHER = "restic failed"


class ResticError(ExecuteError):
    def __init__(self, kind: ResticFailure, message: str, stderr: str = ""):
        super().__init__(message, stderr=stderr)
        self.kind = kind


# restic retries a write that failed for want of space (its cache, under the state directory),
# with growing pauses, for every file it loads: a full cache turns `check` into an hour-long wait for
# the command timeout. The first such line stops it (agent.execute abort_on). Its own warning
# "unable to open cache: … no space left on device" is harmless: it then runs without a cache.
NO_SPACE_LINE = re.compile(r"^(?!.*unable to open cache).*no space left on device", re.I | re.M)

# Ordered: the first pattern that matches stderr names the failure. Unreachable comes before
# "no repository" because restic says both when an S3 endpoint or SFTP host is down.
_CLASSIFIERS: tuple[tuple[ResticFailure, re.Pattern], ...] = (
    (ResticFailure.NO_SPACE, NO_SPACE_LINE),
    (ResticFailure.WRONG_PASSWORD, re.compile(r"wrong password or no key found", re.I)),
    (ResticFailure.PASSWORD_UNAVAILABLE, re.compile(r"Resolving password failed|password-command|reading password", re.I)),
    (ResticFailure.UNREACHABLE, re.compile(r"connection refused|no such host|i/o timeout|ssh: |subprocess ssh|"
                                           r"Host key verification failed|Permission denied", re.I)),
    (ResticFailure.NO_REPOSITORY, re.compile(r"Is there a repository|unable to open config file|repository does not exist"
                                             r"|config file does not exist|The specified bucket does not exist", re.I)),
    (ResticFailure.LOCKED, re.compile(r"unable to create lock|repository is already locked|already locked", re.I)),
    (ResticFailure.DATA_ERROR, re.compile(r"Pack ID does not match|repository contains errors|not found in index"
                                          r"|pack [0-9a-f]+.* (does not exist|not found)|error for tree|ciphertext verification"
                                          r"|Load\(<data/|invalid data returned|unexpected (EOF|end)", re.I)),
)


def classify(stderr: str) -> ResticFailure:
    """Given a failed restic command's stderr, return what failed (OTHER when no pattern matches)."""
    for kind, pattern in _CLASSIFIERS:
        if pattern.search(stderr):
            return kind
    return ResticFailure.OTHER


def failure_detail(kind: ResticFailure, stderr: str, cache_dir: Path) -> str:
    """Given a failure's kind and stderr, and the agent's restic cache directory, return the words
    that say what happened: where the disk filled up, else restic's own lines naming the damaged
    packs, blobs, trees or snapshots (the first few, then a count) and its last meaningful line."""
    if kind is ResticFailure.NO_SPACE:
        return no_space_detail(stderr, cache_dir)
    last = last_meaningful_line(stderr)
    naming = [line for line in naming_lines(stderr) if line != last]
    if not naming:
        return last
    shown = [line[:200] for line in naming[:NAMING_LINES_SHOWN]]
    if len(naming) > NAMING_LINES_SHOWN:
        shown.append(f"and {len(naming) - NAMING_LINES_SHOWN} more line(s) naming packs, blobs, trees or snapshots")
    return "; ".join([*shown, last])


NAMING_LINES_SHOWN = 3
# A line of restic's that names what is damaged: a pack, blob, tree, snapshot or index by its ID.
_NAMING_LINE = re.compile(r"\b(pack|blob|tree|snapshot|index)\b.*\b[0-9a-f]{8,64}\b", re.I)


def naming_lines(stderr: str) -> list[str]:
    """Given restic's stderr, the lines (stripped, in order, each once) that name a pack, blob,
    tree, snapshot or index by its ID: "Pack ID does not match, want 735e…", "error for tree …"."""
    seen: dict[str, None] = {}
    for line in stderr.splitlines():
        line = line.strip()
        if _NAMING_LINE.search(line):
            seen.setdefault(line, None)
    return list(seen)


def no_space_detail(stderr: str, cache_dir: Path) -> str:
    """Say which write found the disk full, and whether it was restic's cache."""
    match = NO_SPACE_LINE.search(stderr)
    written = re.search(r"write (/\S+?):? no space left", match.group(0)) if match else None
    path = written.group(1) if written else "?"
    if Path(path).is_relative_to(cache_dir):
        return (f"restic's cache directory {cache_dir} is full (writing {path}); restic was stopped "
                "instead of retrying until its timeout")
    return f"writing {path}; restic was stopped instead of retrying until its timeout"


def last_meaningful_line(stderr: str) -> str:
    """The last "Fatal:" or error line of stderr (else its last line), at most 300 characters."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("Fatal:") or "error" in line.lower():
            return line[:300]
    return lines[-1][:300] if lines else "no output"


# What `restic check` prints only while reading pack contents (--read-data, --read-data-subset):
# a pack whose bytes no longer hash to its ID, or whose blobs do not decrypt. The structure
# phase (index, packs present and of the right size, trees) prints other lines ("pack …: does not
# exist", "error for tree …", "error: …").
_PACK_CONTENT_ERROR = re.compile(r"^(Pack ID does not match, want [0-9a-f]+, got [0-9a-f]+"
                                 r"|pack [0-9a-f]+ contains \d+ errors?: .*)$")
_CONTAINS_ERRORS = "Fatal: repository contains errors"


def only_pack_content_errors(stderr: str) -> bool:
    """Given the stderr of a `restic check --read-data-subset` that failed, whether every error it
    printed is one only reading pack contents finds — so the structure was found sound. Any other
    line, or none, says no: the structure is then not proven."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and line.strip() != _CONTAINS_ERRORS]
    return bool(lines) and all(_PACK_CONTENT_ERROR.match(line) for line in lines)
