"""Bit-rot re-reads spread over the cycle (agent.hashing.split_cached with the schedule's
interval): nights simulated on the cache's own clock (`now`), two cycles of them. Every night
after the first reads about 1/cycle of the unchanged bytes — never nothing, never more than
2/cycle — and no file goes longer than rehash_every without being read, files changing
meanwhile. Without an interval nothing is spread (the rule test_hashing.py pins)."""

from __future__ import annotations

import random

from agent.hashing import (
    FileEntry,
    HashCache,
    cycle_nights,
    reread_slots,
    split_cached,
    store_read,
    unchanged,
)

NIGHT = 86400.0
CYCLE = 30
START = 1_800_000_000.0 - 1_800_000_000.0 % NIGHT + 3 * 3600  # 03:00, as a nightly timer runs


def key(entry: FileEntry) -> str:
    return "/srv/share/" + entry.relpath


def tree(files: int = 600, seed: int = 30) -> list[FileEntry]:
    """Sizes over three orders of magnitude, none more than 1/60 of the bytes."""
    generator = random.Random(seed)
    sizes = [int(min(generator.paretovariate(1.1), 20.0) * 5000) for _ in range(files)]
    return [FileEntry(f"d{i % 7}/f{i:04d}", size, 1_700_000_000.0 + i, i + 1, 10**18 + i) for i, size in enumerate(sizes)]


def night(cache: HashCache, entries: list[FileEntry], number: int, rehash_every: float = CYCLE * NIGHT
          ) -> list[tuple[FileEntry, object]]:
    """One nightly run: what split_cached sends to be read is read (same content) and stored."""
    now = START + number * NIGHT
    _, to_read = split_cached(entries, key, cache=cache, now=now, rehash_every=rehash_every, interval=NIGHT)
    store_read([(entry, cached, "c" * 64) for entry, cached in to_read], key, cache=cache, now=now)
    return to_read


def test_each_night_rereads_about_one_cycleth_and_every_byte_within_the_cycle() -> None:
    entries = tree()
    total = sum(e.size for e in entries)
    assert max(e.size for e in entries) <= total / 60
    cache = HashCache(None)
    last_read = {e.relpath: 0 for e in entries}
    rereads = []
    generator = random.Random(7)
    for number in range(2 * CYCLE + 2):
        if number:
            # Some files change every night (a new mtime and ctime): read because they changed.
            for index in generator.sample(range(len(entries)), 12):
                old = entries[index]
                entries[index] = FileEntry(old.relpath, old.size, old.mtime + NIGHT, old.inode, old.ctime_ns + 1)
        read = night(cache, entries, number)
        if number == 0:
            assert len(read) == len(entries), "the first night reads everything"
            continue
        for entry, _ in read:
            last_read[entry.relpath] = number
        rereads.append(sum(e.size for e, cached in read if unchanged(e, cached)))
        # every byte read within the cycle: no file's last read is a cycle or more ago
        assert max(number - n for n in last_read.values()) < CYCLE, number
    assert all(0 < share <= 2 * total / CYCLE for share in rereads), [round(r / total, 3) for r in rereads]
    assert abs(sum(rereads) / len(rereads) - total / CYCLE) < 0.25 * total / CYCLE


def test_the_slots_lay_the_bytes_end_to_end_over_the_cycle() -> None:
    entries = tree(files=300)
    slots = reread_slots(entries, CYCLE * NIGHT, NIGHT)
    assert set(slots) == set(range(CYCLE)), "every night has files"
    total = sum(e.size + 1 for e in entries)
    per_night = [sum(e.size + 1 for e, s in zip(entries, slots, strict=True) if s == n) for n in range(CYCLE)]
    assert max(per_night) <= 2 * total / CYCLE
    assert reread_slots(list(reversed(entries)), CYCLE * NIGHT, NIGHT) == list(reversed(slots)), \
        "a file's night depends on the tree, not on the order it is handed over"


def test_a_large_file_has_a_night_to_itself() -> None:
    entries = [FileEntry("big", 10**9, 0.0), *(FileEntry(f"s{i}", 1000, 0.0) for i in range(100))]
    slots = reread_slots(entries, 10 * NIGHT, NIGHT)
    assert slots.count(slots[0]) == 1


def test_nothing_is_spread_without_a_schedule_or_with_a_one_night_cycle() -> None:
    entries = tree(files=20)
    assert reread_slots(entries, CYCLE * NIGHT, None) == []
    assert cycle_nights(NIGHT, NIGHT) == 1 and reread_slots(entries, NIGHT, NIGHT) == []
    cache = HashCache(None)
    night(cache, entries, 0, rehash_every=NIGHT)
    assert len(night(cache, entries, 1, rehash_every=NIGHT)) == len(entries), "a one-night cycle reads all nightly"


def test_a_file_read_earlier_the_same_night_is_not_read_again() -> None:
    entries = tree(files=60)
    cache = HashCache(None)
    night(cache, entries, 0)
    number = next(n for n in range(1, CYCLE) if night(cache, entries, n))
    _, again = split_cached(entries, key, cache=cache, now=START + number * NIGHT + 600, rehash_every=CYCLE * NIGHT,
                            interval=NIGHT)
    assert again == [], "a second run the same night reads nothing unchanged again"
