"""`backup-agent demo`: a sandbox with sample data and real restic, verified as designed."""

from __future__ import annotations

from pathlib import Path

import click

from agent.cli.common import EXIT_AGENT, EXIT_BREACH, EXIT_OK, locked, open_store
from agent.cli.verify import verify
from agent.config import load_config

DEMO_NON_COMPLIANT = "shipping-docs"


@click.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="Where to build the sandbox (created; rebuilt if it is a previous demo). Default: "
                   "backup-agent-demo, with --fleet backup-agent-fleet-demo.")
@click.option("--json", "as_json", is_flag=True, help="Print the verify JSON document (with --fleet: the demo's).")
@click.option("--fleet", is_flag=True, help="Three agents (cloud, office, kc-home) sharing one targets.yaml and a "
              "throwaway PostgreSQL records store in DIR/postgres; the HDD unplugged, credited, then past its credit.")
@click.option("--keep-cluster", is_flag=True, help="With --fleet: leave the store's PostgreSQL cluster running "
              "afterwards (default: stopped, its data kept, the command to start it again printed).")
@click.pass_context
def demo(ctx: click.Context, directory: str | None, as_json: bool, fleet: bool, keep_cluster: bool) -> None:
    """Build a sandbox (sample data, a primary and copies on local stand-ins for droplet, nas,
    ssd, hdd and offsite, real restic repositories), write DIR/targets.yaml and verify it.
    One dataset is deliberately non-compliant. No root, no network. Exit 0 when the outcome is
    the designed one (shipping-docs non-compliant, the rest pass), 1 otherwise.

    With --fleet: three agents, each run once as its own process with its own state directory,
    then `fleet status`; then the HDD unplugged (offline, credited from its last verification);
    then the clock nine days on, past its credit_for (error; finance-records falls). Needs
    Debian's postgresql package (exit 3 without it), and unshare(1) to plug the HDD in. Exit 0
    when the three stages show what they were built to show, 1 otherwise."""
    from contextlib import nullcontext

    if fleet:
        _fleet_demo(ctx, Path(directory or "backup-agent-fleet-demo"), as_json, keep_cluster)
    if keep_cluster:
        raise click.UsageError("--keep-cluster goes with --fleet")
    directory = directory or "backup-agent-demo"

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



def _fleet_demo(ctx: click.Context, directory: Path, as_json: bool, keep_cluster: bool) -> None:
    """`demo --fleet`: exit 0 as designed, 1 otherwise, 3 when PostgreSQL is missing or unusable."""
    import json

    from agent.errors import AgentError
    from agent.fleet_demo_run import run_demo
    from agent.validate.sandbox import CannotRun

    def echo(line: str) -> None:
        click.echo(line, err=as_json)

    try:
        document = run_demo(directory, keep_cluster, echo)
    except CannotRun as error:
        click.echo(f"demo --fleet: {error}. The fleet demo needs a PostgreSQL server for the shared records "
                   "store (apt-get install postgresql); the embedded SQLite store holds one agent's chain.", err=True)
        ctx.exit(EXIT_AGENT)
    except AgentError as error:
        click.echo(f"demo --fleet: {error}", err=True)
        ctx.exit(EXIT_AGENT)
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    for problem in document["problems"]:
        click.echo(f"demo --fleet: UNEXPECTED: {problem}", err=True)
    if not document["problems"]:
        click.echo("demo --fleet: as designed — 3-2-1 met only by combining the three agents; the unplugged HDD "
                   "credited from its last verification, then an error past its credit_for", err=True)
    ctx.exit(EXIT_BREACH if document["problems"] else EXIT_OK)
