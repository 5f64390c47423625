"""restic-packs' pure parts as tables: which repository files are named by their hash
(agent.restic.layout) and the verdict on what hashing found (checks.restic_packs.judge). The real
repositories, damaged, are in tests/integration/test_restic_packs.py and its ssh and s3 siblings."""

from __future__ import annotations

import pytest

from agent.hashing import FileEntry, HashOutcome
from agent.models import Status
from agent.restic.layout import describe, sort_files
from checks.restic_packs import judge

A, B, C = "a" * 64, "b" * 64, "c" * 64
NOW = 1_800_000_000.0
DAY = 86400.0


def entries(*specs: tuple[str, int]) -> dict[str, FileEntry]:
    return {path: FileEntry(path, size, 0.0) for path, size in specs}


def test_sort_files_keeps_the_hash_named_files_and_counts_the_others():
    files = sort_files(entries((f"data/aa/{A}", 10), (f"index/{B}", 2), (f"snapshots/{C}", 1), (f"keys/{A}", 1),
                               ("config", 1), (f"locks/{A}", 1), (f"data/bb/{B}-tmp-123", 5), ("data/bb/notes.txt", 3)))
    assert [e.relpath for e in files.named] == [f"data/aa/{A}", f"index/{B}", f"keys/{A}", f"snapshots/{C}"]
    assert files.in_flight == [f"data/bb/{B}-tmp-123"] and files.strays == ["data/bb/notes.txt"]


@pytest.mark.parametrize("relpath, said", [
    (f"data/aa/{A}", f"data/aa/{A} (a pack)"), (f"index/{A}", f"index/{A} (an index)"),
    (f"snapshots/{A}", f"snapshots/{A} (a snapshot)"), (f"keys/{A}", f"keys/{A} (a key)"),
])
def test_describe_says_what_a_file_holds(relpath, said):
    assert describe(relpath) == said


def outcome(digests, read_at, *, unreadable=None, not_verified=None, bytes_read=0):
    return HashOutcome(digests, unreadable or {}, [], bytes_read, 0, not_verified or [], read_at=read_at)


def test_a_file_not_hashing_to_its_name_fails_naming_it():
    files = sort_files(entries((f"data/aa/{A}", 10), (f"index/{B}", 2)))
    result = judge(files, outcome({f"data/aa/{A}": C, f"index/{B}": B}, {f"data/aa/{A}": NOW, f"index/{B}": NOW},
                                  bytes_read=12), NOW, 30 * DAY)
    assert result.status == Status.FAIL
    assert f"data/aa/{A} (a pack) hashes to {C[:16]}" in result.detail
    # the damaged file is read, but is not coverage: only what matched its name counts
    assert result.measured["files_covered"] == 1 and result.measured["bytes_covered"] == 2


def test_coverage_counts_what_was_read_within_the_cycle_never_more():
    files = sort_files(entries((f"data/aa/{A}", 10), (f"data/bb/{B}", 30), (f"index/{C}", 60)))
    digests = {f"data/aa/{A}": A, f"data/bb/{B}": B, f"index/{C}": C}
    read_at = {f"data/aa/{A}": NOW, f"data/bb/{B}": NOW - 2 * DAY, f"index/{C}": NOW - 40 * DAY}
    result = judge(files, outcome(digests, read_at, bytes_read=10), NOW, 30 * DAY)
    assert result.status == Status.PASS
    assert {k: result.measured[k] for k in ("files", "bytes", "files_covered", "bytes_covered", "files_read",
                                            "bytes_read", "pack_coverage_ratio", "pack_coverage_bytes_ratio")} == {
        "files": 3, "bytes": 100, "files_covered": 2, "bytes_covered": 40,
        "files_read": 1, "bytes_read": 10, "pack_coverage_ratio": 0.6667, "pack_coverage_bytes_ratio": 0.4}


def test_a_repository_whose_files_were_not_read_shows_zero_and_is_no_pass():
    files = sort_files(entries((f"data/aa/{A}", 10), (f"data/bb/{B}", 30)))
    result = judge(files, outcome({}, {}, not_verified=[f"data/aa/{A}", f"data/bb/{B}"]), NOW, 30 * DAY)
    assert result.status == Status.ERROR
    assert result.measured["pack_coverage_ratio"] == result.measured["pack_coverage_bytes_ratio"] == 0.0
    assert "sample budget" in result.detail


def test_an_unreadable_file_is_an_error_naming_it():
    files = sort_files(entries((f"data/aa/{A}", 10),))
    result = judge(files, outcome({}, {}, unreadable={f"data/aa/{A}": "Permission denied"}), NOW, 30 * DAY)
    assert result.status == Status.ERROR
    assert f"data/aa/{A} (a pack): Permission denied" in result.detail


def test_a_read_dated_in_the_future_is_not_coverage():
    files = sort_files(entries((f"data/aa/{A}", 10),))
    result = judge(files, outcome({f"data/aa/{A}": A}, {f"data/aa/{A}": NOW + 3 * DAY}), NOW, 30 * DAY)
    assert result.measured["files_covered"] == 0
