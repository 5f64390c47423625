"""An S3 server that dies: its copies are `error` with the reason, every other copy is still
verified, recorded in the QEF-19-05 store and exported, and `verify` exits 1.

Each test runs its own private SeaweedFS (doomed_seaweed) and kills it with SIGKILL, as a crash
or a network cut would: once in the middle of a run (between the two copies the dead target
holds), once before the run (the CLI as a subprocess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import agent.run
from agent.cli import cli
from agent.records import RecordStore
from tests.support.restic import FRESH_TAG
from tests.support.sandbox import Sandbox, mirror
from tests.support.seaweed import SeaweedServer, new_bucket_name, upload_repository, upload_tree

pytestmark = pytest.mark.integration

DATASET = "platform-db"
LOCAL_TARGETS = ("droplet", "nas", "ssd")


def four_targets(sandbox: Sandbox, server: SeaweedServer, template, make_repo) -> Path:
    """Primary on a local droplet stand-in, a files mirror on the NAS stand-in, a restic repository
    on the SSD stand-in, and on the S3 offsite target an object copy and a restic copy.
    Targets are verified one at a time (concurrency 1), the offsite target last."""
    client = server.client()
    bucket = new_bucket_name()
    client.create_bucket(Bucket=bucket)
    upload_tree(client, bucket, template.data, "mirror/db")
    upload_repository(client, bucket, template.repo, "restic/lithera")
    nas_copy = mirror(template.data, sandbox.root / "nas" / "db")
    sandbox.agent["concurrency"] = 1
    sandbox.agent["read_data_cycle"] = "1d"
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("nas", "nas", "office")
    sandbox.target("ssd", "ssd", "office")
    sandbox.targets["offsite"] = {"kind": "s3", "medium": "object-storage", "location": "cloud-hk",
                                  **server.target_options(bucket)}
    tags = {"snapshot_filter": {"tags": [FRESH_TAG]}}
    sandbox.dataset(DATASET, Sandbox.files_copy("droplet", template.data, stamp=None), [
        Sandbox.files_copy("nas", nas_copy),
        sandbox.restic_copy("ssd", make_repo("ssd-repo"), **tags),
        {"target": "offsite", "form": "objects", "path": "mirror/db", "stamp": ".last-sync"},
        sandbox.restic_copy("offsite", "restic/lithera", **tags),
    ], policy={"copies": 3, "media": 2, "offsite": 1})
    sandbox.config()
    return sandbox.root / "targets.yaml"


def copy_rows(records_db: Path) -> dict[tuple[str, str], dict]:
    """The run's per-copy records keyed by (target, form)."""
    with RecordStore(records_db) as store:
        return {(row["target"], row["form_of_copy"]): row for row in store.rows(kind="copy")}


def test_server_killed_mid_run(sandbox, restic_template, make_repo, doomed_seaweed, monkeypatch):
    config_path = four_targets(sandbox, doomed_seaweed, restic_template, make_repo)
    real_verify_copy = agent.run.verify_copy
    killed_after: list[str] = []

    def verify_then_kill(session, dataset, spec, primary, options):
        """The real verify_copy; after the first offsite copy is done, the server dies (SIGKILL)."""
        result = real_verify_copy(session, dataset, spec, primary, options)
        if spec.target.name == "offsite" and not killed_after:
            doomed_seaweed.process.send_signal(signal.SIGKILL)
            doomed_seaweed.process.wait(timeout=10)
            killed_after.append(spec.form)
        return result

    monkeypatch.setattr(agent.run, "verify_copy", verify_then_kill)
    started = time.monotonic()
    outcome = CliRunner().invoke(cli, ["--config", str(config_path), "verify", "--json"])
    elapsed = time.monotonic() - started
    assert outcome.exit_code == 1, outcome.output
    assert killed_after == ["objects"]
    document = json.loads(outcome.stdout)
    copies = {(c["target"], c["form"]): c for c in document["datasets"][0]["copies"]}
    assert copies[("offsite", "objects")]["status"] == "pass"  # verified while the server was alive
    dead = copies[("offsite", "restic")]
    assert dead["status"] == "error"
    assert "cannot reach" in dead["checks"][0]["detail"], dead["checks"][0]
    for target in LOCAL_TARGETS:
        local = next(c for key, c in copies.items() if key[0] == target)
        assert local["status"] == "pass", local
    rows = copy_rows(Path(sandbox.root / "state" / "records.sqlite"))
    assert {key: row["result"] for key, row in rows.items()} == {
        ("droplet", "files"): "pass", ("nas", "files"): "pass", ("ssd", "restic"): "pass",
        ("offsite", "objects"): "pass", ("offsite", "restic"): "error"}
    metrics = (sandbox.root / "metrics" / "backup_agent.prom").read_text()
    assert 'target="nas"' in metrics and 'target="offsite"' in metrics
    assert elapsed < 60


def test_server_dead_before_the_run_cli_exits_1(sandbox, restic_template, make_repo, doomed_seaweed):
    config_path = four_targets(sandbox, doomed_seaweed, restic_template, make_repo)
    doomed_seaweed.stop(signal.SIGKILL)
    started = time.monotonic()
    done = subprocess.run([str(Path(sys.executable).with_name("backup-agent")), "--config", str(config_path),
                           "verify", "--json"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RESTIC_CACHE_DIR": str(sandbox.root / "restic-cache")})
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    for copy in document["datasets"][0]["copies"]:
        expected = "error" if copy["target"] == "offsite" else "pass"
        assert copy["status"] == expected, copy
    # 3-2-1 still holds on the copies that verified; the dataset is not clean while copies error.
    assert document["datasets"][0]["policy"]["compliant"] is True
    assert document["datasets"][0]["status"] == "error"
    rows = copy_rows(Path(sandbox.root / "state" / "records.sqlite"))
    assert {key for key, row in rows.items() if row["result"] == "pass"} == {
        ("droplet", "files"), ("nas", "files"), ("ssd", "restic")}
    assert {key for key, row in rows.items() if row["result"] == "error"} == {("offsite", "objects"), ("offsite", "restic")}
    assert doomed_seaweed.secret_key not in done.stdout + done.stderr
    assert elapsed < 60
