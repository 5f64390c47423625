"""The real CLI on a mirror whose files have hostile names (`-`, `-rf`, `--help`, a newline with a
backslash, bytes that are not UTF-8), two of them corrupted on the copy: `verify --json` is valid
UTF-8 JSON naming them, the terminal table names them on one line each, and the QEF-19-05
records store them — `records export` (CSV and JSONL) shows them and the chain verifies.

Names appear as the agent shows them everywhere (agent.names.show): `\\xff\\xfe`, `a\\nb\\\\c`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.support.cli import CLI, agent_env
from tests.support.names import NOT_UTF8, corrupt_in_place, write_hostile_tree

NEWLINE_NAME = "a\nb\\c"
SHOWN = ("\\xff\\xfe", "a\\nb\\\\c")


def write_config(root: Path) -> Path:
    primary = write_hostile_tree(root / "droplet" / "data")
    copy = root / "hdd" / "mirror"
    shutil.copytree(primary, copy)
    (copy / ".last-sync").write_text("synced\n")
    corrupt_in_place(copy / NOT_UTF8)
    corrupt_in_place(copy / NEWLINE_NAME)
    document = {
        "agent": {"state_dir": str(root / "state"), "metrics_file": str(root / "metrics" / "m.prom"),
                  "scratch_dir": str(root / "scratch"), "operator": "测试 / test"},
        "processes": {"platform": {"name": "platform", "rpo": "1d", "rto": "4h"}},
        "targets": {"droplet": {"kind": "local", "medium": "cloud-vm", "location": "do-sgp1", "require_mount": False},
                    "hdd": {"kind": "local", "medium": "hdd", "location": "kc-home", "require_mount": False}},
        "datasets": {"names": {"process": "platform", "primary": {"target": "droplet", "form": "files", "path": str(primary)},
                               "copies": [{"target": "hdd", "form": "files", "path": str(copy), "stamp": ".last-sync"}],
                               "policy": {"copies": 2, "media": 2, "offsite": 1}}},
    }
    path = root / "targets.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def cli(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run the CLI; stdout kept as bytes so an invalid byte cannot hide behind a lenient decoder."""
    return subprocess.run([CLI, "--config", str(config), *args], capture_output=True, env=env, timeout=300)


def test_hostile_names_reach_json_terminal_and_records_intact(tmp_path):
    config = write_config(tmp_path)
    env = agent_env(tmp_path)

    done = cli(config, env, "verify", "--json")
    assert done.returncode == 1, done.stderr.decode(errors="replace")
    text = done.stdout.decode("utf-8")  # strict: valid UTF-8
    assert "\\ud" not in text  # no lone-surrogate escapes either: valid for every JSON parser
    document = json.loads(text)
    (copy,) = [c for c in document["datasets"][0]["copies"] if c["role"] == "backup"]
    checksum = next(c for c in copy["checks"] if c["name"] == "files-checksum")
    assert checksum["status"] == "fail"
    assert f"2 mismatched ({SHOWN[1]}, {SHOWN[0]})" in checksum["detail"]

    table = cli(config, env, "verify")
    assert table.returncode == 1
    lines = table.stdout.decode("utf-8").splitlines()
    assert any("files-checksum: fail" in line and all(s in line for s in SHOWN) for line in lines), lines

    export = cli(config, env, "records", "export", "--format", "csv")
    assert export.returncode == 0, export.stderr.decode(errors="replace")
    assert all(shown in export.stdout.decode("utf-8-sig") for shown in SHOWN)
    export = cli(config, env, "records", "export", "--format", "jsonl")
    assert export.returncode == 0, export.stderr.decode(errors="replace")
    rows = [json.loads(line) for line in export.stdout.decode("utf-8").splitlines()]
    assert any(row["check_name"] == "files-checksum" and all(s in row["detail"] for s in SHOWN) for row in rows)
    assert cli(config, env, "records", "verify").returncode == 0
