"""The tail of the QEF-19-05 chain, through the real CLI on a small real site (local file trees).

A store emptied, replaced or cut short must not quietly start or continue a chain: the next
`verify` refuses (exit 3, the path named, nothing written — no records, metrics, state, hash
cache), and goes on only with `--accept-new-chain`, which is logged. The head's hash reaches the
metrics, so Prometheus remembers it and `records verify --anchor` can check it later."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from agent.metrics import hash_prefix
from tests.support.site import agent, samples, write_site

AGENT = (("agent", "agent-host-1"),)  # the run-level series carry the agent's name (write_site's host)


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    """A site after one recorded `verify`; returns its targets.yaml."""
    config = write_site(tmp_path / "site")
    done = agent(config, "verify")
    assert done.returncode == 0, done.stderr
    return config


def state_of(config: Path) -> Path:
    return config.parent / "state"


def snapshot(config: Path) -> dict[str, bytes | None]:
    """Every file the agent writes (state directory and metrics file), with its bytes. Not the lock
    file, nor SQLite's -shm index, which any reader updates (it holds no records)."""
    files = {str(p.relative_to(config.parent)): p.read_bytes() for p in state_of(config).rglob("*")
             if p.is_file() and p.name != "run.lock" and not p.name.endswith("-shm")}
    metrics = config.parent / "metrics" / "backup_agent.prom"
    files["metrics"] = metrics.read_bytes() if metrics.exists() else None
    return files


def last_record(config: Path) -> tuple[int, str]:
    with sqlite3.connect(f"file:{state_of(config) / 'records.sqlite'}?mode=ro", uri=True) as db:
        return db.execute("SELECT record_no, hash FROM records ORDER BY record_no DESC LIMIT 1").fetchone()


def cut_tail(config: Path, keep: int) -> None:
    """Delete every record after #keep, the way an attacker with file access does: triggers dropped."""
    db = sqlite3.connect(state_of(config) / "records.sqlite", isolation_level=None)
    db.execute("DROP TRIGGER records_no_delete")
    db.execute("DELETE FROM records WHERE record_no > ?", (keep,))
    db.close()


def empty_store(config: Path) -> None:
    """Replace the store by an empty SQLite file (the head file and log stay)."""
    store = state_of(config) / "records.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    sqlite3.connect(store).close()


@pytest.mark.parametrize("damage", ["emptied", "deleted", "tail-cut"])
def test_a_store_that_lost_records_is_refused_and_nothing_is_written(site: Path, damage: str) -> None:
    if damage == "emptied":
        empty_store(site)
    elif damage == "deleted":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{state_of(site) / 'records.sqlite'}{suffix}").unlink(missing_ok=True)
    else:
        cut_tail(site, keep=last_record(site)[0] - 3)
    before = snapshot(site)
    done = agent(site, "verify")
    assert done.returncode == 3, done.stderr
    assert str(state_of(site) / "records.sqlite") in done.stderr
    assert "--accept-new-chain" in done.stderr and "Traceback" not in done.stderr
    assert snapshot(site) == before, "nothing written: no records, metrics, state or hash cache"
    assert agent(site, "records", "verify").returncode == 1


@pytest.mark.parametrize("damage", ["emptied", "tail-cut"])
def test_accept_new_chain_proceeds_and_is_logged(site: Path, damage: str) -> None:
    old_number, _ = last_record(site)
    if damage == "emptied":
        empty_store(site)
    else:
        cut_tail(site, keep=old_number - 3)
    done = agent(site, "verify", "--accept-new-chain")
    assert done.returncode == 0, done.stderr
    number, digest = last_record(site)
    assert agent(site, "records", "verify").returncode == 0
    log = [json.loads(line) for line in (state_of(site) / "records-head.log").read_text().splitlines()]
    event = next(entry for entry in log if entry.get("event") == "new-chain")
    assert f"#{old_number}" in event["problem"] and "deploy-test" in event["reason"]
    assert log[-1] == {"at": log[-1]["at"], "record_no": number, "hash": digest}
    exported = json.loads(agent(site, "records", "export", "--format", "jsonl").stdout.splitlines()[-1])
    assert exported["kind"] == "run" and "new records chain accepted" in exported["detail"]
    # Once accepted, the next night runs normally.
    assert agent(site, "verify").returncode == 0


def test_the_metrics_carry_the_head_hash(site: Path) -> None:
    number, digest = last_record(site)
    exposition = (site.parent / "metrics" / "backup_agent.prom").read_text()
    values = samples(exposition)
    assert values[("backup_agent_records_last_number", AGENT)] == number
    prefix = values[("backup_agent_records_last_hash_prefix", AGENT)]
    assert prefix == hash_prefix(digest) and f"{int(prefix):013x}" == digest[:13]
    # What Prometheus remembers is what `records verify --anchor` takes.
    assert agent(site, "records", "verify", "--anchor", f"{number}:{int(prefix):013x}").returncode == 0
    stdout = agent(site, "records", "verify").stdout
    assert f"head #{number} sha256 {digest}" in stdout


def test_a_cut_tail_with_rewritten_head_and_log_is_caught_by_the_remembered_metric(site: Path) -> None:
    """The local attacker's best: records cut, head file and head log rewritten to match. The
    number and hash Prometheus scraped before still show it."""
    exposition = samples((site.parent / "metrics" / "backup_agent.prom").read_text())
    number = int(exposition[("backup_agent_records_last_number", AGENT)])
    prefix = f"{int(exposition[('backup_agent_records_last_hash_prefix', AGENT)]):013x}"
    cut_tail(site, keep=number - 3)
    kept, digest = last_record(site)
    (state_of(site) / "records.sqlite.head").write_text(json.dumps({"record_no": kept, "hash": digest}) + "\n")
    (state_of(site) / "records-head.log").write_text(json.dumps({"record_no": kept, "hash": digest}) + "\n")
    done = agent(site, "records", "verify", "--anchor", f"{number}:{prefix}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"BROKEN at record {kept + 1}" in done.stderr and "--anchor" in done.stderr
