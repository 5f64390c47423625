"""Durations (`30m`, `4h`, `1d`, `7d`, ISO 8601 `PT4H`, `P1D`) and sizes (`256MiB`, `2GB`)."""

from __future__ import annotations

import math
import re

_SIMPLE_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
# Compounds as systemd and Go write them: 4h30m, 1d12h, 1w2d, 1h 30m — units from largest to smallest, each once.
_COMPOUND_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*w\s*)?(?:(\d+(?:\.\d+)?)\s*d\s*)?(?:(\d+(?:\.\d+)?)\s*h\s*)?"
                                r"(?:(\d+(?:\.\d+)?)\s*m\s*)?(?:(\d+(?:\.\d+)?)\s*s\s*)?$")
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

DURATION_HINT = "a duration such as 30m, 4h, 4h30m, 1d12h, 7d or ISO 8601 PT4H"
SIZE_HINT = "a size such as 256MiB or 2GB"
# Upper bounds on what a setting can mean. A century is longer than any RPO, RTO, timeout or
# retention, and stays below threading's TIMEOUT_MAX and datetime's range; a pebibyte is more
# than any restore sample. Past them a value is a typo or an attack, never an intent.
MAX_DURATION_SECONDS = 100 * 365 * 86400
MAX_SIZE_BYTES = 2**50
_SHORT = 60


def short_repr(value: object) -> str:
    """Return repr(value) cut to a readable length: error messages echo what the user wrote, but
    a 400-digit number or a 1 MiB string must not flood them (and Python refuses to print an
    integer of more than 4300 digits at all)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"a {'negative ' if value < 0 else ''}number of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    return text if len(text) <= _SHORT else f"{text[:_SHORT - 5]}…{text[-4:]}"


def parse_duration(value: object) -> float:
    """Given `30m`, `4h`, `1d`, `PT4H` or a number of seconds, return seconds (finite, at most
    MAX_DURATION_SECONDS; negative numbers pass through for the caller to refuse). Raise ValueError."""
    seconds = _duration_seconds(value)
    if not math.isfinite(seconds) or seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{short_repr(value)} is not a duration the agent can honour "
                         f"(at most 100 years, {MAX_DURATION_SECONDS} seconds)")
    return seconds


def _duration_seconds(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_HINT}, got {short_repr(value)}")
    if isinstance(value, int):
        # float() of a 400-digit integer overflows; anything past the bound is refused the same way.
        return float(value) if abs(value) <= 2**63 else math.inf
    if isinstance(value, float):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected {DURATION_HINT}, got {short_repr(value)}")
    simple = _SIMPLE_DURATION.match(value)
    if simple:
        return float(simple.group(1)) * _UNIT_SECONDS[simple.group(2)]
    compound = _COMPOUND_DURATION.match(value)
    if compound and any(compound.groups()):
        return sum(float(amount) * _UNIT_SECONDS[unit]
                   for amount, unit in zip(compound.groups(), "wdhms", strict=True) if amount)
    iso = _ISO_DURATION.match(value.strip().upper())
    if iso and value.strip().upper() not in ("P", "PT") and any(iso.groupdict().values()):
        parts = {k: float(v) if v else 0.0 for k, v in iso.groupdict().items()}
        return (
            parts["weeks"] * 604800 + parts["days"] * 86400 + parts["hours"] * 3600
            + parts["minutes"] * 60 + parts["seconds"]
        )
    raise ValueError(f"expected {DURATION_HINT}, got {short_repr(value)}")


def parse_size(value: object) -> int:
    """Given `256MiB`, `2GB` or a number of bytes, return bytes (at most MAX_SIZE_BYTES; negative
    numbers pass through for the caller to refuse). Raise ValueError."""
    size: float | int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            size = float(match.group(1)) * _SIZE_FACTORS[(match.group(2) or "B").upper()]
    if size is None:
        raise ValueError(f"expected {SIZE_HINT}, got {short_repr(value)}")
    if size > MAX_SIZE_BYTES:  # inf included: "9"*400 + "TiB" parses as a float overflow
        raise ValueError(f"{short_repr(value)} is not a size the agent can honour (at most 1PiB)")
    return int(size)


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
