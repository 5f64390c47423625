"""Anchors over the shared PostgreSQL store: a chain rewritten from record N on by someone with root
on the agent host and owner rights on the database (triggers dropped, every record from N on
rehashed in the server and in the agent's outbox, the head file, head log and delivery mark
rewritten to agree) passes `records verify`; `records verify --anchors` names the agent and the
record. Real PostgreSQL (tests/support/postgres.py), real SeaweedFS with object lock, the real CLI
on a small real site."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml

from tests.integration.s3.test_s3_anchors import (
    anchored_site,
    assert_no_secret,
    locked_bucket,
    rewrite_as_root,
    run,
    state,
)
from tests.support.postgres import PostgresServer
from tests.support.seaweed import SeaweedServer

pytestmark = pytest.mark.integration

AGENT = "office"


def shared_site(directory: Path, seaweed: SeaweedServer, url: str, server: PostgresServer) -> Path:
    config = anchored_site(directory, seaweed, locked_bucket(seaweed))
    document = yaml.safe_load(config.read_text())
    document["agent"].update(name=AGENT, records_db=url, records_password_file=str(server.password_file))
    config.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return config


def outbox_rows(config: Path) -> list[dict]:
    with sqlite3.connect(f"file:{state(config) / 'records.sqlite'}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM records ORDER BY seq")]


def rewrite_in_the_server(server: PostgresServer, url: str, rows: list[dict], from_seq: int) -> None:
    """The database owner's way around the triggers: the rewritten records' content and hashes."""
    with server.admin(url.rsplit("/", 1)[1]) as db:
        db.execute("DROP TRIGGER records_no_update ON records")
        for row in rows[from_seq - 1:]:
            db.execute("UPDATE records SET result = %s, detail = %s, prev_hash = %s, hash = %s "
                       "WHERE agent = %s AND seq = %s",
                       (row["result"], row["detail"], row["prev_hash"], row["hash"], AGENT, row["seq"]))


def test_a_chain_rewritten_in_the_shared_store_and_the_outbox_is_found_only_by_the_anchors(
        tmp_path: Path, seaweed: SeaweedServer, postgres: PostgresServer, shared_db: str) -> None:
    config = shared_site(tmp_path / "site", seaweed, shared_db, postgres)
    for _ in range(3):
        done = run(config, "verify")
        assert done.returncode == 0, done.stderr
        assert "warning" not in done.stderr, done.stderr
    rows = outbox_rows(config)
    per_run = len(rows) // 3
    from_seq = per_run + 2  # inside the second run
    rewrite_as_root(config, from_seq)
    rewritten = outbox_rows(config)
    assert rewritten[-1]["hash"] != rows[-1]["hash"]
    rewrite_in_the_server(postgres, shared_db, rewritten, from_seq)
    with sqlite3.connect(state(config) / "records.sqlite", isolation_level=None) as db:
        db.execute("UPDATE outbox SET hash = ?", (rewritten[-1]["hash"],))

    plain = run(config, "records", "verify")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert f"agent {AGENT}: chain intact" in plain.stdout
    done = run(config, "records", "verify", "--anchors")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"anchors BROKEN: agent {AGENT}, record #{2 * per_run}:" in done.stderr
    assert f"#{per_run}, so the change lies in #{per_run + 1}-#{2 * per_run}" in done.stderr
    assert_no_secret(seaweed, done.stdout, done.stderr)
    assert "password" not in (done.stdout + done.stderr).lower()
