"""archive: list a restored zip, tar (plain or compressed) or gzip/bzip2/xz file and read every
member to its end, so each member's CRC (zip), the stream's checksum (gzip, xz) or simply the
bytes being there (tar) are proven. The kind is told by the file's first bytes, not its name.

fail: not an archive of a known kind, a member that cannot be read to its end (cut short, wrong
CRC). error: an encrypted member (its password is not the agent's), the time ran out.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

from agent.models import Status
from agent.units import format_size
from agent.validate.model import ValidatorSpec, Verdict
from agent.validate.pg_cluster import Deadline
from agent.validate.sandbox import CannotRun

ID = "archive"
CHUNK = 1 << 20
DAMAGE = (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)
_STREAMS: dict[str, Callable[[Path], IO[bytes]]] = {
    "gzip": lambda p: gzip.open(p, "rb"), "bzip2": lambda p: bz2.open(p, "rb"), "xz": lambda p: lzma.open(p, "rb")}


def kind(path: Path) -> str | None:
    """zip, tar, gzip, bzip2 or xz from the first bytes (a compressed tar is told by tarfile), or None."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    for name, magic in (("gzip", b"\x1f\x8b"), ("bzip2", b"BZh"), ("xz", b"\xfd7zXZ\x00")):
        if head.startswith(magic):
            return name
    return None


def validate(spec: ValidatorSpec, archive: Path, deadline: Deadline) -> Verdict:
    """Read every member of one restored archive to its end. Raise CannotRun or CommandTimeout."""
    found = kind(archive)
    size = format_size(archive.stat().st_size)
    if found in _STREAMS and _is_tar(archive):
        found = f"tar+{found}"
    if found is None:
        return Verdict(spec.label, Status.FAIL, f"{archive.name} ({size}) is not a zip, tar, gzip, bzip2 or xz "
                                                "archive (told by its first bytes)")
    try:
        members, read = _read(archive, found, deadline)
    except DAMAGE as error:
        return Verdict(spec.label, Status.FAIL, f"{archive.name} ({found}, {size}) cannot be read to the end: "
                                                f"{type(error).__name__}: {error}", {"kind": found})
    return Verdict(spec.label, Status.PASS, f"{archive.name} ({found}, {size}): {members} member(s), "
                                            f"{format_size(read)} read to the end",
                   {"kind": found, "members": members, "bytes_read": read})


def _read(archive: Path, found: str, deadline: Deadline) -> tuple[int, int]:
    if found == "zip":
        return _read_zip(archive, deadline)
    if found.startswith("tar"):
        return _read_tar(archive, deadline)
    with _STREAMS[found](archive) as stream:
        return 1, _drain(stream, deadline)


def _is_tar(archive: Path) -> bool:
    """Whether a compressed stream holds a tar (a damaged stream is read as a plain one, and fails there)."""
    try:
        return tarfile.is_tarfile(archive)
    except DAMAGE:
        return False


def _read_zip(archive: Path, deadline: Deadline) -> tuple[int, int]:
    total = 0
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        for info in members:
            if info.flag_bits & 0x1:
                raise CannotRun(f"{archive.name}: member {info.filename} is encrypted; its content cannot be "
                                "read without its password")
            with bundle.open(info) as member:  # a wrong CRC raises when the member's end is read
                total += _drain(member, deadline)
    return len(members), total


def _read_tar(archive: Path, deadline: Deadline) -> tuple[int, int]:
    total = members = 0
    with tarfile.open(archive, "r:*") as bundle:
        for info in bundle:
            members += 1
            if info.isfile():
                member = bundle.extractfile(info)
                if member is not None:
                    read = _drain(member, deadline)
                    if read != info.size:
                        raise EOFError(f"member {info.name} ends after {read} of {info.size} bytes")
                    total += read
    return members, total


def _drain(stream: IO[bytes], deadline: Deadline) -> int:
    total = 0
    while chunk := stream.read(CHUNK):
        deadline.left()
        total += len(chunk)
    return total
