"""`--help` works for every command and group of the CLI, including ones added later: the list
is read from the click command tree, so a new command is covered without editing this file."""

from __future__ import annotations

import os

import click
import pytest

from agent.cli import cli
from tests.e2e.conftest import run_cli


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
