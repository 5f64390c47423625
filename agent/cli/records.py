"""`backup-agent records`: list, export and verify the chained QEF-19-05 / QEF-19-03 records; create
or migrate the store (`init`) and deliver the outbox to a shared store (`sync`)."""

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
    """QEF-19-05 records: list, export, verify every agent's hash chain; init the store, sync the outbox."""


_since_option = click.option("--since", metavar="TIME", help=f"From this time (inclusive): {TIME_OPTION_HELP}.")
_until_option = click.option("--until", metavar="TIME", help="Before this time (exclusive); same forms as --since.")
_tz_option = click.option("--tz", "zone", metavar="ZONE",
                          help="Zone for dates and times without an offset: Asia/Shanghai, +08:00 (default UTC).")
_agent_option = click.option("--agent", "agent", metavar="NAME", help="Only this agent's records.")
_local_option = click.option("--local", is_flag=True,
                             help="Read this agent's local store (the outbox) instead of the shared store.")


@records.command("list")
@_since_option
@_until_option
@_tz_option
@click.option("--kind", type=click.Choice(["check", "copy", "credit", "dataset", "run", "drill", "acceptance"]), help="Only this kind of record.")
@click.option("--limit", type=int, default=50, show_default=True, help="Show the last N (0 = all).")
@_agent_option
@_local_option
@click.pass_context
def records_list(ctx: click.Context, since: str | None, until: str | None, zone: str | None, kind: str | None,
                 limit: int, agent: str | None, local: bool) -> None:
    """Show records, newest last.

    \b
    Examples:
      backup-agent records list --since 2026-11-01 --until 2026-12-01
      backup-agent records list --since 2026-11-30 --tz Asia/Shanghai --kind drill
      backup-agent records list --agent office-nas --limit 0
    """
    bounds = moment(since, zone, "--since"), moment(until, zone, "--until")
    with open_store(ctx, local=local) as store:
        rows = list(store.rows(*bounds, kind=kind, agent=agent))
    for row in rows[-limit:] if limit else rows:
        where = "/".join(x for x in (row["dataset"], row["target"]) if x) or "-"
        click.echo(f"{row['record_no']:>6} {row['recorded_at']} {row['agent'] or '-'}#{row['seq']} {row['kind']:<7} "
                   f"{where:<28} {(row['check_name'] or ''):<17} {row['result']:<6} {row['detail'] or ''}")


@records.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@_since_option
@_until_option
@_tz_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write here instead of stdout.")
@_agent_option
@_local_option
@click.pass_context
def records_export(ctx: click.Context, fmt: str, since: str | None, until: str | None, zone: str | None,
                   output: str | None, agent: str | None, local: bool) -> None:
    """Export records: CSV (UTF-8 with BOM, headers in Chinese and English) or JSONL.

    \b
    Example (an auditor in China, November in local days):
      backup-agent records export --since 2026-11-01 --until 2026-12-01 --tz Asia/Shanghai -o nov.csv
    """
    from agent.records import export_csv, export_jsonl

    bounds = moment(since, zone, "--since"), moment(until, zone, "--until")
    with open_store(ctx, local=local) as store:
        rows = list(store.rows(*bounds, agent=agent))
    text = export_csv(rows) if fmt == "csv" else export_jsonl(rows)
    data = ("\ufeff" + text if fmt == "csv" else text).encode("utf-8")
    if output:
        Path(output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


@records.command("verify")
@click.option("--anchor", "anchor_texts", multiple=True, metavar="[AGENT/]NUMBER:HASH",
              help="Also require record NUMBER of AGENT's chain (default: this agent's) to carry this SHA-256 (all 64 "
                   "hex digits, or the first 13 or more): a head remembered elsewhere, e.g. an earlier `records "
                   "verify`, or Prometheus' backup_agent_records_last_number and _last_hash_prefix (printf '%013x' "
                   "VALUE). Repeatable.")
@click.option("--anchors", "with_anchors", is_flag=True,
              help="Also list the chain heads anchored under S3 object lock (records.anchor) and check that the store "
                   "holds every anchored record with the anchored hash and reaches the newest one.")
@_local_option
@click.pass_context
def records_verify(ctx: click.Context, anchor_texts: tuple[str, ...], with_anchors: bool, local: bool) -> None:
    """Recompute the SHA-256 chain of every agent's records and compare it with the heads remembered
    outside the store (records.sqlite.head, records-head.log, this agent's outbox, --anchor, and with
    --anchors the objects under object lock). Exit 0 when every chain is intact; 1 naming each
    agent's first broken or missing record (an edit, a cut tail, a missing head, an emptied store, a
    chain rewritten behind an anchor); 3 when the store or the anchors cannot be read (an I/O error,
    a server down, an unreachable bucket: that is no verdict on the chain)."""
    from agent import chain_head

    try:
        anchors = [chain_head.parse_anchor(text) for text in anchor_texts]
    except ValueError as error:
        raise UsageError(str(error)) from None
    config = load(ctx, reads_targets=with_anchors)  # the anchors' bucket needs the target's credentials
    if with_anchors and config.records.anchor is None:
        raise UsageError(f"--anchors: {config.path} has no records.anchor (records: {{anchor: {{target: NAME}}}} "
                         "naming an s3 target with object lock)")
    if config.agent.records_url and not local:
        with open_store(ctx) as store:
            reports = store.verify_chain(anchors)
            _pending_note(config)
            _echo_reports(reports, shared=True)
            _finish(ctx, config, store, reports.ok, with_anchors)
    store_path = Path(config.agent.records_db)
    if not store_path.exists():
        from agent.recording import missing_store_problem

        problem = missing_store_problem(store_path, anchors)
        if problem is None and not with_anchors:
            raise UsageError(f"no records store at {store_path} yet; run `backup-agent verify` first")
        if problem:
            click.echo(f"chain BROKEN at record 1: {problem}", err=True)
        _finish(ctx, config, None, problem is None, with_anchors)
    _verify_local(ctx, config, anchors, with_anchors)


def _verify_local(ctx: click.Context, config, anchors: list, with_anchors: bool) -> None:
    """Verify the local store (this agent's outbox, or its only store) and exit."""
    import sqlite3

    try:
        with open_store(ctx, local=True) as store:
            reports = store.verify_chain(anchors)
            if store.snapshot:
                click.echo(f"note: read from a copy in memory: no room in {config.agent.records_db.parent} for "
                           "SQLite's shared-memory file", err=True)
            _echo_reports(reports, shared=False)
            _finish(ctx, config, store, reports.ok, with_anchors)
    except sqlite3.DatabaseError as error:
        # A store whose file header or schema is damaged cannot even be opened: that is a broken
        # store (exit 1), not an agent failure.
        click.echo(f"chain BROKEN: the records store cannot be opened: {error}", err=True)
        _finish(ctx, config, None, False, with_anchors)


def _echo_reports(reports, *, shared: bool) -> None:
    for agent in sorted(reports):
        report = reports[agent]
        # One agent's local store: the lines as they always were, the agent named at the end.
        prefix, suffix = (f"agent {agent}: ", "") if shared else ("", f"; agent {agent}")
        if report.ok:
            click.echo(f"{prefix}chain intact: {report.records} records"
                       + (f" (#{report.first}-#{report.last}); head #{report.last} sha256 {report.last_hash}"
                          if report.records else "") + suffix)
        else:
            click.echo(f"{prefix}chain BROKEN at record {report.broken_at}: {report.reason}{suffix}", err=True)


def _finish(ctx: click.Context, config, store, chain_ok: bool, with_anchors: bool) -> None:
    """Check the anchors when asked (exit 3 when they cannot be read), then exit 0 or 1."""
    from agent.cli.anchors import store_view, verify_anchors
    from agent.errors import TargetUnavailable

    anchors_ok = True
    if with_anchors:
        try:
            anchors_ok = verify_anchors(config, store_view(config, store))
        except TargetUnavailable as error:
            click.echo(f"anchors not checked: {error}. This is no verdict on the chain.", err=True)
            ctx.exit(EXIT_AGENT)
    ctx.exit(EXIT_OK if chain_ok and anchors_ok else EXIT_BREACH)


def _pending_note(config) -> None:
    """Say how many of this agent's records wait in its outbox (they are not in the shared store yet)."""
    from agent.recording import local_store
    from agent.records import outbox
    from agent.records.shared import display_url

    if not Path(config.agent.records_db).exists():
        return
    with local_store(config, readonly=True) as store:
        pending = outbox.undelivered(store, display_url(config.agent.records_url))
    if pending:
        click.echo(f"note: {pending} records of agent {config.agent.name} wait in the outbox "
                   f"{config.agent.records_db} (not checked here; `records verify --local`, `records sync`)", err=True)


@records.command("init")
@click.pass_context
def records_init(ctx: click.Context) -> None:
    """Create the records store, or migrate one an older agent wrote (its records are never
    rewritten): the local store, and with a shared store (records_db: postgresql://…) its schema,
    which needs the database owner's rights. An empty outbox of an agent whose chain the shared
    store holds (a reinstalled agent) takes that chain back, so new records continue it. A store
    newer than this agent understands: exit 3, nothing written."""
    from agent.recording import local_store, shared_store
    from agent.records import outbox

    config = load(ctx, reads_targets=False)
    shared = shared_store(config) if config.agent.records_url else None
    try:
        if shared is not None:
            click.echo(shared.init())
        with local_store(config) as store:
            found, now = store.migrated or (0, 0)
            what = ("created" if found == 0 else f"migrated from schema {found}" if found < now else "nothing to do")
            click.echo(f"{config.agent.records_db}: schema version {now}, {what}; agent {store.agent}"
                       + (" (the outbox)" if shared else ""))
            taken = outbox.take_back(store, shared) if shared is not None else 0
            if taken:
                click.echo(f"{config.agent.records_db}: took agent {store.agent}'s chain back from {shared.identity}: "
                           f"{taken} records (#1-#{taken}); new records continue it")
    finally:
        if shared is not None:
            shared.close()


@records.command("sync")
@click.pass_context
def records_sync(ctx: click.Context) -> None:
    """Deliver the records waiting in this agent's outbox to the shared store, with the numbers and
    hashes they were written with (what a run does after recording). Exit 0 when nothing waits any
    more; 2 without a shared store; 3 when the store cannot be reached or holds a different record
    under one of this agent's numbers (nothing is lost: the records keep waiting)."""
    from agent import recording

    config = load(ctx, reads_targets=False)
    if not config.agent.records_url:
        raise UsageError("agent.records_db is not a shared store (postgresql://…): there is nothing to sync")
    delivery = recording.sync(config)
    where = f"#{delivery.head.seq}" if delivery.head else "nothing yet"
    click.echo(f"agent {delivery.agent}: {delivery.delivered} records delivered to {delivery.store}; it holds the "
               f"chain up to {where}")
