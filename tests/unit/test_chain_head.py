"""agent.chain_head: when may a run append, given the store's newest record and the heads
remembered beside it? One row per situation; real head files and logs in tmp_path, no process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent import chain_head
from agent.chain_head import Anchor, Head

H = {n: f"{n:02d}" * 32 for n in range(1, 21)}  # record number -> its (fake) hash


def store_in(tmp_path: Path, records: int | None) -> tuple[Path, tuple[int, str] | None]:
    """A store path (a file exists unless records is None) and its newest record."""
    store = tmp_path / "records.sqlite"
    if records is not None:
        store.write_bytes(b"")
    return store, ((records, H[records]) if records else None)


def problem(store: Path, last: tuple[int, str] | None) -> str | None:
    return chain_head.continuity_problem(store, last, lambda n: H.get(n) if last and n <= last[0] else None)


# (records in the store or None when no file, head file, log heads) -> a phrase of the problem, or None
CASES = {
    "new store": (None, None, [], None),
    "empty store, nothing remembered": (0, None, [], None),
    "head matches": (12, Head(12, H[12]), [12], None),
    "head lags (an older version's crash window)": (12, Head(10, H[10]), [10], None),
    "unconfirmed append that committed": (12, Head(12, H[12], Anchor(9, H[9], "head")), [9], None),
    "unconfirmed append that did not": (9, Head(12, H[12], Anchor(9, H[9], "head")), [9], None),
    "store between an append's start and end": (10, Head(12, H[12], Anchor(9, H[9], "head")), [9], "between"),
    "store emptied": (0, Head(12, H[12]), [12], "holds no records"),
    "store deleted": (None, Head(12, H[12]), [12], "does not exist"),
    "store deleted with its head, log left": (None, None, [12], "does not exist"),
    "tail cut": (9, Head(12, H[12]), [12], "ends at record #9"),
    "tail cut, head rewritten, log remembers": (9, Head(9, H[9]), [12], "ends at record #9"),
    "head missing, records present": (12, None, [12], "missing"),
    "head rewritten to another hash": (12, Head(12, H[11]), [12], "rewritten"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_continuity(tmp_path: Path, case: str) -> None:
    records, head, logged, expected = CASES[case]
    store, last = store_in(tmp_path, records)
    if head is not None:
        chain_head.write_head(store, head)
    for number in logged:
        chain_head.append_log(store, {"record_no": number, "hash": H[number]})
    found = problem(store, last)
    if expected is None:
        assert found is None, found
    else:
        assert found is not None and expected in found, found


def test_an_accepted_new_chain_resets_what_the_log_remembers(tmp_path: Path) -> None:
    store, last = store_in(tmp_path, 0)
    chain_head.append_log(store, {"record_no": 12, "hash": H[12]})
    assert "holds no records" in problem(store, last)
    chain_head.append_log(store, {"event": chain_head.NEW_CHAIN, "reason": "operator"})
    assert problem(store, last) is None
    assert chain_head.read_log(store) == []


def test_a_torn_log_line_is_skipped_and_the_next_line_starts_fresh(tmp_path: Path) -> None:
    store, _ = store_in(tmp_path, 3)
    chain_head.append_log(store, {"record_no": 2, "hash": H[2]})
    with chain_head.log_path(store).open("a") as log:
        log.write('{"record_no": 3, "ha')  # a crash in the middle of a line
    chain_head.append_log(store, {"record_no": 3, "hash": H[3]})
    assert [a.record_no for a in chain_head.read_log(store)] == [2, 3]


def test_an_unreadable_head_is_a_problem(tmp_path: Path) -> None:
    store, last = store_in(tmp_path, 3)
    chain_head.head_path(store).write_text("{not json")
    assert "unreadable" in problem(store, last)


def test_head_file_round_trip_and_no_temp_left(tmp_path: Path) -> None:
    store = tmp_path / "records.sqlite"
    chain_head.write_head(store, Head(5, H[5], Anchor(3, H[3], "x")))
    assert json.loads(chain_head.head_path(store).read_text()) == {
        "record_no": 5, "hash": H[5], "pending": True, "base_record_no": 3, "base_hash": H[3]}
    assert chain_head.read_head(store).base.record_no == 3
    chain_head.write_head(store, Head(5, H[5]))
    assert chain_head.read_head(store) == Head(5, H[5])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.sqlite.head"]


@pytest.mark.parametrize(("text", "number", "digest"), [
    (f"12:{H[12]}", 12, H[12]), ("#7:ABCDEF0123456", 7, "abcdef0123456"), (" 3:0123456789abcdef ", 3, "0123456789abcdef"),
])
def test_parse_anchor(text: str, number: int, digest: str) -> None:
    assert chain_head.parse_anchor(text) == Anchor(number, digest, "--anchor")


@pytest.mark.parametrize("text", ["12", "12:", "12:abcdef012345", "x:" + "a" * 13, "12:" + "g" * 13, "12:" + "a" * 65])
def test_parse_anchor_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="NUMBER:HASH"):
        chain_head.parse_anchor(text)


# --- reading what is beside the store: one row per head file or log line ------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    (json.dumps({"record_no": 12, "hash": H[12]}), Head(12, H[12])),
    (json.dumps({"record_no": "12", "hash": H[12]}), Head(12, H[12])),
    (json.dumps({"record_no": 12, "hash": H[12], "pending": True, "base_record_no": 9, "base_hash": H[9]}),
     Head(12, H[12], Anchor(9, H[9], "head file (head before an unconfirmed append)"))),
    (json.dumps({"record_no": 12, "hash": H[12], "pending": False, "base_record_no": 9}), Head(12, H[12])),
])
def test_read_head(tmp_path: Path, text: str, expected: Head) -> None:
    store = tmp_path / "records.sqlite"
    chain_head.head_path(store).write_text(text)
    assert chain_head.read_head(store) == expected


@pytest.mark.parametrize("text", [
    "", "{not json", "[]", "12", json.dumps({"hash": H[12]}), json.dumps({"record_no": 12}),
    json.dumps({"record_no": "twelve", "hash": H[12]}),
    json.dumps({"record_no": 12, "hash": H[12], "pending": True, "base_record_no": 9}),
], ids=["empty", "torn", "list", "number", "no-number", "no-hash", "word", "pending-without-base"])
def test_a_head_that_does_not_parse_is_unreadable_never_absent(tmp_path: Path, text: str) -> None:
    store = tmp_path / "records.sqlite"
    chain_head.head_path(store).write_text(text)
    with pytest.raises(chain_head.HeadUnreadable, match="unreadable"):
        chain_head.read_head(store)


def test_no_head_file_is_no_head(tmp_path: Path) -> None:
    assert chain_head.read_head(tmp_path / "records.sqlite") is None


@pytest.mark.parametrize(("lines", "numbers"), [
    ([], []),
    ([{"record_no": 3, "hash": H[3]}, {"record_no": 5, "hash": H[5]}], [3, 5]),
    ([{"record_no": 3, "hash": H[3]}, {"event": "new-chain"}, {"record_no": 1, "hash": H[1]}], [1]),
    ([{"record_no": 3, "hash": H[3]}, {"event": "new-chain"}], []),
    ([{"record_no": 3, "hash": H[3]}, '{"record_no": 4, "ha', {"record_no": 5, "hash": H[5]}], [3, 5]),
    (["not json", "[]", '"text"', {"record_no": "x", "hash": H[3]}, {"record_no": 6}, {"at": "2026"}], []),
], ids=["empty", "appends", "new-chain", "new-chain-last", "torn-line", "garbage"])
def test_read_log(tmp_path: Path, lines: list, numbers: list[int]) -> None:
    store = tmp_path / "records.sqlite"
    chain_head.log_path(store).write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                                                  for line in lines))
    assert [anchor.record_no for anchor in chain_head.read_log(store)] == numbers
