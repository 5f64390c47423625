"""`--help` works for every command and group of the CLI, including ones added later: the list
is read from the click command tree, so a new command is covered without editing this file."""

from __future__ import annotations

import os

import click
import pytest

from agent.cli import cli
from tests.support.cli import run_cli


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
    return paths


COMMANDS = [(), *command_paths(cli)]


def test_the_documented_commands_exist() -> None:
    assert {("verify",), ("inventory",), ("config", "check"), ("records", "list"), ("records", "export"),
            ("records", "verify"), ("demo",)} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "backup-agent")
def test_help(path: tuple[str, ...], tmp_path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("BACKUP_AGENT_CONFIG", None)
    result = run_cli([*path, "--help"], env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: backup-agent" + (" " + " ".join(path) if path else ""))
    assert result.stderr == ""
    assert list(tmp_path.iterdir()) == [], "--help writes nothing"


def test_version_and_usage_errors(tmp_path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}
    result = run_cli(["--version"], env)
    assert result.returncode == 0 and result.stdout.startswith("backup-agent")
    result = run_cli(["no-such-command"], env)
    assert result.returncode == 2 and "no-such-command" in result.stderr
    result = run_cli(["verify", "--no-such-option"], env)
    assert result.returncode == 2


def test_man_pages_cover_every_command(tmp_path) -> None:
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    page = run_cli(["man"], env)
    assert page.returncode == 0 and page.stdout.startswith('.TH "BACKUP-AGENT" "1"')
    for name in ("verify", "drill", "inventory", "records", "report", "config"):
        assert name in page.stdout
    written = run_cli(["man", "--out", str(tmp_path / "man1")], env)
    assert written.returncode == 0, written.stderr
    pages = {p.name for p in (tmp_path / "man1").iterdir()}
    assert {"backup-agent-" + "-".join(path) + ".1" for path in COMMANDS if path} | {"backup-agent.1"} == pages


def test_shell_completion_names_commands_and_the_configs_datasets(tmp_path) -> None:
    config = tmp_path / "targets.yaml"
    config.write_text("processes: {p: {rpo: 1h, rto: 4h}}\n"
                      "targets: {here: {kind: local, medium: ssd, location: office, require_mount: false}}\n"
                      "datasets: {platform-db: {process: p, primary: {target: here, form: files, path: d}},\n"
                      "           finance: {process: p, primary: {target: here, form: files, path: e}}}\n")
    env = {**os.environ, "HOME": str(tmp_path), "_BACKUP_AGENT_COMPLETE": "bash_source"}
    script = run_cli([], env)
    assert "complete " in script.stdout and "_backup_agent_completion" in script.stdout
    words = f"backup-agent --config {config} verify --dataset pl"
    env.update(_BACKUP_AGENT_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=str(len(words.split()) - 1))
    assert run_cli([], env).stdout.split() == ["plain,platform-db"]
