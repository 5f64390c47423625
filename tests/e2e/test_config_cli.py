"""`config check`, `config show` and `config schema` through the real CLI: exit codes, where the
messages go, and README step 9 run as written against the shipped targets.yaml."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.cli import agent_env, run_cli
from tests.support.configs import REPO, minimal

PASSWORD = "hunter2-correct-horse"


def ready_config(tmp_path: Path) -> Path:
    """The minimal config with every file and local path it names present, its key under ${SECRETS}."""
    document = minimal()
    document["targets"]["nas"]["key_file"] = "${SECRETS}/k"
    for directory in ("primary", "copy", "secrets"):
        (tmp_path / directory).mkdir()
    for name in ("secrets/k", "kh", "pw"):
        (tmp_path / name).write_text("x\n")
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_config_check_exit_codes(tmp_path: Path) -> None:
    config = ready_config(tmp_path)
    env = {**agent_env(tmp_path), "SECRETS": str(tmp_path / "secrets")}
    before = sorted(p.name for p in tmp_path.iterdir())

    result = run_cli(["--config", str(config), "config", "check"], env)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout and result.stderr == ""

    (tmp_path / "pw").unlink()
    result = run_cli(["--config", str(config), "config", "check"], env)
    assert result.returncode == 2
    assert f"{config}: 1 configuration error(s)" in result.stderr
    assert f"datasets.d.copies[1].password_file: {tmp_path / 'pw'} does not exist" in result.stderr

    result = run_cli(["--config", str(config), "config", "check", "--offline"], {**env, "SECRETS": ""})
    assert result.returncode == 0, result.stderr
    assert "offline: referenced files, environment variables and local paths were not checked" in result.stdout
    assert "not checked: targets.nas.key_file: ${SECRETS} is not set here" in result.stdout

    result = run_cli(["--config", str(config), "config", "check"], {**env, "SECRETS": ""})
    assert result.returncode == 2 and "targets.nas.key_file: ${SECRETS} is set but empty" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(set(before) - {"pw"}), "config check writes nothing"


def test_an_unset_variable_stops_every_command_before_anything_is_written(tmp_path: Path) -> None:
    config = ready_config(tmp_path)
    env = {k: v for k, v in agent_env(tmp_path).items() if k != "SECRETS"}
    for command in (["verify"], ["inventory"], ["config", "show"]):
        result = run_cli(["--config", str(config), *command], env)
        assert result.returncode == 2, (command, result.stderr)
        assert "targets.nas.key_file: ${SECRETS} is not set" in result.stderr, result.stderr
    assert not (tmp_path / "state").exists() and not (tmp_path / "metrics").exists()


def test_commands_that_open_no_target_run_without_the_credentials(tmp_path: Path) -> None:
    """README step 9 ends with `sudo -u backup-agent backup-agent … records verify` (sudo drops
    CREDENTIALS_DIRECTORY), and the report and exporter units load no credentials."""
    from agent.records import RecordStore

    config = ready_config(tmp_path)
    (tmp_path / "state").mkdir()
    RecordStore(tmp_path / "state" / "records.sqlite").close()
    env = {k: v for k, v in agent_env(tmp_path).items() if k != "SECRETS"}
    result = run_cli(["--config", str(config), "records", "verify"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("chain intact: 0 records")


def test_config_show_and_schema(tmp_path: Path) -> None:
    config = ready_config(tmp_path)
    text = config.read_text(encoding="utf-8").replace("password_file: pw", f"password_command: echo {PASSWORD}")
    config.write_text(text, encoding="utf-8")
    env = {**agent_env(tmp_path), "SECRETS": str(tmp_path / "secrets")}
    shown = run_cli(["--config", str(config), "config", "show", "--json"], env)
    assert shown.returncode == 0, shown.stderr
    document = shown.json()
    assert document["targets"]["nas"]["key_file"] == str(tmp_path / "secrets" / "k")
    assert document["datasets"]["d"]["copies"][1]["password_command"] == "***"
    as_yaml = run_cli(["--config", str(config), "config", "show"], env)
    assert yaml.safe_load(as_yaml.stdout) == document
    assert PASSWORD not in shown.stdout + shown.stderr + as_yaml.stdout + as_yaml.stderr
    schema = run_cli(["config", "schema"], {**env, "BACKUP_AGENT_CONFIG": str(tmp_path / "none.yaml")})
    assert schema.returncode == 0, schema.stderr
    assert json.loads(schema.stdout)["$schema"].startswith("https://json-schema.org/")


def test_readme_step_9_works_as_written(tmp_path: Path) -> None:
    """README step 9's `config check` line, run by sh against the shipped targets.yaml with the
    credentials of step 6 in place: /etc/backup-agent and /mnt are moved under tmp_path, nothing else
    changes. The removable disks are not plugged in: warnings, exit 0."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (line,) = [x for x in readme.splitlines() if x.endswith(" config check") and "CREDENTIALS_DIRECTORY" in x]
    etc, mnt = tmp_path / "etc" / "backup-agent", tmp_path / "mnt"
    (etc / "credentials").mkdir(parents=True)
    (etc / "ssh").mkdir()
    (etc / "ssh" / "known_hosts").write_text("droplet-b.example.com ssh-ed25519 AAAA\n")
    for name in re.findall(r"^install -m 0600 (\S+)\s+/etc/backup-agent/credentials/\1$", readme, re.M):
        (etc / "credentials" / name).write_text("x\n")
    shipped = (REPO / "targets.yaml").read_text(encoding="utf-8")
    (etc / "targets.yaml").write_text(shipped.replace("/etc/backup-agent", str(etc)).replace("/mnt/", f"{mnt}/"),
                                      encoding="utf-8")
    env = {**agent_env(tmp_path), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("CREDENTIALS_DIRECTORY", None)
    result = subprocess.run(["/bin/sh", "-c", line.replace("/etc/backup-agent", str(etc))], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "valid — 6 processes, 5 targets, 4 datasets" in result.stdout
    assert "warning: " in result.stderr and "targets.hdd: not mounted" in result.stderr
    (etc / "credentials" / "restic-finance.pass").unlink()
    result = subprocess.run(["/bin/sh", "-c", line.replace("/etc/backup-agent", str(etc))], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"datasets.finance-records.copies[2].password_file: {etc}/credentials/restic-finance.pass " \
           "does not exist" in result.stderr
