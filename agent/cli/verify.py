"""The commands that look at the copies: verify, drill (a full restore, timed) and inventory."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from agent.cli.common import (
    EXIT_AGENT,
    EXIT_BREACH,
    EXIT_OK,
    UsageError,
    colour,
    complete,
    fleet_check,
    load,
    locked,
    resolve_targets,
    select,
    warn,
)

if TYPE_CHECKING:
    from agent.checking import RunOptions
    from agent.config import Config, Dataset
    from agent.models import RunResult
    from agent.publish import Sinks

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

_dataset_option = click.option("--dataset", "datasets", multiple=True, metavar="NAME",
                               help="Only this dataset (repeatable).", shell_complete=complete("datasets"))
_target_option = click.option("--target", "targets", multiple=True, metavar="NAME",
                              help="Only copies on this target (repeatable); for verify also a mountpoint (the local "
                                   "targets mounted there).", shell_complete=complete("targets"))


@click.command(epilog=VERIFY_EPILOG)
@_dataset_option
@_target_option
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
    from agent import output, publish
    from agent.checking import RunOptions
    from agent.progress import Progress

    config = load(ctx)
    targets = resolve_targets(config, targets)
    selected = select(config, datasets, targets)
    interactive = sys.stderr.isatty() and not as_json
    terminal = Progress.for_terminal(as_json)
    sinks = publish.Sinks.dry_run() if dry_run else publish.Sinks(
        records=not no_records, metrics=not datasets and not targets)
    progress = (lambda line: terminal.note(f"  … {line}")) if interactive else None
    run = _verify_and_publish(ctx, config, selected, targets, sinks, accept_new_chain,
                              RunOptions(restore_test=restore_test, progress=terminal, dry_run=dry_run), progress)
    if (datasets or targets) and interactive and not dry_run:
        click.echo("note: metrics file not rewritten for a filtered run", err=True)
    if dry_run and interactive:
        click.echo("note: --dry-run: nothing was written", err=True)
    if as_json:
        click.echo(json.dumps(output.run_document(run), ensure_ascii=False, indent=2))
    else:
        click.echo(output.run_table(run, colour=colour(ctx), verbose=ctx.obj.get("verbose", 0) > 0))
    if run.interrupted:
        click.echo("backup-agent: interrupted; what finished is recorded (run result: interrupted)", err=True)
        ctx.exit(EXIT_AGENT)
    ctx.exit(EXIT_OK if run.compliant else EXIT_BREACH)


def _verify_and_publish(ctx: click.Context, config: Config, selected: list[Dataset], targets: tuple[str, ...],
                        sinks: Sinks, accept_new_chain: bool, options: RunOptions,
                        progress: Callable[[str], None] | None) -> RunResult:
    """Under the run lock: refuse a run that could not be recorded, run it, feed it to its sinks
    (agent.publish), and ping the notification hook at the start and on a failure. Return the run."""
    from agent import notify, publish, recording, scratch
    from agent.lock import RunLock
    from agent.run import run_verification

    with locked(ctx, RunLock(config.agent.state_dir, note=f"config {config.path}"),
                "this run checked and recorded nothing. Try again when it has finished."):
        accepted = recording.preflight(config, write_records=sinks.records, accept_new_chain=accept_new_chain)
        sinks = dataclasses.replace(sinks, accepted_gap=accepted)
        hook = publish.notifier(config, sinks)
        warn(hook and hook.ping(notify.START, f"backup-agent verify on {config.agent.host} (agent {config.agent.name})"))
        try:
            run = run_verification(config, selected, target_filter=targets, progress=progress, options=options)
        except BaseException:
            warn(hook and hook.ping(notify.FAIL, "backup-agent verify failed before it finished"))
            raise
        finally:
            scratch.cleanup_all()
        try:
            warnings = publish.publish(config, run, sinks, hook)
        except BaseException:
            warn(hook and hook.ping(notify.FAIL, "backup-agent verify could not record its run"))
            raise
    for warning in warnings:
        warn(warning)
    return run


@click.command()
@click.argument("dataset", shell_complete=complete("datasets"))
@click.option("--from", "from_target", metavar="TARGET", shell_complete=complete("targets"),
              help="Restore from the copy on this target (default: one away from the primary's location, "
                   "object storage first).")
@click.option("--json", "as_json", is_flag=True, help="Print the drill record as JSON instead of the summary.")
@click.pass_context
def drill(ctx: click.Context, dataset: str, from_target: str | None, as_json: bool) -> None:
    """Restore drill (SOP-19 §8.3): restore all of DATASET from one copy into scratch, verify it, and
    record RTO and RPO, actual against target (form QEF-19-03). Exit 0 when both targets are met."""
    from agent import recording, scratch
    from agent.drill import DrillError, after_action, choose_copy, run_drill
    from agent.lock import RunLock
    from agent.models import DrillStatus
    from agent.progress import Progress

    config = load(ctx)
    (chosen,) = select(config, (dataset,), ())
    try:
        spec = choose_copy(chosen, from_target)
    except DrillError as error:
        raise UsageError(str(error)) from error
    fleet_check(config, (spec.target.name,))
    with locked(ctx, RunLock(config.agent.state_dir, note=f"drill {dataset} from {spec.target.name}"),
                "the drill did not start."):
        recording.preflight(config, write_records=True)
        try:
            result = run_drill(config, chosen, spec, Progress.for_terminal(as_json))
        finally:
            scratch.cleanup_all()
        record, recorded = recording.record_drill(config, result)
    if as_json:
        click.echo(json.dumps(record, ensure_ascii=False, indent=2))
    else:
        click.echo(after_action(result, record["record_no"], record["agent"]))
    warn(recorded.warning)
    if result.status == DrillStatus.INTERRUPTED:
        ctx.exit(EXIT_AGENT)
    ctx.exit(EXIT_OK if result.status == DrillStatus.PASS else EXIT_BREACH)


@click.command()
@_dataset_option
@_target_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def inventory(ctx: click.Context, datasets: tuple[str, ...], targets: tuple[str, ...], as_json: bool) -> None:
    """List every copy of every dataset: where, what medium, reachable or why not, last backup,
    size, snapshots. Fast: no checksums, no restic check. Writes no records."""
    from agent.inventory import build_inventory, inventory_table

    config = load(ctx)
    entries = build_inventory(config, select(config, datasets, targets), targets)
    if as_json:
        click.echo(json.dumps(entries, ensure_ascii=False, indent=2))
        return
    click.echo(inventory_table(entries))
