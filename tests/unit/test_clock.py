"""Times in the future: the one skew constant, ages that are never negative, the pinned clock, and
the places that must not take a future time at its word (the hash cache's re-read cycle, the
metrics' age)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent import clock
from agent.clock import CLOCK_SKEW_SECONDS, age_seconds, in_future
from agent.config import parse_config
from agent.hash_cache import HashCache
from agent.hashing import FileEntry, split_cached
from agent.metrics import render
from agent.models import CheckResult, CopyResult, DatasetResult, RunResult, Status
from checks import policy_321

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize("offset, future, age", [
    (-3600, False, 3600.0),
    (0, False, 0.0),
    (60, False, 0.0),  # within the skew: ahead a little, age 0, never negative
    (CLOCK_SKEW_SECONDS, False, 0.0),
    (CLOCK_SKEW_SECONDS + 1, True, None),  # beyond it: in the future, age unknown
    (3 * 86400, True, None),
])
def test_future_and_age(offset, future, age):
    moment = NOW + timedelta(seconds=offset)
    assert in_future(moment, NOW) is future
    assert in_future(moment.timestamp(), NOW.timestamp()) is future
    assert age_seconds(moment, NOW) == age


def test_the_skew_is_five_minutes():
    assert CLOCK_SKEW_SECONDS == 300


def test_now_comes_from_the_pinned_clock(monkeypatch):
    monkeypatch.setenv("BACKUP_AGENT_NOW", "2026-11-24T03:00:00Z")
    assert clock.now() == NOW
    monkeypatch.delenv("BACKUP_AGENT_NOW")
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5


def test_a_digest_cached_in_the_future_is_read_again():
    """A cache row written while the clock ran ahead would otherwise skip the re-read cycle until then."""
    cache = HashCache(None)
    entry = FileEntry("a.bin", 10, 1_700_000_000.0, 7, 8)
    now = NOW.timestamp()
    for hashed_at, cached in ((now - 3600, True), (now + 10 * 86400, False)):
        cache.store_many([("/data/a.bin", 10, entry.mtime_ns, 7, 8, "d" * 64, hashed_at)])
        digests, to_read = split_cached([entry], lambda e: "/data/" + e.relpath, cache=cache, now=now,
                                        rehash_every=30 * 86400)
        assert bool(digests) is cached and bool(to_read) is not cached


def test_metrics_export_no_age_for_a_backup_dated_in_the_future(tmp_path: Path):
    document = {
        "processes": {"p": {"rpo": "1h", "rto": "4h"}},
        "targets": {"droplet": {"kind": "local", "medium": "cloud-vm", "location": "sgp", "require_mount": False},
                    "nas": {"kind": "local", "medium": "nas", "location": "office", "require_mount": False}},
        "datasets": {"d": {"process": "p", "primary": {"target": "droplet", "form": "files", "path": "/p"},
                           "copies": [{"target": "nas", "form": "files", "path": "/n"}]}},
    }
    dataset = parse_config(document, tmp_path / "targets.yaml").datasets["d"]
    ahead = NOW + timedelta(days=3)
    copies = [CopyResult(dataset.primary, [CheckResult("reachable", Status.PASS, "reachable")]),
              CopyResult(dataset.copies[0], [CheckResult("freshness", Status.ERROR, "in the future")],
                         last_backup_at=ahead, age_seconds=age_seconds(ahead, NOW))]
    run = RunResult("r", NOW, NOW, [DatasetResult(dataset, copies, policy_321.run_dataset(dataset, copies))], "vm",
                    "op", {})
    text = render(run).decode()
    assert "backup_agent_copy_last_backup_timestamp_seconds{" in text
    assert "backup_agent_copy_age_seconds{" not in text  # 0 would read as perfectly fresh


# --- times an operator types (records list/export --since/--until, --tz) --------------------------

SHANGHAI = clock.parse_zone("Asia/Shanghai")


@pytest.mark.parametrize(("text", "zone", "expected"), [
    ("2026-11-24", None, "2026-11-24T00:00:00Z"),
    ("2026-11-24", SHANGHAI, "2026-11-23T16:00:00Z"),  # that day from 00:00 in the zone
    ("2026-11-24T03:00:00Z", None, "2026-11-24T03:00:00Z"),
    ("2026-11-24t03:00:00z", SHANGHAI, "2026-11-24T03:00:00Z"),  # an explicit Z wins over --tz
    ("2026-11-24T11:00:00+08:00", None, "2026-11-24T03:00:00Z"),
    ("2026-11-24T11:00+0800", None, "2026-11-24T03:00:00Z"),
    ("2026-11-24 11:00", SHANGHAI, "2026-11-24T03:00:00Z"),  # no offset: in the zone
    ("2026-11-24T03:00:00.5Z", None, "2026-11-24T03:00:00.500000Z"),
    ("  2026-11-24  ", None, "2026-11-24T00:00:00Z"),
])
def test_parse_moment(text: str, zone, expected: str) -> None:
    assert clock.iso(clock.parse_moment(text, zone)) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "zzz", "2026-13-01", "2026-02-30", "2026-11-24T25:00",
                                  "24/11/2026", "1764000000", "2026-11-24T03:00:00+25:00", "2026-11-24T03"])
def test_parse_moment_refuses_what_is_not_a_time(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time"):
        clock.parse_moment(text)


@pytest.mark.parametrize(("text", "offset_hours"), [
    ("UTC", 0), ("z", 0), ("+08:00", 8), ("UTC+8", 8), ("-0530", -5.5), ("+14", 14), ("Asia/Shanghai", 8),
])
def test_parse_zone(text: str, offset_hours: float) -> None:
    zone = clock.parse_zone(text)
    assert zone.utcoffset(datetime(2026, 11, 24)) == timedelta(hours=offset_hours)


@pytest.mark.parametrize("text", ["Mars/Olympus", "+15:00", "UTC+99", "8", "", "../etc/passwd"])
def test_parse_zone_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="--tz"):
        clock.parse_zone(text)
