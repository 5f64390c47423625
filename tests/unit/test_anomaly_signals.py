"""The anomaly verdict (agent.anomaly.signals) and what it reads (agent.anomaly.content), as tables:
each signal at its threshold, the baseline, the entropy of real bytes, formats told by magic."""

from __future__ import annotations

import os
import random
import zlib

import pytest

from agent.anomaly.content import Head, looks_random, measure, random_entropy
from agent.anomaly.sampling import Candidate, candidates, choose
from agent.anomaly.signals import (
    Change,
    Pair,
    judge,
    previous_versions,
    ransom_notes,
    rate_threshold,
    renames,
)
from agent.config_model import AnomalySpec
from agent.restic.diff import parse_diff

SPEC = AnomalySpec()
TEXT = measure(("invoice shipment customer 出货 " * 3000).encode())
RANDOM = measure(os.urandom(65536))


def files(count: int, prefix: str = "docs/f") -> tuple[str, ...]:
    return tuple(f"{prefix}{n}.txt" for n in range(count))


@pytest.mark.parametrize(("data", "low", "high", "fmt"), [
    (b"a" * 4096, 0.0, 0.01, None),
    (os.urandom(65536), 7.99, 8.0, None),
    (("expense report " * 4000).encode(), 2.5, 4.0, None),
    (b"%PDF-1.7\n" + os.urandom(30000), 7.9, 8.0, "pdf"),
    (b"PK\x03\x04" + os.urandom(30000), 7.9, 8.0, "zip"),
    (b"\xff\xd8\xff\xe0" + os.urandom(3000), 7.8, 8.0, "jpeg"),
    (b"PGDMP\x01\x0e" + zlib.compress(os.urandom(9000)), 7.9, 8.0, "pg_dump custom"),
])
def test_entropy_and_format(data: bytes, low: float, high: float, fmt: str | None) -> None:
    head = measure(data)
    assert low <= head.entropy <= high and head.format == fmt


def test_short_random_files_look_random_text_never_does() -> None:
    for size in (300, 512, 2048):
        assert looks_random(measure(os.urandom(size)), 7.5), size
    assert not looks_random(measure(os.urandom(200)), 7.5)  # too short to say
    assert not looks_random(TEXT, 7.5) and not looks_random(measure(b"%PDF-" + os.urandom(9000)), 7.5)
    assert 7.6 < random_entropy(512) < 7.7


def test_renames_and_previous_versions() -> None:
    change = Change(4, added=("a.docx.locked", "b.locked", "c.txt", "d.pdf"), removed=("a.docx", "b.xlsx", "d.doc"),
                    base_extensions=frozenset({"docx", "xlsx", "doc", "pdf"}))
    assert previous_versions(change) == {"a.docx.locked": "a.docx", "b.locked": "b.xlsx", "d.pdf": "d.doc"}
    assert renames(change) == {"locked": 2}  # .pdf existed before: a conversion, not a new extension


@pytest.mark.parametrize(("name", "note"), [
    ("HOW_TO_DECRYPT_FILES.txt", True), ("docs/README_FOR_DECRYPT.html", True), ("_readme.txt", True),
    ("!!!READ_ME!!!.txt", True), ("restore-my-files.txt", True), ("RANSOM_NOTE", True),
    ("readme.txt", False), ("how-to-decrypt.pdf", False), ("restore-plan-2026.txt", False), ("decrypt.py", False),
])
def test_ransom_note_names(name: str, note: bool) -> None:
    assert bool(ransom_notes((name,))) is note


@pytest.mark.parametrize(("history", "threshold"), [
    ([], 0.5), ([0.01] * 4, 0.5),                     # no baseline yet: the floor
    ([0.02, 0.03, 0.05, 0.04, 0.02, 0.03], 0.5),     # a quiet copy: the floor
    ([1.0] * 10, 1.0),                               # a copy that changes everything every day
    ([0.6, 0.7, 0.8, 0.7, 0.6, 0.7], 0.7 + 6 * 1.4826 * 0.05),
])
def test_rate_threshold(history: list[float], threshold: float) -> None:
    assert rate_threshold(history, SPEC)[0] == pytest.approx(threshold)


def _pairs(count: int, new: Head, old: Head | None = TEXT) -> list[Pair]:
    return [Pair(f"docs/f{n}.txt", f"docs/f{n}.txt", new, old) for n in range(count)]


@pytest.mark.parametrize(("change", "pairs", "canaries", "suspect", "finding"), [
    # a normal day: 5 % edited, text stays text
    (Change(100, added=files(3, "new/"), modified=files(5)), _pairs(5, TEXT), [], False, None),
    # a mass change below the floor, and a small one whatever its share
    (Change(100, modified=files(49)), _pairs(20, TEXT), [], False, None),
    (Change(8, modified=files(8)), _pairs(8, TEXT), [], False, None),
    (Change(100, modified=files(51)), _pairs(20, TEXT), [], True, "51 of 100 files changed or removed"),
    # encrypted in place: few files, but every sampled one is random now and was text
    (Change(100, modified=files(4)), _pairs(4, RANDOM), [], True, "4 of 4 sampled changed files now look encrypted"),
    (Change(100, modified=files(2)), _pairs(2, RANDOM), [], False, None),  # fewer than 3
    (Change(1, modified=("db/dump.sql",)), _pairs(1, RANDOM), [], True, "now look encrypted"),  # a 1-file dataset
    # random before and after (a changed blob): nothing new
    (Change(100, modified=files(5)), _pairs(5, RANDOM, RANDOM), [], False, None),
    # a compressed format is left out
    (Change(100, modified=files(5)), _pairs(5, measure(b"PK\x03\x04" + os.urandom(9000))), [], False, None),
    # many new PDFs: added files do not count, their format is compressed anyway
    (Change(100, added=files(300, "scans/s")), [], [], False, None),
    (Change(100, added=tuple(f"f{n}.txt.locked" for n in range(12)), removed=tuple(f"f{n}.txt" for n in range(12)),
            base_extensions=frozenset({"txt"})), [], [], True, "12 files renamed to the new extension .locked"),
    (Change(100, added=("HOW_TO_DECRYPT.txt",)), [], [], True, "ransom note: HOW_TO_DECRYPT.txt"),
    (Change(100), [], ["canary docs/.canary/x changed"], True, "canary docs/.canary/x changed"),
])
def test_judge(change: Change, pairs: list[Pair], canaries: list[str], suspect: bool, finding: str | None) -> None:
    verdict = judge(change, pairs, [0.03] * 10, canaries, SPEC)
    assert verdict.suspect is suspect, (verdict.findings, verdict.measured)
    assert (verdict.score >= 1) is suspect
    if finding:
        assert any(finding in f for f in verdict.findings), verdict.findings
    else:
        assert verdict.findings == []


def test_the_numbers_name_the_change_and_the_entropy_before_and_after() -> None:
    verdict = judge(Change(1300, modified=files(1240)), _pairs(20, RANDOM), [], [], SPEC)
    assert "1,240 of 1,300 files changed or removed (95%" in verdict.findings[0]
    assert "20 of 20 sampled changed files now look encrypted (mean entropy 8.00 bits/byte, was " in verdict.findings[1]
    assert verdict.measured["previous_mean_entropy"] < 5 and verdict.measured["files_changed"] == 1240


def test_sample_prefers_files_with_a_previous_version_within_the_budget() -> None:
    change = Change(10, added=("new.txt", "a.txt.locked"), modified=("b.txt", "huge.bin", "empty.txt"),
                    removed=("a.txt",))
    found = candidates(change, {"new.txt": 10, "a.txt.locked": 10, "b.txt": 10, "huge.bin": 10**9, "empty.txt": 0})
    chosen = choose(found, AnomalySpec(sample_files=2, sample_bytes=1000))
    assert sorted(c.relpath for c in chosen) == ["a.txt.locked", "b.txt"]
    assert Candidate("a.txt.locked", "a.txt", 10) in chosen
    assert choose(found, AnomalySpec(sample_files=5, sample_bytes=1000))[-1].relpath == "new.txt"


def test_restic_diff_json_is_read_files_only() -> None:
    output = "\n".join([
        '{"message_type":"change","path":"/d/f1.txt","modifier":"M"}',
        '{"message_type":"change","path":"/d/sub/","modifier":"+"}',
        '{"message_type":"change","path":"/d/f2.txt","modifier":"-"}',
        '{"message_type":"change","path":"/d/f2.txt.locked","modifier":"+"}',
        '{"message_type":"change","path":"/d/f3.txt","modifier":"U"}',
        '{"message_type":"statistics","changed_files":1,"added":{"bytes":1762},"removed":{"bytes":1399}}',
    ])
    diff = parse_diff(output)
    assert (diff.added, diff.removed, diff.modified) == (["/d/f2.txt.locked"], ["/d/f2.txt"], ["/d/f1.txt"])
    assert diff.statistics["added"]["bytes"] == 1762
    with pytest.raises(ValueError):
        parse_diff("not json")


def test_random_bytes_of_a_seeded_generator_are_random_enough() -> None:
    assert looks_random(measure(random.Random(1).randbytes(4096)), 7.5)
