"""`backup-agent man`: manual pages generated from the command line itself (click-man), so the
page can never disagree with --help."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("man")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Write one page per command (backup-agent.1, backup-agent-verify.1, …) into DIR.")
@click.pass_context
def man(ctx: click.Context, out_dir: str | None) -> None:
    """Print the backup-agent(1) manual page, or write a page for every command with --out.

    \b
    Examples:
      backup-agent man | man -l -
      backup-agent man --out /usr/local/share/man/man1 && mandb -q
    """
    from click_man.core import generate_man_page, write_man_pages

    from agent import __version__

    root = ctx.find_root()
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        write_man_pages("backup-agent", root.command, version=__version__, target_dir=out_dir)
        for page in sorted(Path(out_dir).glob("backup-agent*.1")):
            click.echo(str(page))
        return
    click.echo(generate_man_page(click.Context(root.command, info_name="backup-agent"), version=__version__))
