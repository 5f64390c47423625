"""`backup-agent fleet status`: every agent, copy and dataset of the company, from the records store alone."""

from __future__ import annotations

import json

import click

from agent.cli.common import EXIT_BREACH, EXIT_OK, load


@click.group()
def fleet() -> None:
    """The fleet of agents sharing one targets.yaml and one records store."""


@fleet.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the table.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Every agent's last run and age (flagged when past its interval plus grace), every copy's last
    verification (agent, when, result), every dataset's 3-2-1 verdict now. Reads the records store
    only; contacts no target. Exit 0 when every agent is on time and every dataset passes, 1
    otherwise, 3 when the store cannot be read."""
    from agent import fleet as fleet_view
    from agent import verifications
    from agent.clock import now as clock_now

    config = load(ctx, reads_targets=False)
    moment = clock_now()
    found = verifications.read(config, moment, kinds=("copy", "run"), strict=True)
    document = fleet_view.status_document(config, found, moment)
    click.echo(json.dumps(document, ensure_ascii=False, indent=2) if as_json else fleet_view.status_table(document))
    ctx.exit(EXIT_OK if document["status"] == "pass" else EXIT_BREACH)
