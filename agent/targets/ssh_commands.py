"""The shell commands an SSH target runs on its host, and pure parsers of what they print.

Why remote commands: an inventory is ONE `find -printf` per tree, not one round trip per file,
and SHA-256 is computed by `sha256sum` on the remote host, so file data never crosses the network
just to be hashed — only paths go out and digests come back. Every record is NUL-separated, so any
name (spaces, newlines, non-UTF-8 bytes) survives. The host needs a POSIX shell, GNU findutils
(`find -printf`) and GNU coreutils 8.30 or newer (`sha256sum -z`).

Nothing here touches the network: each function is a table test away from proven.
"""

from __future__ import annotations

import posixpath
import re
import shlex

from agent import names
from agent.errors import TargetUnavailable
from agent.hashing import FileEntry
from agent.identity import BOOT_ID_PATH, StorageIdentity

# find's record per file: relative path, size, mtime, inode, ctime, device. Device and inode say
# whether two trees share a file (hard links), compared with the same kernel's numbers (agent.identity).
KEEPALIVE_SECONDS = 30  # the agent's connection and restic's own ssh both send a keepalive this often
FIND_FORMAT = r"%P\0%s\0%T@\0%i\0%C@\0%D\0"
FIND_FIELDS = 6
STAT_FORMAT = r"%s\0%T@\0%i\0%C@\0%D\0"
MISSING_EXIT = 44
# One round trip for a copy's storage identity (agent.identity): the host's boot id, the root's
# real path, then "device inode" of the root and of each directory above it, NUL-separated.
IDENTITY_SCRIPT = (
    "set -e; id=$(cat {boot_id}); test -n \"$id\"; printf '%s\\0' \"$id\"; "
    "p=$(realpath -e -- {path}); printf '%s\\0' \"$p\"; "
    "while :; do stat -L --printf='%d %i\\0' -- \"$p\"; test \"$p\" != / || break; p=$(dirname -- \"$p\"); done"
)
PROBE_ANSWERS = ("ok", "missing", "notdir", "denied")
_SHA256_LINE = re.compile(rb"^\\?([0-9a-f]{64}) [ *](.*)$", re.S)
_ESCAPED = re.compile(rb"\\[\\nr]")
_UNESCAPE = {b"\\\\": b"\\", b"\\n": b"\n", b"\\r": b"\r"}
_MISSING_Z = re.compile(rb"(invalid|unrecognized|unknown) option")


def quoted(path: str) -> str:
    """A remote path for the shell: quoted, and never readable as an option (agent.names.operand)."""
    return shlex.quote(names.operand(path))


def probe_script(path: str, *, require_tree: bool) -> str:
    """A script printing one of PROBE_ANSWERS for path."""
    q = quoted(path)
    return (
        f"if ! test -e {q}; then echo missing; "
        + (f"elif ! test -d {q}; then echo notdir; elif ! test -r {q} -a -x {q}; then echo denied; "
           if require_tree else f"elif ! test -r {q}; then echo denied; ")
        + "else echo ok; fi"
    )


def scan_command(path: str) -> str:
    return f"find -H {quoted(path)} -type f -printf '{FIND_FORMAT}'"


def stat_command(path: str) -> str:
    q = quoted(path)
    return f"if test -e {q}; then exec find -H {q} -maxdepth 0 -printf '{STAT_FORMAT}'; else exit {MISSING_EXIT}; fi"


def hash_command(path: str) -> str:
    """sha256sum under path of the NUL-separated ./NAMEs on stdin (hash_input)."""
    return f"cd {quoted(path)} && xargs -0 -r sha256sum -z --"


def hash_input(entries: list[FileEntry]) -> bytes:
    # Every name as ./NAME: GNU sha256sum reads a lone `-` as standard input even after `--`.
    return b"".join(b"./" + names.to_bytes(entry.relpath) + b"\0" for entry in entries)


def identity_script(path: str) -> str:
    return IDENTITY_SCRIPT.format(boot_id=shlex.quote(BOOT_ID_PATH), path=shlex.quote(path))


def lacks_sha256sum_z(stderr: bytes) -> bool:
    """Whether sha256sum refused -z (coreutils older than 8.30, busybox)."""
    return bool(_MISSING_Z.search(stderr))


def decimal_ns(text: str) -> int:
    """Given find's seconds with a fraction ("1700000000.1234567890"), return exact nanoseconds."""
    whole, _, fraction = text.partition(".")
    return int(whole) * 1_000_000_000 + int((fraction + "000000000")[:9])


def _fields(output: bytes) -> list[bytes]:
    fields = output.split(b"\0")
    if fields and fields[-1] == b"":
        fields.pop()
    return fields


def parse_find(output: bytes) -> dict[str, FileEntry]:
    """Given `find -printf FIND_FORMAT` output, return the entries keyed by relative path (the
    name's bytes as surrogate escapes, agent.names)."""
    fields = _fields(output)
    if len(fields) % FIND_FIELDS:
        raise TargetUnavailable(f"unexpected find output: {len(fields)} fields is not a multiple of {FIND_FIELDS}")
    entries: dict[str, FileEntry] = {}
    for i in range(0, len(fields), FIND_FIELDS):
        name, size, mtime, inode, ctime, device = fields[i:i + FIND_FIELDS]
        relpath = names.from_bytes(name)
        entries[relpath] = FileEntry(relpath, int(size), float(mtime), int(inode), decimal_ns(ctime.decode()),
                                     int(device))
    return entries


def parse_stat(path: str, output: bytes) -> FileEntry | None:
    """Given `find -printf STAT_FORMAT` output for one path, return its entry (None: too short)."""
    fields = output.split(b"\0")
    if len(fields) < 5:
        return None
    size, mtime, inode, ctime, device = fields[:5]
    return FileEntry(posixpath.basename(path), int(size), float(mtime), int(inode), decimal_ns(ctime.decode()),
                     int(device))


def parse_sha256sum(output: bytes) -> dict[str, str]:
    """Given `sha256sum -z` output for names sent as `./NAME`, return {NAME: digest}.

    Records end in NUL and GNU coreutils leaves names as they are under -z; a record that starts
    with a backslash has its name escaped (`\\\\`, `\\n`, `\\r`, as without -z) and is unescaped,
    so a sha256sum that escapes anyway cannot make a name that was never sent."""
    digests = {}
    for record in output.split(b"\0"):
        if not record:
            continue
        match = _SHA256_LINE.match(record)
        if not match:
            continue
        name = match.group(2)
        if record.startswith(b"\\"):
            name = _ESCAPED.sub(lambda m: _UNESCAPE[m.group()], name)
        if name.startswith(b"./"):
            digests[names.from_bytes(name[2:])] = match.group(1).decode()
    return digests


def sha256sum_errors(stderr: bytes) -> dict[str, str]:
    """Map `sha256sum: ./NAME: reason` lines to {NAME: reason}. (A name sha256sum had to quote is
    not matched; its file is then "not hashed", unreadable all the same.)"""
    reasons = {}
    for line in names.from_bytes(stderr).splitlines():
        if line.startswith("sha256sum: "):
            name, _, reason = line[len("sha256sum: "):].rpartition(": ")
            if name.startswith("./"):
                reasons[name[2:]] = reason
    return reasons


def parse_identity(output: bytes, address: str, path: str) -> StorageIdentity | None:
    """Given IDENTITY_SCRIPT's output for path on the host at address, return the storage identity
    (None: too few fields). Raise TargetUnavailable when a device/inode pair is not two numbers."""
    fields = _fields(output)
    if len(fields) < 3:
        return None
    try:
        numbers = [tuple(int(n) for n in field.split()) for field in fields[2:]]
    except ValueError as error:
        raise TargetUnavailable(f"unexpected stat output on {address}: {error}") from error
    if any(len(pair) != 2 for pair in numbers):
        raise TargetUnavailable(f"unexpected stat output on {address} for {path}")
    return StorageIdentity(host=fields[0].decode("ascii", "replace").strip(),
                           real_path=fields[1].decode("utf-8", "surrogateescape"),
                           root=numbers[0], ancestors=frozenset(numbers[1:]))  # type: ignore[arg-type]


def balance(items: list, count: int, size=lambda item: item[0].size) -> list[list]:
    """Split items into up to `count` batches of similar total size (largest first into the lightest)."""
    if not items:
        return []
    batches: list[list] = [[] for _ in range(min(count, len(items)))]
    loads = [0] * len(batches)
    for item in sorted(items, key=size, reverse=True):
        lightest = loads.index(min(loads))
        batches[lightest].append(item)
        loads[lightest] += size(item)
    return batches


def tail(stderr: bytes) -> str:
    """The last non-empty line of a command's stderr, cut to 300 characters, for a message."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no error output"
