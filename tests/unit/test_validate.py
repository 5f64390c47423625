"""The validators that run in this process (sqlite, archive) on real files, the query rule, the
files a restore sample must hold for the validators, and the verdicts' combination. The
postgres-dump and command validators run programs: tests/integration/test_restore_validate.py."""

from __future__ import annotations

import gzip
import io
import sqlite3
import tarfile
import zipfile
from pathlib import Path

import pytest

from agent.hashing import FileEntry
from agent.models import Status
from agent.validate import (
    Place,
    Query,
    Validation,
    ValidatorSpec,
    Verdict,
    judge,
    needed_files,
    run_validators,
)


@pytest.mark.parametrize(("query", "value", "rows", "why"), [
    (Query("q"), "t", 1, None), (Query("q"), "42", 1, None), (Query("q"), "Acme", 1, None),
    (Query("q"), "f", 1, "returned 'f'"), (Query("q"), "0", 1, "returned '0'"), (Query("q"), "", 1, "returned ''"),
    (Query("q"), None, 1, "returned NULL"), (Query("q"), "false", 1, "returned 'false'"),
    (Query("q"), None, 0, "returned no rows"),
    (Query("q", "3"), "3", 1, None), (Query("q", "3"), "4", 1, "returned '4', expected '3'"),
    (Query("q", "0"), "0", 1, None),  # an expected 0 is a pass
])
def test_query_rule(query: Query, value: str | None, rows: int, why: str | None) -> None:
    assert judge(query, value, rows) == why


def _run(tmp_path: Path, *specs: ValidatorSpec) -> Validation:
    root = tmp_path / "restored"
    entries = {str(p.relative_to(root)): FileEntry(str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime)
               for p in root.rglob("*") if p.is_file()}
    return run_validators(specs, root, entries, Place(tmp_path / "scratch", "unit"))


@pytest.fixture
def restored(tmp_path: Path) -> Path:
    root = tmp_path / "restored"
    (root / "app").mkdir(parents=True)
    with sqlite3.connect(root / "app" / "app.db") as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        db.executemany("INSERT INTO users (name) VALUES (?)", [("王婧",), ("Robert",)])
        db.execute("CREATE TABLE audit (id INTEGER)")
    (root / "exports").mkdir()
    with zipfile.ZipFile(root / "exports" / "good.zip", "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("a.txt", "alpha " * 5000)
        bundle.writestr("b/b.csv", "x,y\n" * 5000)
    with tarfile.open(root / "exports" / "good.tar.gz", "w:gz") as bundle:
        data = b"beta " * 10000
        info = tarfile.TarInfo("beta.txt")
        info.size = len(data)
        bundle.addfile(info, io.BytesIO(data))
    (root / "exports" / "log.gz").write_bytes(gzip.compress(b"line\n" * 10000))
    return root


def test_sqlite_integrity_and_queries(tmp_path: Path, restored: Path) -> None:
    good = ValidatorSpec("sqlite", "app/app.db", (Query("SELECT count(*) > 1 FROM users"),
                                                  Query("SELECT name FROM users WHERE id = 2", "Robert")))
    result = _run(tmp_path, good)
    assert result.status == Status.PASS, result.detail()
    assert "integrity_check ok; 2 queries passed" in result.detail()
    bad = ValidatorSpec("sqlite", "app/app.db", (Query("SELECT count(*) FROM audit"), Query("SELECT * FROM nope")))
    result = _run(tmp_path, bad)
    assert result.status == Status.FAIL
    assert "query 1 `SELECT count(*) FROM audit` returned '0'" in result.detail()
    assert "query 2 `SELECT * FROM nope` failed: no such table: nope" in result.detail()


def test_a_damaged_database_fails(tmp_path: Path, restored: Path) -> None:
    database = restored / "app" / "app.db"
    data = bytearray(database.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page overwritten
    database.write_bytes(bytes(data))
    result = _run(tmp_path, ValidatorSpec("sqlite", "app/app.db", (Query("SELECT count(*) FROM users"),)))
    assert result.status == Status.FAIL, result.detail()
    (restored / "app" / "app.db").write_bytes(b"not a database at all" * 100)
    assert _run(tmp_path, ValidatorSpec("sqlite", "app/app.db")).status == Status.FAIL


def test_a_query_past_its_time_is_an_error(tmp_path: Path, restored: Path) -> None:
    forever = Query("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n")
    result = _run(tmp_path, ValidatorSpec("sqlite", "app/app.db", (forever,), timeout_seconds=0.5))
    assert result.status == Status.ERROR and "timed out after 0.5s" in result.detail()


def test_archives_are_read_to_the_end(tmp_path: Path, restored: Path) -> None:
    result = _run(tmp_path, ValidatorSpec("archive", "exports/*"))
    assert result.status == Status.PASS, result.detail()
    assert [v.measured["kind"] for v in result.verdicts] == ["tar+gzip", "zip", "gzip"]  # by content, not by name
    assert "2 member(s)" in result.verdicts[1].detail


@pytest.mark.parametrize(("name", "damage"), [
    ("good.zip", lambda d: d[:60] + bytes(b ^ 0x55 for b in d[60:90]) + d[90:]),  # a member's bytes: CRC
    ("good.tar.gz", lambda d: d[: len(d) // 2]),  # cut short
    ("log.gz", lambda d: d[:-6]),  # the trailer (CRC, length) gone
])
def test_a_damaged_archive_fails(tmp_path: Path, restored: Path, name: str, damage) -> None:
    path = restored / "exports" / name
    path.write_bytes(damage(path.read_bytes()))
    result = _run(tmp_path, ValidatorSpec("archive", f"exports/{name}"))
    assert result.status == Status.FAIL, result.detail()
    assert "cannot be read to the end" in result.detail()


def test_not_an_archive_and_no_match_fail(tmp_path: Path, restored: Path) -> None:
    assert _run(tmp_path, ValidatorSpec("archive", "app/app.db")).status == Status.FAIL
    result = _run(tmp_path, ValidatorSpec("archive", "backups/*.zip"))
    assert result.status == Status.FAIL and "no file of the backup matches backups/*.zip" in result.detail()


def test_the_sample_holds_what_validators_read_and_the_newest_dump_only() -> None:
    entries = {p: FileEntry(p, 10, mtime) for p, mtime in
               (("db/2026-11-01.dump", 1.0), ("db/2026-11-02.dump", 3.0), ("db/2026-10-31.dump", 2.0),
                ("app/app.db", 1.0), ("docs/a.txt", 1.0))}
    specs = (ValidatorSpec("postgres-dump", "db/*.dump"), ValidatorSpec("sqlite", "app/*.db"),
             ValidatorSpec("command", command=("true",)))
    assert needed_files(specs, entries) == ["app/app.db", "db/2026-11-02.dump"]


def test_validation_status_is_the_worst_and_never_pass_when_empty() -> None:
    assert Validation([]).status == Status.SKIP
    verdicts = [Verdict("a", Status.PASS, "ok"), Verdict("b", Status.ERROR, "pg_restore missing")]
    assert Validation(verdicts).status == Status.ERROR
    assert Validation([*verdicts, Verdict("c", Status.FAIL, "query 1 returned 'f'")]).status == Status.FAIL
    assert Validation(verdicts).detail().startswith("1 of 2 validators passed; b: error: pg_restore missing")
