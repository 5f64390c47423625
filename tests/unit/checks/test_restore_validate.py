"""restore-validate on a fake target: the restore test brings back a sample (the database the
validator reads always among it) and the sqlite validator runs on what came back. A database that
comes back unusable fails; no validators or no restore test is a skip; a restore test that brought
nothing back leaves the validation an error. PostgreSQL, real restic and drills:
tests/integration/test_restore_validate.py."""

from __future__ import annotations

import sqlite3

from agent.checking import RunOptions
from agent.models import Status
from tests.support.fake_site import FakeSite

HOUR = 3600.0
VALIDATE = [{"type": "sqlite", "path": "app/*.db", "queries": ["SELECT count(*) FROM users"]}]


def _database(tmp_path, rows: int) -> bytes:
    path = tmp_path / f"app-{rows}.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
        db.executemany("INSERT INTO users VALUES (?)", [(n,) for n in range(rows)])
    data = path.read_bytes()
    path.unlink()
    return data


def site_for(tmp_path, database: bytes, validate=VALIDATE, mode: str | None = "sample") -> FakeSite:
    files = {"app/app.db": database, **{f"docs/{n}.txt": b"note\n" * 50 for n in range(8)}}
    site = FakeSite(tmp_path, rpo="1d", restore_test={"sample_files": 1, **({"validate": validate} if validate else {})})
    site.options = RunOptions(restore_test=mode)
    site.target("droplet", medium="cloud-vm", location="sgp").tree("/srv/app", files, site.ago(48 * HOUR))
    site.primary("droplet", "/srv/app")
    hdd = site.target("hdd", medium="hdd", location="home")
    hdd.tree("/mnt/hdd/app", files, site.ago(48 * HOUR))
    hdd.write("/mnt/hdd/app/docs/7.txt", b"the newest file: the one a sample of one takes\n", site.ago(2 * HOUR))
    site.targets["droplet"].write("/srv/app/docs/7.txt", b"the newest file: the one a sample of one takes\n",
                                  site.ago(2 * HOUR))
    hdd.write("/mnt/hdd/app/.last-sync", b"synced\n", site.ago(HOUR))
    site.copy("hdd", "/mnt/hdd/app", stamp=".last-sync")
    return site


def _checks(site: FakeSite) -> dict:
    copy = site.verify_copy(0)
    return {c.name: c for c in copy.checks}


def test_the_database_is_restored_with_the_sample_and_validated(tmp_path) -> None:
    found = _checks(site_for(tmp_path, _database(tmp_path, 3)))
    assert found["restore-test"].status == Status.PASS, found["restore-test"].detail
    assert found["restore-test"].measured["files"] == 2  # the sample of one, and the database
    validated = found["restore-validate"]
    assert validated.status == Status.PASS, validated.detail
    assert validated.measured["validators"][0]["status"] == "pass"


def test_an_unusable_database_fails_naming_the_query(tmp_path) -> None:
    validated = _checks(site_for(tmp_path, _database(tmp_path, 0)))["restore-validate"]
    assert validated.status == Status.FAIL
    assert "query 1 `SELECT count(*) FROM users` returned '0'" in validated.detail


def test_skipped_without_validators_or_without_a_restore_test(tmp_path) -> None:
    assert _checks(site_for(tmp_path / "a", b"x", validate=None))["restore-validate"].status == Status.SKIP
    found = _checks(site_for(tmp_path / "b", _database(tmp_path, 3), mode=None))
    assert found["restore-test"].status == found["restore-validate"].status == Status.SKIP


def test_a_restore_that_brought_nothing_back_leaves_the_validation_an_error(tmp_path) -> None:
    site = site_for(tmp_path, _database(tmp_path, 3))
    site.targets["hdd"].break_("permission denied", ["fetch"])
    found = _checks(site)
    assert found["restore-test"].status == Status.ERROR
    assert found["restore-validate"].status == Status.ERROR
    assert "did not bring the data back" in found["restore-validate"].detail
