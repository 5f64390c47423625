"""The command line. Exceptions become messages and exit codes here and only here.

Exit codes: 0 every selected dataset compliant; 1 a breach or a failed check; 2 usage or
configuration error (nothing checked, nothing written); 3 the agent itself failed; 75
(EX_TEMPFAIL) another run holds the lock STATE_DIR/run.lock — this run checked and recorded
nothing, try again later (agent/lock.py; a killed run's lock never blocks).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

import click

from agent import __version__
from agent.config import Config, find_config_path, load_config
from agent.errors import AgentError, ConfigError

DEMO_NON_COMPLIANT = "shipping-docs"
EXIT_OK, EXIT_BREACH, EXIT_USAGE, EXIT_AGENT = 0, 1, 2, 3
EXIT_LOCKED = 75  # EX_TEMPFAIL from sysexits.h: another run is in progress
log = logging.getLogger("backup-agent")

VERIFY_EPILOG = """\b
Examples:
  backup-agent verify                         # every dataset, every copy
  backup-agent verify --dataset finance-records --json
  backup-agent --config /etc/backup-agent/targets.yaml verify --target hdd
  backup-agent verify --restore-test          # also restore a sample of every backup copy now
  backup-agent verify --restore-test=full --dataset platform-db
\b
Exit codes: 0 all compliant, 1 breach or failed check, 2 usage/config error, 3 agent failure
(or stopped by SIGTERM/SIGINT: what finished is recorded, run result "interrupted"; or no space
left on the state directory, or a records store that no longer reaches its remembered head:
nothing checked, nothing written), 75 another run in progress (nothing checked, nothing recorded).
"""


class UsageError(click.UsageError):
    exit_code = EXIT_USAGE


def _load(ctx: click.Context, reads_targets: bool = True) -> Config:
    """Load the config; reads_targets=False for commands that open no target and no secret
    (their units load no credentials, so ${CREDENTIALS_DIRECTORY} may be unset there)."""
    path = find_config_path(ctx.obj["config"])
    return load_config(path, reads_targets=reads_targets)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config", metavar="FILE", envvar=None,
              help="targets.yaml (default: $BACKUP_AGENT_CONFIG, /etc/backup-agent/targets.yaml, ./targets.yaml).")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("-q", "--quiet", count=True, help="Less log output: errors only.")
@click.option("--log-json", is_flag=True, help="Log lines as JSON objects on stderr (for log collectors).")
@click.option("--no-color", is_flag=True, help="No colour in tables (also: the NO_COLOR environment variable).")
@click.version_option(__version__, prog_name="backup-agent")
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: int, quiet: int, log_json: bool, no_color: bool) -> None:
    """backup-agent: proves every copy of every dataset is fresh within its RPO and intact,
    checks the 3-2-1 rule on the copies that verified, and writes QEF-19-05 records and metrics.

    \b
    Start with:  backup-agent demo            (a sandbox with sample data, real restic)
    Then:        backup-agent config check && backup-agent verify
    """
    ctx.ensure_object(dict)
    ctx.obj.update(config=config, verbose=verbose, quiet=quiet, log_json=log_json, no_color=no_color)
    _configure_logging(ctx)
    from agent import interrupt

    interrupt.install_signal_handlers()  # SIGTERM raises, so restores remove their scratch and runs are recorded


def _names(ctx: click.Context, section: str, incomplete: str) -> list[str]:
    """Shell completion of dataset or target names from the configuration in use (none if it does not load)."""
    try:
        root = ctx.find_root()
        config = load_config(find_config_path(root.params.get("config")))
    except Exception:  # noqa: BLE001 - completion must never print a traceback into the shell
        return []
    return [name for name in getattr(config, section) if name.startswith(incomplete)]


def _configure_logging(ctx: click.Context) -> None:
    from agent import logs

    settings = ctx.find_root().obj
    logs.configure(settings["verbose"], settings["quiet"], settings["log_json"])


def _colour(ctx: click.Context) -> bool:
    """Colour only on a terminal, and never with --no-color or NO_COLOR set (https://no-color.org)."""
    return sys.stdout.isatty() and not ctx.find_root().obj.get("no_color") and not os.environ.get("NO_COLOR")


def _late_option(name: str):
    """A callback for -v/-q/--no-color given after the subcommand: they add to the group's."""

    def callback(ctx: click.Context, _param: click.Parameter, value: int | bool) -> None:
        if value:
            settings = ctx.find_root().obj
            settings[name] = settings[name] + value if isinstance(value, int) and not isinstance(value, bool) else value
            _configure_logging(ctx)

    return callback


def _accept_global_options_after_subcommands(group: click.Group) -> None:
    """`backup-agent verify -v` reads as `backup-agent -v verify`, as restic and borgmatic users type it."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _accept_global_options_after_subcommands(command)
            continue
        command.params += [
            click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=_late_option("verbose"),
                         help="More log output (-vv for debug); same as before the command."),
            click.Option(["-q", "--quiet"], count=True, expose_value=False, callback=_late_option("quiet"),
                         help="Less log output: errors only."),
            click.Option(["--no-color"], is_flag=True, expose_value=False, callback=_late_option("no_color"),
                         help="No colour (also: NO_COLOR)."),
        ]


def _select(config: Config, datasets: tuple[str, ...], targets: tuple[str, ...]):
    from agent.run import select_datasets

    unknown = [d for d in datasets if d not in config.datasets]
    if unknown:
        raise UsageError(f"unknown dataset(s): {', '.join(unknown)}; defined: {', '.join(config.datasets)}")
    unknown = [t for t in targets if t not in config.targets]
    if unknown:
        raise UsageError(f"unknown target(s): {', '.join(unknown)}; defined: {', '.join(config.targets)}")
    return select_datasets(config, datasets, targets)


@cli.command(epilog=VERIFY_EPILOG)
@click.option("--dataset", "datasets", multiple=True, metavar="NAME", help="Only this dataset (repeatable).",
              shell_complete=lambda ctx, _p, text: _names(ctx, "datasets", text))
@click.option("--target", "targets", multiple=True, metavar="NAME", help="Only copies on this target (repeatable).",
              shell_complete=lambda ctx, _p, text: _names(ctx, "targets", text))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the table.")
@click.option("--no-records", is_flag=True, help="Do not append QEF-19-05 records (metrics and rotation state are "
              "still written); see --dry-run for a look that writes nothing.")
@click.option("--dry-run", is_flag=True, help="Run every check and print the result, but write nothing: no records, "
              "metrics, exporter file, rotation state or hash cache, and no notification.")
@click.option("--restore-test", "restore_test", type=click.Choice(["sample", "full"]), is_flag=False,
              flag_value="sample", default=None,
              help="Also restore-test every backup copy now: a bounded sample (default) or =full. Without it, "
                   "datasets whose restore_test.every is due are restore-tested anyway.")
@click.option("--accept-new-chain", "accept_new_chain", is_flag=True,
              help="The records store no longer reaches the chain head remembered at the last append (it was "
                   "emptied, replaced or its newest records are gone), so runs are refused (exit 3). Continue "
                   "from what the store holds now: the loss is logged in records-head.log and in this run's "
                   "record. Use it once the loss is understood (see `records verify`).")
@click.pass_context
def verify(ctx: click.Context, datasets: tuple[str, ...], targets: tuple[str, ...], as_json: bool,
           no_records: bool, dry_run: bool, restore_test: str | None, accept_new_chain: bool) -> None:
    """Verify copies, evaluate 3-2-1, write records and metrics."""
    from agent import notify, output, publish, recording, scratch
    from agent.checking import RunOptions
    from agent.lock import RunLock
    from agent.progress import Progress
    from agent.run import run_verification

    config = _load(ctx)
    selected = _select(config, datasets, targets)
    interactive = sys.stderr.isatty() and not as_json
    terminal = Progress.for_terminal(as_json)
    sinks = publish.Sinks.dry_run() if dry_run else publish.Sinks(
        records=not no_records, metrics=not datasets and not targets)
    with _locked(ctx, RunLock(config.agent.state_dir, note=f"config {config.path}"), "this run checked and "
                 "recorded nothing. Try again when it has finished."):
        accepted = recording.preflight(config, write_records=sinks.records, accept_new_chain=accept_new_chain)
        sinks = dataclasses.replace(sinks, accepted_gap=accepted)
        hook = publish.notifier(config, sinks)
        _warn(hook and hook.ping(notify.START, f"backup-agent verify on {config.agent.host}"))
        options = RunOptions(restore_test=restore_test, progress=terminal, dry_run=dry_run)
        try:
            run = run_verification(config, selected, target_filter=targets,
                                   progress=(lambda line: terminal.note(f"  … {line}")) if interactive else None,
                                   options=options)
        except BaseException:
            _warn(hook and hook.ping(notify.FAIL, "backup-agent verify failed before it finished"))
            raise
        finally:
            scratch.cleanup_all()
        try:
            warnings = publish.publish(config, run, sinks, hook)
        except BaseException:
            _warn(hook and hook.ping(notify.FAIL, "backup-agent verify could not record its run"))
            raise
    for warning in warnings:
        _warn(warning)
    if (datasets or targets) and interactive and not dry_run:
        click.echo("note: metrics file not rewritten for a filtered run", err=True)
    if dry_run and interactive:
        click.echo("note: --dry-run: nothing was written", err=True)
    if as_json:
        click.echo(json.dumps(output.run_document(run), ensure_ascii=False, indent=2))
    else:
        click.echo(output.run_table(run, colour=_colour(ctx), verbose=ctx.obj.get("verbose", 0) > 0))
    if run.interrupted:
        click.echo("backup-agent: interrupted; what finished is recorded (run result: interrupted)", err=True)
        ctx.exit(EXIT_AGENT)
    ctx.exit(EXIT_OK if run.compliant else EXIT_BREACH)


def _warn(message: str | None) -> None:
    """A sink that failed after the records were written (metrics, Pushgateway, notification) warns."""
    if message:
        click.echo(f"warning: {message}", err=True)


@contextlib.contextmanager
def _locked(ctx: click.Context, lock, nothing_done: str):
    """Hold the run lock, or exit 75 saying who holds it and what this command did not do."""
    from agent.lock import LockBusy

    try:
        lock.acquire()
    except LockBusy as busy:
        click.echo(f"backup-agent: another run is in progress ({busy.holder or 'holder unknown'}; lock "
                   f"{busy.path}); {nothing_done}", err=True)
        ctx.exit(EXIT_LOCKED)
    with lock:
        yield


@cli.command()
@click.argument("dataset", shell_complete=lambda ctx, _p, text: _names(ctx, "datasets", text))
@click.option("--from", "from_target", metavar="TARGET", shell_complete=lambda ctx, _p, text: _names(ctx, "targets", text),
              help="Restore from the copy on this target (default: one away from the primary's location, "
                   "object storage first).")
@click.option("--json", "as_json", is_flag=True, help="Print the drill record as JSON instead of the summary.")
@click.pass_context
def drill(ctx: click.Context, dataset: str, from_target: str | None, as_json: bool) -> None:
    """Restore drill (SOP-19 §8.3): restore all of DATASET from one copy into scratch, verify it, and
    record RTO and RPO, actual against target (form QEF-19-03). Exit 0 when both targets are met."""
    from agent import interrupt, recording, scratch
    from agent.drill import DrillError, after_action, choose_copy, record_row, run_drill
    from agent.lock import RunLock
    from agent.progress import Progress
    from agent.records import RecordStore
    from agent.run import tool_versions

    config = _load(ctx)
    (chosen,) = _select(config, (dataset,), ())
    try:
        spec = choose_copy(chosen, from_target)
    except DrillError as error:
        raise UsageError(str(error)) from error
    with _locked(ctx, RunLock(config.agent.state_dir, note=f"drill {dataset} from {spec.target.name}"),
                 "the drill did not start."):
        recording.preflight(config, write_records=True)
        try:
            result = run_drill(config, chosen, spec, Progress.for_terminal(as_json))
        finally:
            scratch.cleanup_all()
        row = record_row(result, config, tool_versions())
        with interrupt.deferred(), RecordStore(config.agent.records_db, place=recording.records_place(config)) as store:
            number, _ = store.append([row])
    if as_json:
        click.echo(json.dumps({**row, "record_no": number}, ensure_ascii=False, indent=2))
    else:
        click.echo(after_action(result, number))
    if result.status == "interrupted":
        ctx.exit(EXIT_AGENT)
    ctx.exit(EXIT_OK if result.status == "pass" else EXIT_BREACH)


@cli.command()
@click.option("--dataset", "datasets", multiple=True, metavar="NAME", help="Only this dataset (repeatable).",
              shell_complete=lambda ctx, _p, text: _names(ctx, "datasets", text))
@click.option("--target", "targets", multiple=True, metavar="NAME", help="Only copies on this target (repeatable).",
              shell_complete=lambda ctx, _p, text: _names(ctx, "targets", text))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def inventory(ctx: click.Context, datasets: tuple[str, ...], targets: tuple[str, ...], as_json: bool) -> None:
    """List every copy of every dataset: where, what medium, reachable or why not, last backup,
    size, snapshots. Fast: no checksums, no restic check. Writes no records."""
    from agent.inventory import build_inventory
    from agent.units import format_duration, format_size

    config = _load(ctx)
    entries = build_inventory(config, _select(config, datasets, targets), targets)
    if as_json:
        click.echo(json.dumps(entries, ensure_ascii=False, indent=2))
        return
    header = f"{'DATASET':<18} {'TARGET':<9} {'ROLE':<8} {'FORM':<8} {'MEDIUM':<15} {'LOCATION':<10} " \
             f"{'AGE':>8} {'SIZE':>10} {'SNAPS':>5}  STATE"
    click.echo(header)
    for e in entries:
        medium = e["medium"] + (f"({e['detected_medium']})" if e["detected_medium"] and e["detected_medium"] != e["medium"] else "")
        state = "ok" if e["reachable"] and not e["reason"] else (e["reason"] or "unreachable")
        if state == "ok" and e["age_seconds"] is not None and e["age_seconds"] > e["rpo_seconds"]:
            state = f"stale (RPO {format_duration(e['rpo_seconds'])})"
        click.echo(f"{e['dataset']:<18} {e['target']:<9} {e['role']:<8} {e['form']:<8} {medium:<15} {e['location']:<10} "
                   f"{format_duration(e['age_seconds']):>8} {format_size(e['size_bytes']):>10} "
                   f"{'' if e['snapshots'] is None else e['snapshots']:>5}  {state}")


@cli.group("config")
def config_group() -> None:
    """Work with targets.yaml."""


@config_group.command("check", short_help="Validate targets.yaml and what a run needs here (no host contacted).")
@click.option("--offline", is_flag=True,
              help="Check the file alone, for a config meant for another machine: referenced files, environment "
                   "variables and local paths are not checked, and an unset ${VAR} is listed as not checked.")
@click.pass_context
def config_check(ctx: click.Context, offline: bool) -> None:
    """Validate targets.yaml and what a run needs on this machine, contacting no host: referenced
    files exist and are readable, password_env variables are set, password_command programs exist,
    local copy paths exist. Exit 0 when ready (warnings, e.g. a removable disk not mounted now, on
    stderr), 2 with every problem listed otherwise."""
    from agent.config_check import check_config

    readiness = check_config(find_config_path(ctx.find_root().obj["config"]), offline=offline)
    config = readiness.config
    for warning in readiness.warnings:
        click.echo(f"warning: {config.path}: {warning}", err=True)
    if readiness.errors:
        raise ConfigError(str(config.path), readiness.errors)
    copies = sum(len(d.all_copies) for d in config.datasets.values())
    click.echo(f"{config.path}: valid — {len(config.processes)} processes, {len(config.targets)} targets, "
               f"{len(config.datasets)} datasets, {copies} copies")
    if offline:
        click.echo("offline: referenced files, environment variables and local paths were not checked")
    for line in readiness.not_checked:
        click.echo(f"not checked: {line}")


@config_group.command("show", short_help="Print the effective configuration, secrets masked.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
@click.pass_context
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print the effective configuration: defaults filled in, ${VAR} expanded, relative paths
    resolved, secrets masked (password_command as ***). The output is itself a valid targets.yaml."""
    import yaml

    from agent.config_show import effective_document

    document = effective_document(_load(ctx.find_root()))
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        click.echo(yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=120), nl=False)


@config_group.command("schema", short_help="Print the JSON Schema of targets.yaml (for editors).")
def config_schema() -> None:
    """Print the JSON Schema of targets.yaml, for editors (VS Code: yaml.schemas) and validators."""
    from agent.config_show import json_schema

    click.echo(json.dumps(json_schema(), ensure_ascii=False, indent=2))


@cli.group()
def records() -> None:
    """QEF-19-05 records: list, export, verify the hash chain."""


def _store(ctx: click.Context, must_exist: bool = True):
    """Open the records store read-only (reading never writes, and works on a full disk)."""
    from agent.recording import records_place
    from agent.records import RecordStore

    config = _load(ctx.find_root(), reads_targets=False)
    path = config.agent.records_db
    if must_exist and not Path(path).exists():
        raise UsageError(f"no records store at {path} yet; run `backup-agent verify` first")
    return RecordStore(path, readonly=True, place=records_place(config))


def _moment(text: str | None, zone_name: str | None, option: str):
    """Parse a time typed on the command line (agent.clock.parse_moment); a bad one is a usage error."""
    from agent.clock import parse_moment, parse_zone

    if text is None:
        return None
    try:
        return parse_moment(text, parse_zone(zone_name) if zone_name else None)
    except ValueError as error:
        raise UsageError(f"{option}: {error}") from None


TIME_OPTION_HELP = "ISO 8601 with an offset (2026-11-30T00:00:00+08:00) or a date (2026-11-30, a day in UTC or --tz)"
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
    bounds = _moment(since, zone, "--since"), _moment(until, zone, "--until")
    with _store(ctx) as store:
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

    bounds = _moment(since, zone, "--since"), _moment(until, zone, "--until")
    with _store(ctx) as store:
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
@click.pass_context
def records_verify(ctx: click.Context, anchor_texts: tuple[str, ...]) -> None:
    """Recompute the SHA-256 chain of every record and compare it with the heads remembered outside
    the store (records.sqlite.head, records-head.log, --anchor). Exit 0 when intact; 1 naming the
    first broken or missing record (an edit, a cut tail, a missing head, an emptied store); 3 when
    the store cannot be read (an I/O error: that is no verdict on the chain)."""
    import sqlite3

    from agent import chain_head
    from agent.recording import missing_store_problem

    try:
        anchors = [chain_head.parse_anchor(text) for text in anchor_texts]
    except ValueError as error:
        raise UsageError(str(error)) from None
    path = _load(ctx.find_root(), reads_targets=False).agent.records_db
    if not Path(path).exists():
        problem = missing_store_problem(Path(path), anchors)
        if problem is None:
            raise UsageError(f"no records store at {path} yet; run `backup-agent verify` first")
        click.echo(f"chain BROKEN at record 1: {problem}", err=True)
        ctx.exit(EXIT_BREACH)
    try:
        with _store(ctx) as store:
            report = store.verify_chain(anchors)
            snapshot = store.snapshot
    except sqlite3.DatabaseError as error:
        # A store whose file header or schema is damaged cannot even be opened: that is a broken
        # store (exit 1), not an agent failure.
        click.echo(f"chain BROKEN: the records store cannot be opened: {error}", err=True)
        ctx.exit(EXIT_BREACH)
    if snapshot:
        click.echo(f"note: read from a copy in memory: no room in {Path(path).parent} for SQLite's shared-memory file",
                   err=True)
    if report.ok:
        click.echo(f"chain intact: {report.records} records"
                   + (f" (#{report.first}-#{report.last}); head #{report.last} sha256 {report.last_hash}"
                      if report.records else ""))
        return
    click.echo(f"chain BROKEN at record {report.broken_at}: {report.reason}", err=True)
    ctx.exit(EXIT_BREACH)


@cli.group("metrics")
def metrics_group() -> None:
    """Prometheus metrics of the latest run (the textfile is written by every full `verify`)."""


@metrics_group.command("serve")
@click.option("--listen", default="127.0.0.1:9919", show_default=True, metavar="HOST:PORT",
              help="Address to serve /metrics on (keep it on 127.0.0.1 unless a firewall guards it).")
@click.pass_context
def metrics_serve(ctx: click.Context, listen: str) -> None:
    """Serve the latest full verify run's metrics over HTTP for Prometheus to scrape: the same
    series as the textfile, read from STATE_DIR/last-run.prom. Never checks anything itself."""
    from agent import exporter

    config = _load(ctx.find_root(), reads_targets=False)
    try:
        server = exporter.make_server(config.agent.state_dir, listen)
    except ValueError as error:
        raise UsageError(str(error)) from error
    host, port = server.server_address[:2]
    click.echo(f"backup-agent: serving http://{host}:{port}/metrics from "
               f"{exporter.last_run_path(config.agent.state_dir)} (Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@cli.command()
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
    from agent.lock import LockBusy, RunLock

    # Rebuilding deletes the previous sandbox, state directory included: not under a running
    # verify of it. The verify below takes the new sandbox's lock itself.
    previous = Path(directory) / MARKER
    try:
        with RunLock(Path(directory) / "state") if previous.exists() else nullcontext():
            config_path = build_demo(Path(directory), echo=lambda line: click.echo(line, err=True))
    except LockBusy as busy:
        click.echo(f"backup-agent: a run on this demo is in progress ({busy.holder or 'holder unknown'}); "
                   "nothing was changed. Try again when it has finished.", err=True)
        ctx.exit(EXIT_LOCKED)
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
    with _store(ctx) as store:
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


@cli.command()
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
    pinned = _moment(generated_at, None, "--generated-at")
    if not chosen or any(f not in reports.FORMATS for f in chosen):
        raise UsageError(f"--format {formats!r}: choose from {', '.join(reports.FORMATS)}")
    config = _load(ctx, reads_targets=False)
    with _store(ctx) as store:
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


def _register_documentation_commands() -> None:
    from agent.manpage import man

    cli.add_command(man)


_register_documentation_commands()
_accept_global_options_after_subcommands(cli)


def main() -> None:
    try:
        # With standalone_mode off, click returns ctx.exit()'s code instead of raising.
        code = cli.main(standalone_mode=False, prog_name="backup-agent")
        if isinstance(code, int):
            sys.exit(code)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_AGENT)
    except ConfigError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    except (AgentError, OSError) as error:
        click.echo(f"backup-agent: agent failure: {error}", err=True)
        sys.exit(EXIT_AGENT)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_AGENT)
    except Exception as error:  # noqa: BLE001 - the last line of defence: a crash is exit 3, not a pass
        from agent import space

        if space.is_no_space(error):  # a full disk where no writer expected one (SQLite): no traceback
            click.echo(f"backup-agent: agent failure: no space left on device: {type(error).__name__}: {error}",
                       err=True)
            sys.exit(EXIT_AGENT)
        log.exception("unexpected failure")
        click.echo(f"backup-agent: agent failure: {type(error).__name__}: {error}", err=True)
        sys.exit(EXIT_AGENT)
    sys.exit(EXIT_OK)
