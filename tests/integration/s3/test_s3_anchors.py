"""Chain heads anchored under S3 object lock (records.anchor), on the real SeaweedFS, through the
real CLI on a small real site (tests/support/site.py).

Each `verify` that appends records writes PREFIX/AGENT/SEQ-HASH.json under COMPLIANCE retention;
the server refuses to delete it, shorten its retention or replace it. Someone with root on the
agent host (and so on its SQLite store) who rewrites the chain from record N on, rehashes it and
rewrites the head file and head log to match passes `records verify`; `records verify --anchors`
names the agent and the record. A bucket without object lock: the run warns and exits as it
would, the head waits in anchors-pending.json and is written once the target is fixed.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import botocore.exceptions
import pytest
import yaml

from agent.records import COLUMNS, record_hash
from tests.support.seaweed import SeaweedServer, new_bucket_name
from tests.support.servers import free_ports
from tests.support.site import agent, write_site

pytestmark = pytest.mark.integration

AGENT = "agent-host-1"
PREFIX = f"anchors/{AGENT}/"


def locked_bucket(seaweed: SeaweedServer) -> str:
    name = new_bucket_name()
    seaweed.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def plain_bucket(seaweed: SeaweedServer) -> str:
    name = new_bucket_name()
    seaweed.client().create_bucket(Bucket=name)
    return name


def anchored_site(directory: Path, seaweed: SeaweedServer, bucket: str, *, stale_hdd: bool = False) -> Path:
    """write_site's site with an s3 target `audit` on bucket and records.anchor naming it."""
    config = write_site(directory, stale_hdd=stale_hdd)
    retarget(config, seaweed, bucket)
    return config


def retarget(config: Path, seaweed: SeaweedServer, bucket: str, **options) -> None:
    """Point the site's `audit` target (records.anchor) at bucket, with these target options."""
    document = yaml.safe_load(config.read_text())
    document["targets"]["audit"] = {"kind": "s3", "medium": "object-storage", "location": "cloud-hk",
                                    **seaweed.target_options(bucket, **options)}
    document["records"] = {"anchor": {"target": "audit", "prefix": "anchors/"}}
    config.write_text(yaml.safe_dump(document, sort_keys=False))


def run(config: Path, *args: str):
    return agent(config, *args)


def state(config: Path) -> Path:
    return config.parent / "state"


def chain(config: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(f"file:{state(config) / 'records.sqlite'}?mode=ro", uri=True) as db:
        return db.execute("SELECT record_no, hash FROM records ORDER BY record_no").fetchall()


def versions(seaweed: SeaweedServer, bucket: str) -> list[dict]:
    return seaweed.client().list_object_versions(Bucket=bucket, Prefix="anchors/").get("Versions", [])


def assert_no_secret(seaweed: SeaweedServer, *texts: str) -> None:
    for text in texts:
        assert seaweed.secret_key not in text and seaweed.access_key not in text


@pytest.fixture
def site(tmp_path: Path, seaweed: SeaweedServer) -> tuple[Path, str]:
    """An anchored site after three recorded runs: (targets.yaml, bucket)."""
    bucket = locked_bucket(seaweed)
    config = anchored_site(tmp_path / "site", seaweed, bucket)
    for _ in range(3):
        done = run(config, "verify")
        assert done.returncode == 0, done.stderr
        assert "warning" not in done.stderr, done.stderr
        assert_no_secret(seaweed, done.stdout, done.stderr)
    return config, bucket


def test_each_run_writes_its_head_under_compliance_retention(site, seaweed: SeaweedServer) -> None:
    config, bucket = site
    client = seaweed.client()
    heads = {}
    records = dict(chain(config))
    for version in versions(seaweed, bucket):
        body = json.loads(client.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
                          ["Body"].read())
        assert version["Key"] == f"{PREFIX}{body['seq']:012d}-{body['hash']}.json"
        assert body["agent"] == AGENT and records[body["seq"]] == body["hash"]
        retention = client.get_object_retention(Bucket=bucket, Key=version["Key"],
                                                VersionId=version["VersionId"])["Retention"]
        assert retention["Mode"] == "COMPLIANCE"
        written = datetime.fromisoformat(body["time"].replace("Z", "+00:00"))
        # 5 years (calendar) + 30 days from the write: never less than 5 × 365 + 30 days.
        assert retention["RetainUntilDate"] >= written + timedelta(days=5 * 365 + 30)
        assert retention["RetainUntilDate"] <= datetime.now(UTC) + timedelta(days=5 * 366 + 31)
        heads[body["seq"]] = body["hash"]
    assert len(heads) == 3 and max(heads) == max(records), "one anchor per run, the newest = the store's head"
    assert not (state(config) / "anchors-pending.json").exists()
    done = run(config, "records", "verify", "--anchors")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("COMPLIANCE until") == 3 and f"{AGENT} #{max(heads)}" in done.stdout
    assert f"anchors agree: {AGENT} holds every anchored record up to #{max(heads)}" in done.stdout
    assert_no_secret(seaweed, done.stdout, done.stderr)


def test_the_server_refuses_to_delete_shorten_or_replace_an_anchor(site, seaweed: SeaweedServer) -> None:
    config, bucket = site
    client = seaweed.client()
    first = min(versions(seaweed, bucket), key=lambda v: v["Key"])
    key, version_id = first["Key"], first["VersionId"]
    original = client.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read()
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        client.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        client.delete_object(Bucket=bucket, Key=key, VersionId=version_id, BypassGovernanceRetention=True)
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        client.put_object_retention(Bucket=bucket, Key=key, VersionId=version_id, Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": datetime.now(UTC) + timedelta(days=1)})
    # "Overwriting" adds a version and a plain delete adds a delete marker; the locked version stays.
    forged = json.loads(original)
    forged["hash"] = "f" * 64
    client.put_object(Bucket=bucket, Key=key, Body=json.dumps(forged).encode())
    client.delete_object(Bucket=bucket, Key=key)
    assert client.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read() == original
    assert client.get_object_retention(Bucket=bucket, Key=key, VersionId=version_id)["Retention"]["Mode"] == "COMPLIANCE"
    with pytest.raises(botocore.exceptions.ClientError, match="BucketNotEmpty"):
        client.delete_bucket(Bucket=bucket)
    done = run(config, "records", "verify", "--anchors")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{key} (version {version_id})" in done.stdout and "NOT LOCKED" in done.stdout
    assert "is not an anchor: its content" in done.stderr and "disagrees with its key" in done.stderr


def rewrite_as_root(config: Path, from_record: int, keep: int | None = None) -> None:
    """What someone with root on the agent host can do to its SQLite store: drop the triggers, cut
    the records after `keep` and/or rewrite every record from `from_record` on and rehash the chain,
    then rewrite the head file and the head log to agree."""
    store = state(config) / "records.sqlite"
    db = sqlite3.connect(store, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("DROP TRIGGER records_no_update")
    db.execute("DROP TRIGGER records_no_delete")
    if keep is not None:
        db.execute("DELETE FROM records WHERE record_no > ?", (keep,))
    rows = [dict(r) for r in db.execute("SELECT * FROM records ORDER BY record_no")]
    prev = rows[from_record - 2]["hash"] if from_record > 1 else "0" * 64
    for row in rows[from_record - 1:]:
        row["result"], row["detail"] = "pass", f"{row['detail']} (rewritten)"
        row["prev_hash"] = prev
        row["hash"] = prev = record_hash(prev, row)
        db.execute(f"UPDATE records SET {', '.join(f'{c} = ?' for c in COLUMNS)} WHERE record_no = ?",
                   [row[c] for c in COLUMNS] + [row["record_no"]])
    db.close()
    last = rows[-1]
    Path(f"{store}.head").write_text(json.dumps({"record_no": last["record_no"], "hash": last["hash"]}) + "\n")
    (state(config) / "records-head.log").write_text(json.dumps({"record_no": last["record_no"],
                                                                "hash": last["hash"]}) + "\n")


def test_a_chain_rewritten_from_record_n_passes_verify_but_not_the_anchors(site, seaweed: SeaweedServer) -> None:
    config, _ = site
    numbers = [n for n, _ in chain(config)]
    per_run = len(numbers) // 3
    anchored = [per_run, 2 * per_run, 3 * per_run]  # each run's head
    from_record = per_run + 2  # inside the second run
    rewrite_as_root(config, from_record)
    plain = run(config, "records", "verify")
    assert plain.returncode == 0 and "chain intact" in plain.stdout, plain.stderr
    done = run(config, "records", "verify", "--anchors")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"anchors BROKEN: agent {AGENT}, record #{anchored[1]}:" in done.stderr
    assert f"#{anchored[0]}, so the change lies in #{anchored[0] + 1}-#{anchored[1]}" in done.stderr
    assert "1 later anchored record(s) differ too" in done.stderr
    assert_no_secret(seaweed, done.stdout, done.stderr)


def test_a_cut_tail_passes_verify_but_not_the_anchors(site, seaweed: SeaweedServer) -> None:
    config, _ = site
    newest = chain(config)[-1][0]
    keep = newest - 3
    rewrite_as_root(config, from_record=keep + 1, keep=keep)  # nothing to rehash: only the cut and the heads
    assert run(config, "records", "verify").returncode == 0
    done = run(config, "records", "verify", "--anchors")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"anchors BROKEN: agent {AGENT}, record #{newest}:" in done.stderr
    assert f"up to #{keep}" in done.stderr and f"records #{keep + 1}-#{newest} were cut off" in done.stderr


@pytest.mark.parametrize(("stale_hdd", "exit_code"), [(False, 0), (True, 1)])
def test_a_bucket_without_object_lock_warns_keeps_the_head_pending_and_is_retried(
        tmp_path: Path, seaweed: SeaweedServer, stale_hdd: bool, exit_code: int) -> None:
    bucket = plain_bucket(seaweed)
    config = anchored_site(tmp_path / "site", seaweed, bucket, stale_hdd=stale_hdd)
    done = run(config, "verify")
    assert done.returncode == exit_code, done.stderr  # the run exits as it would have
    assert "does not have object lock enabled" in done.stderr and "1 head(s) stay pending" in done.stderr
    first = chain(config)[-1]
    assert versions(seaweed, bucket) == []
    assert_no_secret(seaweed, done.stdout, done.stderr)
    # A second run: still failing, both heads wait.
    assert run(config, "verify").returncode == exit_code
    pending = json.loads((state(config) / "anchors-pending.json").read_text())["heads"]
    assert [(h["seq"], h["hash"]) for h in pending] == [first, chain(config)[-1]]
    listed = run(config, "records", "verify", "--anchors")
    assert listed.returncode == 0, listed.stderr
    assert f"no anchor yet; records #1-#{chain(config)[-1][0]}" in listed.stdout
    assert f"2 head(s) wait in {state(config) / 'anchors-pending.json'}" in listed.stdout
    # Fixed: object lock is only set when a bucket is created, so the target moves to a locked one.
    fixed = locked_bucket(seaweed)
    retarget(config, seaweed, fixed)
    done = run(config, "verify")
    assert done.returncode == exit_code and "anchor" not in done.stderr, done.stderr
    written = sorted(v["Key"] for v in versions(seaweed, fixed))
    assert written == [f"{PREFIX}{n:012d}-{digest}.json" for n, digest in (*[(h["seq"], h["hash"]) for h in pending],
                                                                           chain(config)[-1])]
    assert not (state(config) / "anchors-pending.json").exists()
    assert run(config, "records", "verify", "--anchors").returncode == 0


def test_an_unreachable_bucket_is_no_verdict(site, seaweed: SeaweedServer) -> None:
    config, bucket = site
    (port,) = free_ports(1)
    retarget(config, seaweed, bucket, endpoint=f"http://127.0.0.1:{port}", connect_timeout="1s")
    done = run(config, "records", "verify", "--anchors")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "anchors not checked" in done.stderr and "no verdict" in done.stderr and "BROKEN" not in done.stderr
    # A run meanwhile warns and keeps its head pending; it still exits 0.
    done = run(config, "verify")
    assert done.returncode == 0 and "stay pending" in done.stderr, done.stderr
    assert_no_secret(seaweed, done.stdout, done.stderr)


def test_anchors_flag_without_an_anchor_configured_is_a_usage_error(tmp_path: Path) -> None:
    config = write_site(tmp_path / "site")
    assert agent(config, "verify").returncode == 0
    done = agent(config, "records", "verify", "--anchors")
    assert done.returncode == 2 and "records.anchor" in done.stderr, done.stderr
