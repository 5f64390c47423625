"""The installed `backup-agent` script as a subprocess, for what tests/unit/test_config.py and
test_records.py check through its main() in-process: a malformed or missing config exits 2 naming
the file and key and writes nothing; `records verify` exits 0 on an intact chain and 1 naming the
record on a tampered one; an export carries its BOM. One case of each, to prove the script is wired
to the same main()."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import yaml

from agent.records import RecordStore
from tests.support.cli import agent_env, run_cli
from tests.support.configs import minimal
from tests.support.records import CONFIG, make_rows


def test_a_malformed_config_exits_2_naming_file_and_key_and_writes_nothing(tmp_path: Path) -> None:
    document = minimal()
    document["agent"]["colour"] = "blue"
    config = tmp_path / "targets.yaml"
    config.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    result = run_cli(["--config", str(config), "verify"], agent_env(tmp_path / "env"))
    assert result.returncode == 2, result.stderr
    assert str(config) in result.stderr and "agent.colour" in result.stderr and "unknown key" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["targets.yaml"]


def test_a_missing_config_exits_2(tmp_path: Path) -> None:
    result = run_cli(["--config", str(tmp_path / "nope.yaml"), "verify"], agent_env(tmp_path / "env"))
    assert result.returncode == 2 and "nope.yaml" in result.stderr and "not found" in result.stderr


def test_records_verify_and_export_through_the_script(tmp_path: Path) -> None:
    (tmp_path / "targets.yaml").write_text(CONFIG, encoding="utf-8")
    database = tmp_path / "state" / "records.sqlite"
    with RecordStore(database) as store:
        store.append(make_rows(6))
    env = agent_env(tmp_path / "env")
    args = ["--config", str(tmp_path / "targets.yaml"), "records"]
    intact = run_cli([*args, "verify"], env)
    assert intact.returncode == 0 and intact.stdout.startswith("chain intact: 6 records"), intact.stderr
    export = tmp_path / "export.csv"
    assert run_cli([*args, "export", "--format", "csv", "--output", str(export)], env).returncode == 0
    assert export.read_bytes().startswith(b"\xef\xbb\xbf")
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("DROP TRIGGER records_no_update")
    db.execute("UPDATE records SET result = 'fail' WHERE record_no = 4")
    db.close()
    broken = run_cli([*args, "verify"], env)
    assert broken.returncode == 1 and "record 4" in broken.stderr, broken.stderr
