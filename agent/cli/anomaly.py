"""`backup-agent anomaly accept`: record that a suspect backup's mass change was legitimate."""

from __future__ import annotations

import click

from agent.cli.common import EXIT_USAGE, UsageError, complete, load, locked, select


@click.group()
def anomaly() -> None:
    """The anomaly gate (check `anomaly`): accept a legitimate mass change."""


@anomaly.command("accept")
@click.argument("dataset", shell_complete=complete("datasets"))
@click.option("--reason", required=True, metavar="TEXT", help="Why the change is legitimate (recorded).")
@click.option("--target", "targets", multiple=True, metavar="NAME", shell_complete=complete("targets"),
              help="Only the copy on this target (repeatable; default: every copy with a suspect backup).")
@click.pass_context
def accept(ctx: click.Context, dataset: str, reason: str, targets: tuple[str, ...]) -> None:
    """Accept the suspect backups of DATASET: a QEF-19-05 record per copy names who accepted which
    backup and why; the next run then passes and compares later backups with the accepted one.

    \b
    Examples:
      backup-agent anomaly accept shared-docs --reason "moved the 2025 archive to /archive (ticket 4411)"
      backup-agent anomaly accept platform-db --target nas --reason "pg_dump switched to -Fc"
    """
    from agent import recording
    from agent.anomaly.accept import NothingToAccept
    from agent.anomaly.accept import accept as accept_suspects
    from agent.lock import RunLock

    config = load(ctx)
    (chosen,) = select(config, (dataset,), ())
    unknown = [t for t in targets if t not in {c.target.name for c in chosen.copies}]
    if unknown:
        raise UsageError(f"dataset {dataset} has no backup copy on {', '.join(unknown)}")
    with locked(ctx, RunLock(config.agent.state_dir, note=f"anomaly accept {dataset}"),
                "nothing was accepted or recorded."):
        recording.preflight(config, write_records=True)
        try:
            accepted = accept_suspects(config, chosen, reason, targets)
        except NothingToAccept as error:
            click.echo(f"backup-agent: {error}", err=True)
            ctx.exit(EXIT_USAGE)
    for item in accepted:
        click.echo(f"accepted: {dataset} on {item.spec.target.name}: {item.backup.label} ({item.backup.time}) is "
                   f"now the last clean backup — record #{item.record_no}")
