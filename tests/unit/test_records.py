"""QEF-19-05 records: the SHA-256 chain, append-only triggers, tamper detection through the CLI,
crash consistency, and the CSV / JSONL exports.

Tampering is done the way an attacker or a bad disk would do it: bytes of the SQLite file edited
directly, or rows changed after the triggers are dropped. `backup-agent records verify` (the CLI's
own main(), in this process: tests/support/cli.invoke; as a subprocess: tests/e2e/test_cli_smoke.py)
must exit 1 and name the record."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.config import parse_config
from agent.models import CheckResult, CopyResult, DatasetResult, RunResult, Status
from agent.records import COLUMNS, FIELDS, GENESIS, RecordStore, record_hash, rows_for_run
from checks import policy_321
from tests.support.records import CONFIG, age_of, copy_store, db_path, head_file, make_rows, write_store
from tests.support.records import records_cli as cli


@pytest.fixture(scope="module")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The records store every test starts from, written once (tests/support/records.write_store)."""
    return write_store(tmp_path_factory.mktemp("records-template"))


@pytest.fixture()
def store_dir(tmp_path: Path, store_template: Path) -> Path:
    """A config whose records store holds 12 records over three days: a private copy of the template."""
    return copy_store(store_template, tmp_path)


def assert_broken_at(directory: Path, number: int) -> None:
    result = cli(directory, "verify")
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert re.search(rf"\brecord {number}\b", stderr), stderr


def raw_connection(directory: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(db_path(directory)), isolation_level=None)


def flip_in_file(path: Path, needle: bytes, offset: int, mask: int) -> None:
    """Flip bits of one byte of the stored file, inside the only occurrence of needle."""
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0, "WAL not checkpointed"
    data = bytearray(path.read_bytes())
    assert data.count(needle) == 1, f"{needle!r} occurs {data.count(needle)} times"
    position = data.index(needle) + offset
    data[position] ^= mask
    path.write_bytes(bytes(data))


# --- the chain


def test_chain_is_intact_after_appends(store_dir: Path) -> None:
    with RecordStore(db_path(store_dir)) as store:
        report = store.verify_chain()
        assert report.ok and report.records == 12 and (report.first, report.last) == (1, 12)
        rows = list(store.rows())
    assert rows[0]["prev_hash"] == GENESIS
    for before, row in zip(rows, rows[1:], strict=False):
        assert row["prev_hash"] == before["hash"]
        assert row["hash"] == record_hash(before["hash"], row)
    result = cli(store_dir, "verify")
    assert result.returncode == 0 and b"chain intact: 12 records" in result.stdout


def test_empty_store_verifies(tmp_path: Path) -> None:
    with RecordStore(tmp_path / "r.sqlite") as store:
        assert store.verify_chain().ok and store.verify_chain().records == 0
        assert store.append([]) == (1, 0)


def test_update_and_delete_are_refused_by_triggers(store_dir: Path) -> None:
    db = raw_connection(store_dir)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE records SET result = 'pass' WHERE record_no = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM records WHERE record_no = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM records")
    db.close()
    assert cli(store_dir, "verify").returncode == 0


# Each: a byte sequence unique to record 7 and the offset of the byte to flip within it.
FLIPS = {
    "detail-text": (b"detail-marker-0007", 14),
    "age-real": (struct.pack(">d", age_of(7)), 7),
    "measured-json": (b'{"n": 7}', 6),
}


def _column(directory: Path, number: int, column: str) -> bytes:
    with RecordStore(db_path(directory)) as store:
        return next(r for r in store.rows() if r["record_no"] == number)[column].encode()


@pytest.mark.parametrize("mask", [0x20, 0x80], ids=["ascii-case", "high-bit"])
@pytest.mark.parametrize("what", ["detail-text", "age-real", "measured-json", "own-hash", "link-hash"])
def test_a_flipped_byte_in_the_file_is_found(store_dir: Path, what: str, mask: int) -> None:
    """Edit the SQLite file itself; 0x80 also makes text invalid UTF-8, which must still read as broken.

    A row stores its columns back to back, so prev_hash followed by hash is unique to one record
    (the hash text alone also appears as the next record's prev_hash)."""
    expected = 7
    if what == "own-hash":
        needle, offset = _column(store_dir, 7, "prev_hash") + _column(store_dir, 7, "hash"), 64 + 10
    elif what == "link-hash":
        needle, offset = _column(store_dir, 8, "prev_hash") + _column(store_dir, 8, "hash"), 20
        expected = 8
    else:
        needle, offset = FLIPS[what]
    flip_in_file(db_path(store_dir), needle, offset, mask)
    assert_broken_at(store_dir, expected)


@pytest.mark.parametrize("offset", [0, 100], ids=["magic", "page-header"])
def test_a_store_damaged_beyond_opening_reads_as_broken(store_dir: Path, offset: int) -> None:
    """A flipped byte in the file header is not an agent failure (exit 3): the store is broken (exit 1)."""
    path = db_path(store_dir)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    result = cli(store_dir, "verify")
    assert result.returncode == 1, result.stderr
    assert b"chain BROKEN" in result.stderr and b"Traceback" not in result.stderr


@pytest.mark.parametrize(("column", "value"), [
    ("result", "fail"), ("detail", "everything fine"), ("last_backup_at", "2026-11-02T00:00:00Z"),
    ("age_seconds", 1.0), ("operator", "someone else"), ("hash", "0" * 64), ("prev_hash", "f" * 64),
    ("recorded_at", "2026-10-01T00:00:00Z"), ("bytes_verified", 1),
])
def test_a_changed_column_is_found_with_triggers_dropped(store_dir: Path, column: str, value: Any) -> None:
    db = raw_connection(store_dir)
    db.execute("DROP TRIGGER records_no_update")
    db.execute(f"UPDATE records SET {column} = ? WHERE record_no = 3", (value,))
    db.close()
    assert_broken_at(store_dir, 3)


def test_a_rewritten_record_with_a_recomputed_hash_breaks_the_next_link(store_dir: Path) -> None:
    """An attacker who recomputes the edited record's own hash still breaks the link after it."""
    db = raw_connection(store_dir)
    db.row_factory = sqlite3.Row
    db.execute("DROP TRIGGER records_no_update")
    row = dict(db.execute("SELECT * FROM records WHERE record_no = 3").fetchone())
    row["result"] = "fail"
    db.execute("UPDATE records SET result = ?, hash = ? WHERE record_no = 3",
               (row["result"], record_hash(row["prev_hash"], row)))
    db.close()
    assert_broken_at(store_dir, 4)


def test_a_deleted_middle_record_is_found(store_dir: Path) -> None:
    db = raw_connection(store_dir)
    db.execute("DROP TRIGGER records_no_delete")
    db.execute("DELETE FROM records WHERE record_no = 6")
    db.close()
    assert_broken_at(store_dir, 6)
    assert b"missing" in cli(store_dir, "verify").stderr


def test_a_renumbered_record_is_found(store_dir: Path) -> None:
    db = raw_connection(store_dir)
    db.execute("DROP TRIGGER records_no_update")
    db.execute("UPDATE records SET record_no = 99 WHERE record_no = 9")
    db.close()
    assert_broken_at(store_dir, 9)


def test_a_forged_record_appended_outside_the_store_is_found(store_dir: Path) -> None:
    row = make_rows(1, first=13)[0]
    row.update(record_no=13, prev_hash="a" * 64, hash="b" * 64)
    db = raw_connection(store_dir)
    db.execute(f"INSERT INTO records ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    db.close()
    assert_broken_at(store_dir, 13)


def test_verify_without_a_store_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "targets.yaml").write_text(CONFIG, encoding="utf-8")
    result = cli(tmp_path, "verify")
    assert result.returncode == 2 and b"no records store" in result.stderr
    assert not (tmp_path / "state").exists()


# --- a run cut short


def test_exception_inside_the_append_transaction_leaves_the_store_consistent(store_dir: Path) -> None:
    def rows_then_crash():
        yield from make_rows(3, first=13)
        raise RuntimeError("killed half way")

    with RecordStore(db_path(store_dir)) as store:
        with pytest.raises(RuntimeError, match="half way"):
            store.append(rows_then_crash())
        assert store.verify_chain().records == 12, "no partial run is left behind"
        assert store.append(make_rows(2, first=13)) == (13, 14)
        assert store.verify_chain().ok
    assert cli(store_dir, "verify").returncode == 0


# --- exports and filters


def test_csv_export_has_bom_and_bilingual_headers(store_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "export.csv"
    result = cli(store_dir, "export", "--format", "csv", "--output", str(out))
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM so Excel shows Chinese"
    assert cli(store_dir, "export", "--format", "csv").stdout == data, "stdout and --output agree"
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0] == [f"{zh} / {en}" for _, zh, en in FIELDS]
    assert table[0][0] == "记录编号 / Record no." and "结果 / Result" in table[0]
    assert [int(r[0]) for r in table[1:]] == list(range(1, 13))
    operator = table[0].index("操作人 / Operator")
    assert {r[operator] for r in table[1:]} == {"王婧"}


def test_jsonl_export_parses(store_dir: Path) -> None:
    result = cli(store_dir, "export", "--format", "jsonl")
    assert result.returncode == 0
    assert not result.stdout.startswith(b"\xef\xbb\xbf")
    records = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    assert [r["record_no"] for r in records] == list(range(1, 13))
    assert all(set(r) == set(COLUMNS) for r in records)
    assert records[0]["operator"] == "王婧" and "最后备份" in records[0]["detail"]
    assert records[4]["prev_hash"] == records[3]["hash"]


@pytest.mark.parametrize(("since", "until", "numbers"), [
    ("2026-11-02", "2026-11-03", [5, 6, 7, 8]),
    ("2026-11-03", None, [9, 10, 11, 12]),
    (None, "2026-11-02", [1, 2, 3, 4]),
    ("2026-11-02T06:00:00Z", "2026-11-02T08:00:00Z", [6, 7]),
    ("2026-12-01", None, []),
])
def test_since_until_filter_exports(store_dir: Path, since: str | None, until: str | None, numbers: list[int]) -> None:
    args = ["export", "--format", "jsonl"]
    args += ["--since", since] if since else []
    args += ["--until", until] if until else []
    result = cli(store_dir, *args)
    assert result.returncode == 0
    assert [json.loads(line)["record_no"] for line in result.stdout.decode().splitlines()] == numbers
    result = cli(store_dir, "export", "--format", "csv", *args[3:])
    assert len(list(csv.reader(io.StringIO(result.stdout.decode("utf-8-sig"))))) == len(numbers) + 1


def _filtered(store_dir: Path, *args: str):
    """`records export --format jsonl ARGS` in-process (click's runner): (exit code, record numbers, stderr)."""
    from click.testing import CliRunner

    from agent.cli import cli as main_group

    outcome = CliRunner().invoke(
        main_group, ["--config", str(store_dir / "targets.yaml"), "records", "export", "--format", "jsonl", *args])
    numbers = [json.loads(line)["record_no"] for line in outcome.stdout.splitlines()] if outcome.exit_code == 0 else []
    return outcome.exit_code, numbers, outcome.stderr


@pytest.mark.parametrize(("args", "numbers"), [
    # An auditor in China: 13:00 on the 2nd in Beijing is 05:00Z; as text "…T05:00:00Z" < "…T13:00:00+08:00".
    (["--until", "2026-11-02T13:00:00+08:00"], [1, 2, 3, 4]),
    (["--since", "2026-11-02T13:00:00+08:00"], [5, 6, 7, 8, 9, 10, 11, 12]),
    (["--since", "2026-11-03", "--tz", "Asia/Shanghai"], [9, 10, 11, 12]),
    (["--since", "2026-11-02", "--until", "2026-11-03", "--tz", "+08:00"], [5, 6, 7, 8]),
    (["--since", "2026-11-02T05:00Z", "--until", "2026-11-02T07:00:00.001Z"], [5, 6, 7]),
])
def test_time_filters_compare_times_not_text(store_dir: Path, args: list[str], numbers: list[int]) -> None:
    code, found, stderr = _filtered(store_dir, *args)
    assert code == 0, stderr
    assert found == numbers


@pytest.mark.parametrize("args", [["--since", "yesterday"], ["--since", "zzz"], ["--until", "2026-13-01"],
                                  ["--since", "2026-11-02", "--tz", "Mars/Olympus"], ["--since", ""]])
def test_a_time_that_cannot_be_read_is_a_usage_error_not_an_empty_export(store_dir: Path, args: list[str]) -> None:
    code, found, stderr = _filtered(store_dir, *args)
    assert code == 2 and found == []
    assert args[0] in stderr or "--tz" in stderr


def test_a_fraction_of_a_second_does_not_move_a_record_across_a_bound(tmp_path: Path) -> None:
    row = {**make_rows(1)[0], "recorded_at": "2026-11-02T05:00:00.500000Z"}
    with RecordStore(tmp_path / "r.sqlite") as store:
        store.append([row])
        since = datetime(2026, 11, 2, 5, tzinfo=UTC)
        assert [r["record_no"] for r in store.rows(since=since)] == [1]
        assert [r["record_no"] for r in store.rows(until=since)] == []


def test_records_list(store_dir: Path) -> None:
    result = cli(store_dir, "list", "--since", "2026-11-03", "--limit", "0")
    assert result.returncode == 0
    lines = result.stdout.decode().splitlines()
    assert [int(line.split()[0]) for line in lines] == [9, 10, 11, 12]
    assert "finance-records/nas" in lines[0] and "freshness" in lines[0]


# --- rows from a real RunResult


def test_rows_for_run_one_per_check_copy_dataset_and_run(tmp_path: Path) -> None:
    document = {
        "agent": {"operator": "王婧"},
        "processes": {"p": {"rpo": "1h", "rto": "4h"}},
        "targets": {"droplet": {"kind": "local", "medium": "cloud-vm", "location": "sgp", "require_mount": False},
                    "nas": {"kind": "local", "medium": "nas", "location": "office", "require_mount": False}},
        "datasets": {"d": {"process": "p", "primary": {"target": "droplet", "form": "files", "path": "/p"},
                           "copies": [{"target": "nas", "form": "files", "path": "/n"}]}},
    }
    dataset = parse_config(document, tmp_path / "targets.yaml").datasets["d"]
    moment = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    copies = [
        CopyResult(dataset.primary, [CheckResult("reachable", Status.PASS, "reachable")]),
        CopyResult(dataset.copies[0], [CheckResult("reachable", Status.PASS, "reachable"),
                                       CheckResult("files-checksum", Status.FAIL, "1 mismatched: a.pdf",
                                                   {"bytes_verified": 4096, "mismatched": 1})],
                   last_backup_at=moment, age_seconds=60.0),
    ]
    run = RunResult("run-x", moment, moment, [DatasetResult(dataset, copies, policy_321.run_dataset(dataset, copies))],
                    "vm", "王婧", {"restic": "0.14.0"})
    rows = rows_for_run(run)
    assert [r["kind"] for r in rows] == ["check", "copy", "check", "check", "copy", "dataset", "run"]
    checksum = rows[3]
    assert checksum["result"] == "fail" and checksum["bytes_verified"] == 4096
    assert json.loads(checksum["measured"])["mismatched"] == 1
    assert checksum["age_seconds"] == 60.0 and checksum["last_backup_at"] == "2026-11-24T03:00:00Z"
    assert rows[5]["result"] == "fail" and rows[-1]["result"] == "fail"
    assert all(r["run_id"] == "run-x" and r["operator"] == "王婧" and r["form"] == "QEF-19-05" for r in rows)
    with RecordStore(tmp_path / "r.sqlite") as store:
        assert store.append(rows) == (1, 7)
        assert store.verify_chain().ok
    assert os.path.getsize(tmp_path / "r.sqlite") > 0


def test_records_cut_off_at_the_end_are_found_by_the_head_anchor(tmp_path) -> None:
    """Deleting the newest records leaves a perfectly linked chain; the head written at append time still shows the cut."""
    import sqlite3 as _sqlite3

    from agent.records import RecordStore as _Store

    path = tmp_path / "records.sqlite"
    with _Store(path) as store:
        store.append([{"kind": "check", "result": "pass", "detail": f"row {i}"} for i in range(5)])
        assert store.verify_chain().ok
    database = _sqlite3.connect(path)
    with database:
        database.execute("DROP TRIGGER records_no_delete")
        database.execute("DELETE FROM records WHERE record_no >= 4")
    database.close()
    with _Store(path) as store:
        report = store.verify_chain()
    assert not report.ok
    assert report.broken_at == 4
    assert "4-5" in report.reason


# --- the tail: what remembers the newest record (agent.chain_head)


def head_log(directory: Path) -> Path:
    return db_path(directory).with_name("records-head.log")


def cut_after(directory: Path, keep: int) -> str:
    """Delete the records after #keep with the triggers dropped; return record #keep's hash."""
    db = raw_connection(directory)
    db.execute("DROP TRIGGER records_no_delete")
    db.execute("DELETE FROM records WHERE record_no > ?", (keep,))
    digest = db.execute("SELECT hash FROM records WHERE record_no = ?", (keep,)).fetchone()[0]
    db.close()
    return digest


def test_tail_cut_with_the_head_rewritten_is_found_by_the_head_log(store_dir: Path) -> None:
    digest = cut_after(store_dir, 9)
    head_file(store_dir).write_text(json.dumps({"record_no": 9, "hash": digest}) + "\n")
    assert_broken_at(store_dir, 10)
    assert b"records 10-12 are missing" in cli(store_dir, "verify").stderr


def test_tail_cut_with_the_head_deleted_is_found(store_dir: Path) -> None:
    cut_after(store_dir, 9)
    head_file(store_dir).unlink()
    assert_broken_at(store_dir, 10)


def test_tail_cut_with_head_and_log_deleted_is_found(store_dir: Path) -> None:
    cut_after(store_dir, 9)
    head_file(store_dir).unlink()
    head_log(store_dir).unlink()
    result = cli(store_dir, "verify")
    assert result.returncode == 1 and b"head file" in result.stderr and b"missing" in result.stderr


def test_a_missing_head_with_the_records_intact_is_a_failure(store_dir: Path) -> None:
    head_file(store_dir).unlink()
    result = cli(store_dir, "verify")
    assert result.returncode == 1, result.stdout
    assert str(head_file(store_dir)).encode() in result.stderr and b"missing" in result.stderr


@pytest.mark.parametrize("how", ["emptied", "deleted"])
def test_a_store_replaced_by_an_empty_one_is_broken(store_dir: Path, how: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path(store_dir)}{suffix}").unlink(missing_ok=True)
    if how == "emptied":
        sqlite3.connect(db_path(store_dir)).close()
    result = cli(store_dir, "verify")
    assert result.returncode == 1, result.stderr
    assert b"chain BROKEN at record 1" in result.stderr and b"#12" in result.stderr


def test_an_anchor_remembered_elsewhere_is_checked(store_dir: Path) -> None:
    with RecordStore(db_path(store_dir)) as store:
        digests = {row["record_no"]: row["hash"] for row in store.rows()}
    assert cli(store_dir, "verify", "--anchor", f"12:{digests[12]}", "--anchor", f"7:{digests[7][:13]}").returncode == 0
    wrong = cli(store_dir, "verify", "--anchor", f"7:{digests[8][:13]}")
    assert wrong.returncode == 1 and b"record 7" in wrong.stderr and b"--anchor" in wrong.stderr
    beyond = cli(store_dir, "verify", "--anchor", f"14:{'a' * 13}")
    assert beyond.returncode == 1 and b"records 13-14 are missing" in beyond.stderr
    for malformed in ("12", "12:abc", "x:" + digests[12], f"12:{digests[12]}00"):
        result = cli(store_dir, "verify", "--anchor", malformed)
        assert result.returncode == 2 and b"NUMBER:HASH" in result.stderr, malformed


def test_an_append_refuses_a_store_that_lost_its_tail(store_dir: Path) -> None:
    from agent.errors import ChainGapError

    cut_after(store_dir, 9)
    with RecordStore(db_path(store_dir)) as store:
        with pytest.raises(ChainGapError, match="ends at record #9.*#12"):
            store.append(make_rows(2, first=10))
        assert store.verify_chain().records == 9, "nothing appended"
        assert store.append(make_rows(2, first=10), accept_new_chain="test accepts the loss") == (10, 11)
        assert store.verify_chain().ok
