"""`backup-agent demo`: a sandbox with sample data and real restic, verified as designed."""

from __future__ import annotations

from pathlib import Path

import click

from agent.cli.common import EXIT_BREACH, EXIT_OK, locked, open_store
from agent.cli.verify import verify
from agent.config import load_config

DEMO_NON_COMPLIANT = "shipping-docs"


@click.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), default="backup-agent-demo", show_default=True,
              help="Where to build the sandbox (created; rebuilt if it is a previous demo).")
@click.option("--json", "as_json", is_flag=True, help="Print the verify JSON document.")
@click.pass_context
def demo(ctx: click.Context, directory: str, as_json: bool) -> None:
    """Build a sandbox (sample data, a primary and copies on local stand-ins for droplet, nas,
    ssd, hdd and offsite, real restic repositories), write DIR/targets.yaml and verify it.
    One dataset is deliberately non-compliant. No root, no network. Exit 0 when the outcome is
    the designed one (shipping-docs non-compliant, the rest pass), 1 otherwise."""
    from contextlib import nullcontext

    from agent.demo import MARKER, build_demo
    from agent.lock import RunLock

    # Rebuilding deletes the previous sandbox, state directory included: not under a running
    # verify of it. The verify below takes the new sandbox's lock itself.
    previous = Path(directory) / MARKER
    with (locked(ctx, RunLock(Path(directory) / "state"), "the demo was not rebuilt: nothing was changed. Try "
                 "again when it has finished.") if previous.exists() else nullcontext()):
        config_path = build_demo(Path(directory), echo=lambda line: click.echo(line, err=True))
    ctx.obj["config"] = str(config_path)
    click.echo(f"demo: sandbox ready, config {config_path}", err=True)
    code = 0
    try:
        ctx.invoke(verify, as_json=as_json)
    except click.exceptions.Exit as exit_:
        code = exit_.exit_code
    config = load_config(config_path)
    click.echo("", err=True)
    click.echo(f"demo: records (QEF-19-05)  {config.agent.records_db}", err=True)
    click.echo(f"demo: metrics             {config.agent.metrics_file}", err=True)
    click.echo(f"demo: try  backup-agent --config {config_path} inventory", err=True)
    click.echo(f"           backup-agent --config {config_path} records verify", err=True)
    if code not in (EXIT_OK, EXIT_BREACH):
        ctx.exit(code)
    # The demo succeeds when it shows what it was built to show: every dataset passes except the
    # deliberately non-compliant one. Anything else (restic missing, a broken install) fails it.
    with open_store(ctx) as store:
        verdicts = list(store.rows(kind="dataset"))
    last_run = verdicts[-1]["run_id"] if verdicts else None
    outcome = {row["dataset"]: row["result"] for row in verdicts if row["run_id"] == last_run}
    expected = {name: ("fail" if name == DEMO_NON_COMPLIANT else "pass") for name in config.datasets}
    if outcome != expected:
        unexpected = sorted(n for n in expected if outcome.get(n) != expected[n])
        click.echo(f"demo: UNEXPECTED outcome for {', '.join(unexpected)} (verify exit code {code}); "
                   "see the table above", err=True)
        ctx.exit(EXIT_BREACH)
    click.echo(f"demo: as designed — {len(expected) - 1} datasets pass, {DEMO_NON_COMPLIANT} is non-compliant "
               f"(so verify itself exits {code})", err=True)
    ctx.exit(EXIT_OK)

