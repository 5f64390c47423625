"""`backup-agent records`: list, export and verify the chained QEF-19-05 / QEF-19-03 records."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from agent.cli.common import (
    EXIT_AGENT,
    EXIT_BREACH,
    EXIT_OK,
    TIME_OPTION_HELP,
    UsageError,
    load,
    moment,
    open_store,
)


@click.group()
def records() -> None:
    """QEF-19-05 records: list, export, verify the hash chain."""



_since_option = click.option("--since", metavar="TIME", help=f"From this time (inclusive): {TIME_OPTION_HELP}.")
_until_option = click.option("--until", metavar="TIME", help="Before this time (exclusive); same forms as --since.")
_tz_option = click.option("--tz", "zone", metavar="ZONE",
                          help="Zone for dates and times without an offset: Asia/Shanghai, +08:00 (default UTC).")



@records.command("list")
@_since_option
@_until_option
@_tz_option
@click.option("--kind", type=click.Choice(["check", "copy", "dataset", "run", "drill"]), help="Only this kind of record.")
@click.option("--limit", type=int, default=50, show_default=True, help="Show the last N (0 = all).")
@click.pass_context
def records_list(ctx: click.Context, since: str | None, until: str | None, zone: str | None, kind: str | None,
                 limit: int) -> None:
    """Show records, newest last.

    \b
    Examples:
      backup-agent records list --since 2026-11-01 --until 2026-12-01
      backup-agent records list --since 2026-11-30 --tz Asia/Shanghai --kind drill
    """
    bounds = moment(since, zone, "--since"), moment(until, zone, "--until")
    with open_store(ctx) as store:
        rows = list(store.rows(*bounds, kind=kind))
    for row in rows[-limit:] if limit else rows:
        where = "/".join(x for x in (row["dataset"], row["target"]) if x) or "-"
        click.echo(f"{row['record_no']:>6} {row['recorded_at']} {row['kind']:<7} {where:<28} "
                   f"{(row['check_name'] or ''):<17} {row['result']:<6} {row['detail'] or ''}")


@records.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@_since_option
@_until_option
@_tz_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write here instead of stdout.")
@click.pass_context
def records_export(ctx: click.Context, fmt: str, since: str | None, until: str | None, zone: str | None,
                   output: str | None) -> None:
    """Export records: CSV (UTF-8 with BOM, headers in Chinese and English) or JSONL.

    \b
    Example (an auditor in China, November in local days):
      backup-agent records export --since 2026-11-01 --until 2026-12-01 --tz Asia/Shanghai -o nov.csv
    """
    from agent.records import export_csv, export_jsonl

    bounds = moment(since, zone, "--since"), moment(until, zone, "--until")
    with open_store(ctx) as store:
        rows = list(store.rows(*bounds))
    text = export_csv(rows) if fmt == "csv" else export_jsonl(rows)
    data = ("\ufeff" + text if fmt == "csv" else text).encode("utf-8")
    if output:
        Path(output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


@records.command("verify")
@click.option("--anchor", "anchor_texts", multiple=True, metavar="NUMBER:HASH",
              help="Also require record NUMBER to carry this SHA-256 (all 64 hex digits, or the first 13 or more): "
                   "a head remembered elsewhere, e.g. an earlier `records verify`, or Prometheus' "
                   "backup_agent_records_last_number and _last_hash_prefix (printf '%013x' VALUE). Repeatable.")
@click.option("--anchors", "with_anchors", is_flag=True,
              help="Also list the chain heads anchored under S3 object lock (records.anchor) and check that the store "
                   "holds every anchored record with the anchored hash and reaches the newest one.")
@click.pass_context
def records_verify(ctx: click.Context, anchor_texts: tuple[str, ...], with_anchors: bool) -> None:
    """Recompute the SHA-256 chain of every record and compare it with the heads remembered outside
    the store (records.sqlite.head, records-head.log, --anchor, and with --anchors the objects under
    object lock). Exit 0 when intact; 1 naming the first broken or missing record (an edit, a cut
    tail, a missing head, an emptied store); 3 when the store or the anchors cannot be read (an I/O
    error, an unreachable bucket: that is no verdict on the chain)."""
    import sqlite3

    from agent import chain_head
    from agent.recording import missing_store_problem

    try:
        anchors = [chain_head.parse_anchor(text) for text in anchor_texts]
    except ValueError as error:
        raise UsageError(str(error)) from None
    config = load(ctx, reads_targets=with_anchors)  # the anchors' bucket needs the target's credentials
    if with_anchors and config.records.anchor is None:
        raise UsageError(f"--anchors: {config.path} has no records.anchor (records: {{anchor: {{target: NAME}}}} "
                         "naming an s3 target with object lock)")
    path = config.agent.records_db
    if not Path(path).exists():
        problem = missing_store_problem(Path(path), anchors)
        if problem is None and not with_anchors:
            raise UsageError(f"no records store at {path} yet; run `backup-agent verify` first")
        if problem:
            click.echo(f"chain BROKEN at record 1: {problem}", err=True)
        _finish(ctx, config, None, problem is None, with_anchors)
    try:
        with open_store(ctx) as store:
            report = store.verify_chain(anchors)
            if store.snapshot:
                click.echo(f"note: read from a copy in memory: no room in {Path(path).parent} for SQLite's "
                           "shared-memory file", err=True)
            if report.ok:
                click.echo(f"chain intact: {report.records} records"
                           + (f" (#{report.first}-#{report.last}); head #{report.last} sha256 {report.last_hash}"
                              if report.records else ""))
            else:
                click.echo(f"chain BROKEN at record {report.broken_at}: {report.reason}", err=True)
            _finish(ctx, config, store, report.ok, with_anchors)
    except sqlite3.DatabaseError as error:
        # A store whose file header or schema is damaged cannot even be opened: that is a broken
        # store (exit 1), not an agent failure.
        click.echo(f"chain BROKEN: the records store cannot be opened: {error}", err=True)
        _finish(ctx, config, None, False, with_anchors)


def _finish(ctx: click.Context, config, store, chain_ok: bool, with_anchors: bool) -> None:
    """Check the anchors when asked (exit 3 when they cannot be read), then exit 0 or 1."""
    from agent.cli.anchors import single_chain_view, verify_anchors
    from agent.errors import TargetUnavailable

    anchors_ok = True
    if with_anchors:
        try:
            anchors_ok = verify_anchors(config, single_chain_view(config, store))
        except TargetUnavailable as error:
            click.echo(f"anchors not checked: {error}. This is no verdict on the chain.", err=True)
            ctx.exit(EXIT_AGENT)
    ctx.exit(EXIT_OK if chain_ok and anchors_ok else EXIT_BREACH)
