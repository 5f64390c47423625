"""What is made from the records and the last run alone: the monthly report and `metrics serve`."""

from __future__ import annotations

from pathlib import Path

import click

from agent.cli.common import EXIT_BREACH, TIME_OPTION_HELP, UsageError, load, moment, open_store
from agent.errors import AgentError


@click.command()
@click.option("--month", required=True, metavar="YYYY-MM", help="The month (UTC days), or 'previous' for last month.")
@click.option("--format", "formats", default="html,pdf,csv", show_default=True, metavar="LIST",
              help="Comma-separated: html, pdf, csv.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Output directory (default STATE_DIR/reports).")
@click.option("--generated-at", metavar="TIME",
              help="Pin the one timestamp on the report, for reproducible output: " + TIME_OPTION_HELP + ".")
@click.pass_context
def report(ctx: click.Context, month: str, formats: str, out_dir: str | None, generated_at: str | None) -> None:
    """Write the monthly QEF-19-05 verification report (bilingual HTML, A4 PDF, CSV) from the
    records store alone; no target is contacted. Exit 0 when written, 1 when written but the
    record chain is broken (the cover says so), 2 for a bad month or format, 3 when it cannot be made."""
    import reports

    chosen = tuple(f.strip() for f in formats.split(",") if f.strip())
    try:
        reports.parse_month(month)
    except reports.ReportError as error:
        raise UsageError(str(error)) from None
    pinned = moment(generated_at, None, "--generated-at")
    if not chosen or any(f not in reports.FORMATS for f in chosen):
        raise UsageError(f"--format {formats!r}: choose from {', '.join(reports.FORMATS)}")
    config = load(ctx, reads_targets=False)
    with open_store(ctx) as store:
        try:
            written = reports.write_reports(store, month, Path(out_dir) if out_dir else config.agent.state_dir / "reports",
                                            chosen, pinned, cache_dir=config.agent.state_dir / "cache",
                                            company=config.agent.company)
        except reports.ReportError as error:
            raise AgentError(str(error)) from None
        chain = store.verify_chain()
    for path in written:
        click.echo(str(path))
    if not chain.ok:
        click.echo(f"warning: record chain BROKEN at record {chain.broken_at}: {chain.reason} (stated on the cover)", err=True)
        ctx.exit(EXIT_BREACH)



@click.group("metrics")
def metrics_group() -> None:
    """Prometheus metrics of the latest run (the textfile is written by every full `verify`)."""


@metrics_group.command("serve")
@click.option("--listen", default="127.0.0.1:9919", show_default=True, metavar="HOST:PORT",
              help="Address to serve /metrics on (keep it on 127.0.0.1 unless a firewall guards it).")
@click.option("--fleet", "fleet", is_flag=True,
              help="Serve the fleet's series instead (every agent's last run, every dataset's verdict, every copy's "
                   "last verification), from the records store: run it on one host for the whole company.")
@click.pass_context
def metrics_serve(ctx: click.Context, listen: str, fleet: bool) -> None:
    """Serve the latest full verify run's metrics over HTTP for Prometheus to scrape: the same
    series as the textfile, read from STATE_DIR/last-run.prom. Never checks anything itself."""
    from agent import exporter

    config = load(ctx, reads_targets=False)
    try:
        server = exporter.make_server(config.agent.state_dir, listen,
                                      exporter.fleet_source(config) if fleet else None)
    except ValueError as error:
        raise UsageError(str(error)) from error
    host, port = server.server_address[:2]
    where = "the records store (fleet)" if fleet else exporter.last_run_path(config.agent.state_dir)
    click.echo(f"backup-agent: serving http://{host}:{port}/metrics from {where} (Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

