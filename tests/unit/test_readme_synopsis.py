"""The README's command synopsis lists every command and option that exists, read from the click
command tree itself, so a new option cannot ship undocumented."""

from __future__ import annotations

from pathlib import Path

import click

from agent.cli import cli

README = Path(__file__).resolve().parents[2] / "README.md"


def synopsis() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Command line")
    return text[start:text.index("\n## ", start + 1)]


def commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def test_every_command_and_option_is_in_the_readme_synopsis() -> None:
    block = synopsis()
    missing = []
    for path, command in commands(cli):
        if " ".join(path) not in block:
            missing.append(" ".join(path))
        for param in command.params:
            if isinstance(param, click.Option) and param.opts[0] != "--help":
                if not any(opt in block for opt in param.opts):
                    missing.append(f"{' '.join(path)} {param.opts[0]}")
    for param in cli.params:
        if isinstance(param, click.Option) and not any(opt in block for opt in param.opts):
            missing.append(param.opts[0])
    assert missing == []
