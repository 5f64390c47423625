"""Durations and sizes: the forms targets.yaml accepts, the ones it refuses, and the short display forms."""

from __future__ import annotations

import pytest

from agent.units import format_duration, format_size, parse_duration, parse_size, short_repr


@pytest.mark.parametrize(("text", "seconds"), [
    ("30m", 1800), ("4h", 14400), ("1d", 86400), ("7d", 604800), ("45s", 45), ("2w", 1209600),
    ("1.5h", 5400), (" 4h ", 14400),
    ("PT4H", 14400), ("P1D", 86400), ("PT30M", 1800), ("PT45S", 45), ("P1DT12H", 129600), ("P2W", 1209600),
    ("pt4h", 14400),
    ("4h30m", 16200), ("1d12h", 129600), ("1w2d", 777600), ("1h 30m", 5400), ("2d3h4m5s", 183845),
    ("1h01m", 3660),
    (0, 0), (90, 90), (1.5, 1.5),
])
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", [
    "", "4", "4 hours", "h", "-1h", "1y", "30m4h", "4h4h", "1d-2h", "4h30", "4h 30x", "P", "PT", "4H30", "P1H", "T4H", True, None, [1], {"h": 1},
])
def test_parse_duration_refuses(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(("text", "size"), [
    ("256MiB", 256 * 2**20), ("2GB", 2 * 10**9), ("1KiB", 1024), ("1kb", 1000), ("10B", 10), ("512", 512),
    ("1.5GiB", int(1.5 * 2**30)), ("1TiB", 2**40), (4096, 4096),
])
def test_parse_size(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "2 PB", "-1MB", "MiB", True, 1.5, None])
def test_parse_size_refuses(text: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"), (0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h"), (3660, "1h01m"),
    (86400, "1d"), (90000, "1d1h"), (2 * 86400 + 1800, "2d"), (-120, "-2m"),
])
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("size", "text"), [
    (None, "-"), (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (5 * 2**20, "5.0 MiB"),
    (3 * 2**40, "3.0 TiB"), (2**50, "1024.0 TiB"),
])
def test_format_size(size: float | None, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize("value", [
    float("nan"), float("inf"), float("-inf"), 1e300, 10**400, -(10**400), "999999999999999d", "P99999999999W",
    "9" * 400 + "s", f"{101 * 365}d", 10**5000,
], ids=short_repr)
def test_parse_duration_refuses_what_cannot_be_honoured(value: object) -> None:
    """NaN, infinities and anything past a century: a NaN RPO would break freshness and the records."""
    with pytest.raises(ValueError, match="duration") as caught:
        parse_duration(value)
    assert len(str(caught.value)) < 200


def test_parse_duration_takes_a_century() -> None:
    assert parse_duration("36500d") == 36500 * 86400


@pytest.mark.parametrize("value", ["9" * 400 + "TiB", 2**51, "2000TiB", 10**400, "1" + "0" * 400], ids=short_repr)
def test_parse_size_refuses_what_cannot_be_honoured(value: object) -> None:
    with pytest.raises(ValueError, match="size") as caught:
        parse_size(value)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(("value", "text"), [
    ("nas", "'nas'"), (10**400, "a number of about 401 digits"), (-(10**5000), "a negative number of about 5001 digits"),
    ("x" * 500, "'" + "x" * 54 + "…" + "xxx'"), (float("nan"), "nan"),
], ids=short_repr)
def test_short_repr(value: object, text: str) -> None:
    assert short_repr(value) == text


@pytest.mark.parametrize("seconds", [60, 3660, 90000, 5400, 16200])
def test_what_format_duration_prints_reads_back(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=0.02)
