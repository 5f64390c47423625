"""What the first bytes of a file say: Shannon entropy (bits per byte) of its first 64 KiB, and
whether it is a format that is compressed anyway (so high entropy is its nature, not a sign of
encryption), told by magic bytes — never by the file's name, which ransomware changes."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 64 * 1024
# (name, offset, magic): formats whose content is compressed or encrypted by design.
SIGNATURES: tuple[tuple[str, int, bytes], ...] = (
    ("zip", 0, b"PK\x03\x04"),  # also docx, xlsx, pptx, odt, jar, epub
    ("zip", 0, b"PK\x05\x06"),
    ("gzip", 0, b"\x1f\x8b"),
    ("bzip2", 0, b"BZh"),
    ("xz", 0, b"\xfd7zXZ\x00"),
    ("zstd", 0, b"\x28\xb5\x2f\xfd"),
    ("7z", 0, b"7z\xbc\xaf\x27\x1c"),
    ("rar", 0, b"Rar!\x1a\x07"),
    ("lz4", 0, b"\x04\x22\x4d\x18"),
    ("pdf", 0, b"%PDF-"),
    ("jpeg", 0, b"\xff\xd8\xff"),
    ("png", 0, b"\x89PNG\r\n\x1a\n"),
    ("gif", 0, b"GIF8"),
    ("webp", 8, b"WEBP"),
    ("mp4", 4, b"ftyp"),  # also mov, m4a, heic
    ("mp3", 0, b"ID3"),
    ("ogg", 0, b"OggS"),
    ("flac", 0, b"fLaC"),
    ("matroska", 0, b"\x1a\x45\xdf\xa3"),
    ("pg_dump custom", 0, b"PGDMP"),
    ("restic/borg pack", 0, b"BORG_SEG"),
    ("openpgp armored", 0, b"-----BEGIN PGP"),
    ("age", 0, b"age-encryption.org/"),
)


@dataclass(frozen=True)
class Head:
    """A file's first bytes measured: entropy in bits per byte, and its compressed format if any."""

    entropy: float
    format: str | None
    size: int  # bytes measured (at most HEAD_BYTES)


def entropy(data: bytes) -> float:
    """Shannon entropy of data in bits per byte: 0 for one repeated byte, 8 for uniform random."""
    if not data:
        return 0.0
    total = len(data)
    return -sum(count / total * math.log2(count / total) for count in Counter(data).values())


def signature(head: bytes) -> str | None:
    """The compressed format the first bytes announce, or None."""
    for name, offset, magic in SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            return name
    return None


# Below this many bytes a file's entropy says too little (the estimate's bias exceeds the margin).
MIN_JUDGED_BYTES = 256
RANDOM_MARGIN = 0.2


def random_entropy(size: int) -> float:
    """The entropy uniform random bytes of this length measure, on average: the Miller-Madow bias
    pulls a short sample below 8 (512 bytes: about 7.64)."""
    return 8.0 - 255 / (2 * max(size, 1) * math.log(2))


def looks_random(head: Head, bits: float) -> bool:
    """Whether a measured head looks like encrypted data: no compressed-format signature, at least
    MIN_JUDGED_BYTES, and entropy at `bits` (or, for a short file, near what random bytes of its
    length measure)."""
    if head.format is not None or head.size < MIN_JUDGED_BYTES:
        return False
    return head.entropy >= min(bits, random_entropy(head.size) - RANDOM_MARGIN)


def measure(data: bytes) -> Head:
    head = data[:HEAD_BYTES]
    return Head(round(entropy(head), 4), signature(head), len(head))


def measure_file(path: Path) -> Head:
    """Measure a file's first 64 KiB. Raise OSError."""
    with open(path, "rb") as handle:
        return measure(handle.read(HEAD_BYTES))
