"""What the demo leaves behind and what the other commands show: inventory, the records store
(intact, and broken after one flipped byte), the metrics file (promtool-valid, no secrets), and
the restic password, which must never appear in any output, export, metric, log or state file."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import Completed, run_cli
from tests.support.demo import EXPECTED_COPIES, Demo


def test_inventory_json_lists_every_copy(demo: Demo) -> None:
    before = demo.record_count()
    result = demo.run("inventory", "--json")
    assert result.returncode == 0, result.stderr
    entries = result.json()
    assert len(entries) == sum(EXPECTED_COPIES.values())
    per_dataset = {name: [e for e in entries if e["dataset"] == name] for name in EXPECTED_COPIES}
    assert {name: len(found) for name, found in per_dataset.items()} == EXPECTED_COPIES
    for entry in entries:
        assert {"target", "form", "role", "medium", "detected_medium", "location", "reachable", "reason",
                "last_backup_at", "age_seconds", "size_bytes", "snapshots"} <= set(entry)
        assert entry["reachable"] is True, entry
        assert entry["size_bytes"] > 0
        if entry["form"] == "restic":
            assert entry["snapshots"] >= 1 and entry["last_backup_at"] and entry["age_seconds"] >= 0
        else:
            assert entry["snapshots"] is None
    stale = next(e for e in per_dataset["shipping-docs"] if e["target"] == "hdd")
    assert stale["age_seconds"] > stale["rpo_seconds"]
    assert demo.record_count() == before, "inventory writes no records"
    # Cheap by design: no checksums, no restic check (generous bound for a loaded 2-core machine).
    assert result.seconds < 60


def test_inventory_table(demo: Demo) -> None:
    result = demo.run("inventory", "--dataset", "shipping-docs")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["DATASET", "TARGET", "ROLE"] and len(lines) == 1 + 3
    assert "stale" in next(line for line in lines if " hdd " in line)


def test_records_verify_passes_on_the_demo_store(demo: Demo, verify_json: Completed) -> None:
    result = demo.run("records", "verify")
    assert result.returncode == 0, result.stderr
    assert re.match(r"chain intact: \d+ records", result.stdout)
    run_id = verify_json.json()["run_id"]
    exported = demo.run("records", "export", "--format", "jsonl")
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    kinds = {r["kind"] for r in rows if r["run_id"] == run_id}
    assert kinds == {"check", "copy", "dataset", "run"}, "every check, copy, dataset and the run are recorded"
    run_row = next(r for r in rows if r["run_id"] == run_id and r["kind"] == "run")
    assert run_row["result"] == "fail" and run_row["operator"] == "王婧 (demo)"


def test_records_verify_names_the_record_after_one_flipped_byte(demo: Demo,
                                                               sandbox_copy: Callable[[], Path]) -> None:
    config = sandbox_copy()
    db = config.parent / "state" / "records.sqlite"
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        # The run record's detail names its start time: unique in the file.
        number, detail = connection.execute(
            "SELECT record_no, detail FROM records WHERE kind = 'run' ORDER BY record_no LIMIT 1").fetchone()
    connection.close()
    data = bytearray(db.read_bytes())
    needle = detail.encode()
    assert data.count(needle) == 1
    data[data.index(needle) + len(needle) - 3] ^= 0x01  # one digit of the start time
    db.write_bytes(bytes(data))
    result = demo.run("records", "verify", config=config)
    assert result.returncode == 1
    assert re.search(rf"\brecord {number}\b", result.stderr), result.stderr


def test_records_csv_export_is_excel_ready(demo: Demo) -> None:
    out = demo.directory.parent / "export.csv"
    done = demo.run("records", "export", "--format", "csv", "--output", str(out))
    assert done.returncode == 0
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    header = data[3:].split(b"\r\n", 1)[0].decode("utf-8")
    assert header.startswith("记录编号 / Record no.,表单 / Form,运行编号 / Run ID")


def test_promtool_accepts_the_metrics_file(demo: Demo, verify_json: Completed) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    with demo.metrics_file.open("rb") as metrics:
        result = subprocess.run([promtool, "check", "metrics"], stdin=metrics, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_metrics_say_what_the_run_found(demo: Demo, verify_json: Completed) -> None:
    text = demo.metrics_file.read_text(encoding="utf-8")
    compliant = dict(re.findall(r'^backup_agent_dataset_policy_compliant\{dataset="([^"]+)",[^}]*\} (\S+)$', text,
                                re.M))
    assert compliant == {"platform-db": "1.0", "platform-files": "1.0", "finance-records": "1.0",
                         "shipping-docs": "0.0"}
    assert re.search(r'^backup_agent_last_run_timestamp_seconds\{agent="[^"]+"\} \d', text, re.M)
    stale_age = re.search(r'^backup_agent_copy_age_seconds\{dataset="shipping-docs",[^}]*target="hdd"[^}]*\} (\S+)$',
                          text, re.M)
    assert stale_age and float(stale_age.group(1)) > 4 * 3600
    for value in re.findall(r'="([^"]*)"', text):
        assert "/" not in value, f"a label value looks like a path: {value!r}"
    assert str(demo.directory) not in text


def test_the_restic_password_never_appears(demo: Demo, verify_json: Completed, verify_text: Completed,
                                           tmp_path: Path) -> None:
    password = demo.password
    assert len(password) >= 16
    seen = {
        "demo stdout": demo.build.stdout, "demo stderr": demo.build.stderr,
        "verify --json": verify_json.stdout + verify_json.stderr,
        "-vv verify (table and debug log)": verify_text.stdout + verify_text.stderr,
    }
    assert "DEBUG" in verify_text.stderr, "-vv must really log at debug level for this test to mean anything"
    for name, args in {"-vv inventory": ["-vv", "inventory", "--json"],
                       "records export csv": ["records", "export", "--format", "csv"],
                       "records export jsonl": ["records", "export", "--format", "jsonl"],
                       "records list": ["records", "list", "--limit", "0"]}.items():
        done = demo.run(*args)
        assert done.returncode == 0, done.stderr
        seen[name] = done.stdout + done.stderr
    seen["metrics file"] = demo.metrics_file.read_text(encoding="utf-8")
    for name, text in seen.items():
        assert password not in text, f"the restic password appears in {name}"
    # Nor in anything the agent keeps: records, hash cache, rotation state, restic cache.
    secrets_dir = demo.directory / "secrets"
    for path in demo.directory.rglob("*"):
        if path.is_file() and secrets_dir not in path.parents and path.stat().st_size < 50_000_000:
            assert password.encode() not in path.read_bytes(), f"the restic password is stored in {path}"


def test_password_from_env_and_command_is_masked_at_debug_level(demo: Demo, sandbox_copy: Callable[[], Path]) -> None:
    """password_env hands the value to the agent itself, password_command to restic: neither may leak."""
    config = sandbox_copy()
    secret_file = config.parent / "secrets" / "restic.pass"
    text = config.read_text(encoding="utf-8")
    text = text.replace("path: nas/restic, password_file: secrets/restic.pass",
                        "path: nas/restic, password_env: DEMO_RESTIC_PW")
    text = text.replace("path: ssd/restic, password_file: secrets/restic.pass",
                        f'path: ssd/restic, password_command: "cat {secret_file}"')
    config.write_text(text, encoding="utf-8")
    env = {**demo.env, "DEMO_RESTIC_PW": demo.password}
    result = run_cli(["--config", str(config), "-vv", "verify", "--dataset", "finance-records", "--json"], env)
    assert result.returncode == 0, result.stderr
    copies = {c["target"]: c["status"] for c in result.json()["datasets"][0]["copies"]}
    assert copies == {"droplet": "pass", "nas": "pass", "ssd": "pass", "offsite": "pass"}
    assert "DEBUG" in result.stderr and "***" in result.stderr
    assert demo.password not in result.stdout + result.stderr
    # Without the variable the copy is an error, never a pass.
    env.pop("DEMO_RESTIC_PW")
    result = run_cli(["--config", str(config), "verify", "--dataset", "finance-records", "--target", "nas", "--json"],
                     env)
    assert result.returncode == 1
    nas = result.json()["datasets"][0]["copies"][0]
    assert nas["status"] == "error" and "DEMO_RESTIC_PW" in json.dumps(nas)
