"""The records suite on both stores: the local SQLite store alone, and the shared PostgreSQL store
fed through the outbox (a real server, tests/support/postgres.py). Every test runs on each.

The store holds 12 records of agent `vm` over three days (tests.support.records.make_rows),
appended in two runs and, for the shared store, delivered. Tampering is what the store's owner
can do: triggers dropped, rows changed, deleted or forged with SQL; `backup-agent records verify`
(in-process, tests/support/cli.invoke) must exit 1 naming the record. The SQLite-only tests (bytes
of the file flipped, a damaged header, the head file and head log) stay in tests/unit/test_records.py.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from agent.records import COLUMNS, FIELDS, GENESIS, RecordStore, record_hash
from agent.records.sqlite_schema import SchemaTooNew
from tests.support.record_stores import AGENT, StoreCase
from tests.support.records import make_rows, write_legacy_store

KINDS = ("sqlite", "postgresql")


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def empty(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreCase:
    """An empty store of the kind (for PostgreSQL a fresh database with the schema)."""
    if kind == "sqlite":
        return StoreCase.make(kind, tmp_path / "site")
    return StoreCase.make(kind, tmp_path / "site", request.getfixturevalue("shared_db"),
                          request.getfixturevalue("postgres"))


@pytest.fixture
def store(empty: StoreCase) -> StoreCase:
    """The store holding 12 records of agent vm (two runs), delivered when shared."""
    assert empty.append(make_rows(5)) == (1, 5)
    assert empty.append(make_rows(7, first=6)) == (6, 12)
    return empty


def assert_broken_at(store: StoreCase, number: int, *words: str) -> str:
    result = store.cli("verify")
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr + result.stdout.decode()
    shown = (rf"agent {AGENT}: chain BROKEN at record {number}\b" if store.shared
             else rf"^chain BROKEN at record {number}\b.*; agent {AGENT}$")
    assert re.search(shown, stderr, re.M), stderr
    for word in words:
        assert word in stderr, stderr
    return stderr


# --- the chain


def test_chain_is_intact_after_appends(store: StoreCase) -> None:
    with store.reader() as reader:
        reports = reader.verify_chain()
        rows = list(reader.rows())
        assert reader.agents() == [AGENT] and reader.head(AGENT).seq == 12
    assert reports.ok and reports.records == 12 and (reports[AGENT].first, reports[AGENT].last) == (1, 12)
    assert [r["seq"] for r in rows] == list(range(1, 13)) and {r["agent"] for r in rows} == {AGENT}
    assert rows[0]["prev_hash"] == GENESIS and {r["chain"] for r in rows} == {2}
    for before, row in zip(rows, rows[1:], strict=False):
        assert row["prev_hash"] == before["hash"] and row["hash"] == record_hash(before["hash"], row)
    result = store.cli("verify")
    assert result.returncode == 0, result.stderr
    line = f"chain intact: 12 records (#1-#12); head #12 sha256 {rows[-1]['hash']}"
    assert result.stdout.decode() == (f"agent {AGENT}: {line}\n" if store.shared else f"{line}; agent {AGENT}\n")


def test_an_empty_store_verifies(empty: StoreCase) -> None:
    if empty.kind == "sqlite":
        with RecordStore(empty.local_path, agent=AGENT):
            pass
    with empty.reader() as reader:
        assert reader.verify_chain().ok and reader.verify_chain().records == 0 and reader.head(AGENT) is None


def test_records_keep_their_values_and_types(store: StoreCase) -> None:
    """What the agent hashed is what the store hands back: ints stay ints, floats floats, text text."""
    with RecordStore(store.local_path, readonly=True) as local:
        written = list(local.rows())
    with store.reader() as reader:
        read = list(reader.rows())
    assert [{c: (r[c], type(r[c])) for c in COLUMNS if c != "record_no"} for r in read] == \
        [{c: (r[c], type(r[c])) for c in COLUMNS if c != "record_no"} for r in written]


@pytest.mark.parametrize("statement", ["UPDATE records SET result = 'pass' WHERE seq = 3",
                                       "DELETE FROM records WHERE seq = 3", "DELETE FROM records"])
def test_update_and_delete_are_refused_by_triggers_even_for_the_owner(store: StoreCase, statement: str) -> None:
    with pytest.raises(Exception, match="append-only"):
        store.execute(statement)
    assert store.cli("verify").returncode == 0


@pytest.mark.parametrize(("column", "value"), [
    ("result", "fail"), ("detail", "everything fine"), ("last_backup_at", "2026-11-02T00:00:00Z"),
    ("age_seconds", 1.0), ("operator", "someone else"), ("hash", "0" * 64), ("prev_hash", "f" * 64),
    ("recorded_at", "2026-10-01T00:00:00Z"), ("bytes_verified", 1), ("agent_host", "elsewhere"), ("chain", 1),
])
def test_a_changed_column_is_found_with_triggers_dropped(store: StoreCase, column: str, value: Any) -> None:
    store.tamper(f"UPDATE records SET {column} = %s WHERE seq = 3", (value,), "records_no_update")
    assert_broken_at(store, 3)


def test_a_rewritten_record_with_a_recomputed_hash_breaks_the_next_link(store: StoreCase) -> None:
    with store.reader() as reader:
        row = next(r for r in reader.rows() if r["seq"] == 3)
    row["result"] = "fail"
    store.tamper("UPDATE records SET result = %s, hash = %s WHERE seq = 3", ("fail", record_hash(row["prev_hash"], row)),
                 "records_no_update")
    assert_broken_at(store, 4, "link to the previous record does not match")


def test_a_deleted_middle_record_is_found(store: StoreCase) -> None:
    store.tamper("DELETE FROM records WHERE seq = 6", (), "records_no_delete")
    assert_broken_at(store, 6, "missing")


def test_a_renumbered_record_is_found(store: StoreCase) -> None:
    store.tamper("UPDATE records SET seq = 99 WHERE seq = 9", (), "records_no_update")
    assert_broken_at(store, 9)


def test_a_record_moved_to_another_agent_is_found(store: StoreCase) -> None:
    store.tamper("UPDATE records SET agent = 'other' WHERE seq = 12", (), "records_no_update")
    assert_broken_at(store, 12)


def test_a_forged_record_appended_to_the_chain_is_found(store: StoreCase) -> None:
    row = {**make_rows(1, first=13)[0], "agent": AGENT, "seq": 13, "chain": 2, "prev_hash": "a" * 64,
           "hash": "b" * 64}
    if store.shared:
        store.drop_trigger("records_continue_chain")  # the server refuses a broken link on insert
    else:
        row["record_no"] = 13
    store.execute(f"INSERT INTO records ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
                  tuple(row.values()))
    assert_broken_at(store, 13)


def test_a_deleted_tail_is_found_by_the_head_this_agent_remembers(store: StoreCase) -> None:
    """SQLite: the head file and head log; the shared store: what this agent's outbox delivered."""
    store.tamper("DELETE FROM records WHERE seq > 9", (), "records_no_delete")
    stderr = assert_broken_at(store, 10, "records 10-12 are missing")
    assert ("outbox" if store.shared else "head") in stderr


def test_an_anchor_remembered_elsewhere_is_checked(store: StoreCase) -> None:
    with store.reader() as reader:
        digests = {row["seq"]: row["hash"] for row in reader.rows()}
    assert store.cli("verify", "--anchor", f"12:{digests[12]}", "--anchor", f"{AGENT}/7:{digests[7][:13]}"
                     ).returncode == 0
    wrong = store.cli("verify", "--anchor", f"7:{digests[8][:13]}")
    assert wrong.returncode == 1 and b"record 7" in wrong.stderr and b"--anchor" in wrong.stderr
    beyond = store.cli("verify", "--anchor", f"14:{'a' * 13}")
    assert beyond.returncode == 1 and b"records 13-14 are missing" in beyond.stderr
    gone = store.cli("verify", "--anchor", f"nas-agent/3:{'a' * 13}")
    assert gone.returncode == 1 and b"chain BROKEN at record 1: records 1-3 are missing" in gone.stderr
    assert b"nas-agent" in gone.stderr


# --- reading: exports, filters, agents


def test_csv_export_has_bom_bilingual_headers_and_the_agent(store: StoreCase, tmp_path: Path) -> None:
    out = tmp_path / "export.csv"
    assert store.cli("export", "--format", "csv", "--output", str(out)).returncode == 0
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and store.cli("export", "--format", "csv").stdout == data
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0] == [f"{zh} / {en}" for _, zh, en in FIELDS]
    agent, seq = table[0].index("代理 / Agent"), table[0].index("代理序号 / Agent seq.")
    assert [(r[agent], int(r[seq])) for r in table[1:]] == [(AGENT, n) for n in range(1, 13)]


def test_jsonl_export_parses(store: StoreCase) -> None:
    result = store.cli("export", "--format", "jsonl")
    records = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    assert [r["seq"] for r in records] == list(range(1, 13))
    assert all(set(r) == set(COLUMNS) for r in records)
    assert records[0]["operator"] == "王婧" and records[4]["prev_hash"] == records[3]["hash"]


@pytest.mark.parametrize(("args", "numbers"), [
    (["--since", "2026-11-02", "--until", "2026-11-03"], [5, 6, 7, 8]),
    (["--until", "2026-11-02T13:00:00+08:00"], [1, 2, 3, 4]),
    (["--since", "2026-11-03", "--tz", "Asia/Shanghai"], [9, 10, 11, 12]),
    (["--since", "2026-11-02T05:00Z", "--until", "2026-11-02T07:00:00.001Z"], [5, 6, 7]),
    (["--since", "2026-12-01"], []),
    (["--agent", AGENT, "--until", "2026-11-02"], [1, 2, 3, 4]),
    (["--agent", "someone-else"], []),
])
def test_filters_compare_times_not_text(store: StoreCase, args: list[str], numbers: list[int]) -> None:
    result = store.cli("export", "--format", "jsonl", *args)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["seq"] for line in result.stdout.decode().splitlines()] == numbers


def test_records_list_names_the_agent(store: StoreCase) -> None:
    result = store.cli("list", "--since", "2026-11-03", "--limit", "0", "--agent", AGENT)
    lines = result.stdout.decode().splitlines()
    assert [line.split()[2] for line in lines] == [f"{AGENT}#{n}" for n in (9, 10, 11, 12)]
    assert "finance-records/nas" in lines[0] and "freshness" in lines[0]


def test_the_local_option_reads_the_outbox(store: StoreCase) -> None:
    if store.shared:
        store.tamper("DELETE FROM records WHERE seq > 9", (), "records_no_delete")
    local = store.cli("verify", "--local")
    assert local.returncode == 0 and b"chain intact: 12 records" in local.stdout
    assert len(store.cli("export", "--format", "jsonl", "--local").stdout.splitlines()) == 12


# --- schema versions


def test_a_store_written_before_agents_were_named_migrates_and_keeps_verifying(empty: StoreCase) -> None:
    """A schema-1 store (chain format 1, record_no hashed): read as it is, migrated by `records init`
    without a record rewritten, continued by the same agent's chain, and delivered whole."""
    hashes = write_legacy_store(empty.local_path)
    before = empty.local_path.read_bytes()
    local = empty.cli("verify", "--local")
    assert local.returncode == 0 and re.match(rb"chain intact: 12 records .*; agent vm$", local.stdout), local.stderr
    assert empty.local_path.read_bytes() == before, "reading never migrates"
    init = empty.cli("init")
    assert init.returncode == 0 and b"schema version 2, migrated from schema 1; agent vm" in init.stdout, init.stderr
    assert b"schema version 2, nothing to do" in empty.cli("init").stdout
    assert empty.append(make_rows(2, first=13)) == (13, 14)
    result = empty.cli("verify")
    assert result.returncode == 0 and b"chain intact: 14 records" in result.stdout, result.stderr
    with empty.reader() as reader:
        rows = list(reader.rows())
    assert [r["hash"] for r in rows[:12]] == hashes, "the old records keep their hashes"
    assert [(r["seq"], r["chain"]) for r in rows] == [(n, 1) for n in range(1, 13)] + [(13, 2), (14, 2)]
    assert rows[12]["prev_hash"] == hashes[-1] and rows[12]["agent"] == AGENT


def test_a_newer_schema_is_refused_and_nothing_is_written(store: StoreCase) -> None:
    store.execute("INSERT INTO schema_version (version, applied_at) VALUES (3, '2031-01-01T00:00:00Z')")
    before = store.local_path.read_bytes()
    for args in (("verify",), ("list",), ("init",), *((("sync",),) if store.shared else ())):
        result = store.cli(*args)
        assert result.returncode == 3, (args, result.stdout, result.stderr)
        assert b"schema version 3, newer than this agent understands (2)" in result.stderr, result.stderr
    assert store.local_path.read_bytes() == before
    if store.shared:  # the outbox takes the records; the shared store is not written to
        with pytest.raises(SchemaTooNew):
            store.append(make_rows(1, first=13))
        assert store.execute("SELECT count(*) FROM records") == [(12,)]
    else:
        with pytest.raises(SchemaTooNew):
            store.append(make_rows(1, first=13))
        assert store.local_path.read_bytes() == before
