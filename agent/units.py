"""Durations (`30m`, `4h`, `1d`, `7d`, ISO 8601 `PT4H`, `P1D`) and sizes (`256MiB`, `2GB`)."""

from __future__ import annotations

import re

_SIMPLE_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ISO_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_FACTORS = {
    "B": 1,
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40,
}

DURATION_HINT = "a duration such as 30m, 4h, 1d, 7d or ISO 8601 PT4H"
SIZE_HINT = "a size such as 256MiB or 2GB"


def parse_duration(value: object) -> float:
    """Given `30m`, `4h`, `1d`, `PT4H` or a number of seconds, return seconds. Raise ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_HINT}, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected {DURATION_HINT}, got {value!r}")
    simple = _SIMPLE_DURATION.match(value)
    if simple:
        return float(simple.group(1)) * _UNIT_SECONDS[simple.group(2)]
    iso = _ISO_DURATION.match(value.strip().upper())
    if iso and value.strip().upper() not in ("P", "PT") and any(iso.groupdict().values()):
        parts = {k: float(v) if v else 0.0 for k, v in iso.groupdict().items()}
        return (
            parts["weeks"] * 604800 + parts["days"] * 86400 + parts["hours"] * 3600
            + parts["minutes"] * 60 + parts["seconds"]
        )
    raise ValueError(f"expected {DURATION_HINT}, got {value!r}")


def parse_size(value: object) -> int:
    """Given `256MiB`, `2GB` or a number of bytes, return bytes. Raise ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"expected {SIZE_HINT}, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            return int(float(match.group(1)) * _SIZE_FACTORS[(match.group(2) or "B").upper()])
    raise ValueError(f"expected {SIZE_HINT}, got {value!r}")


def format_duration(seconds: float | None) -> str:
    """Return a short human form: 45s, 12m, 3h20m, 2d4h."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds}s"
    if seconds < 3600:
        return f"{sign}{seconds // 60}m"
    if seconds < 86400:
        hours, rest = divmod(seconds, 3600)
        return f"{sign}{hours}h{rest // 60:02d}m" if rest >= 60 else f"{sign}{hours}h"
    days, rest = divmod(seconds, 86400)
    return f"{sign}{days}d{rest // 3600}h" if rest >= 3600 else f"{sign}{days}d"


def format_size(size: float | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"
