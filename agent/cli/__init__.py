"""The command line. Exceptions become messages and exit codes here and only here.

Exit codes: 0 every selected dataset compliant; 1 a breach or a failed check; 2 usage or
configuration error (nothing checked, nothing written); 3 the agent itself failed; 75
(EX_TEMPFAIL) another run holds the lock STATE_DIR/run.lock — this run checked and recorded
nothing, try again later (agent/lock.py; a killed run's lock never blocks).

This module holds the group, its global options and main(); the commands live by job in
verify (verify, drill, inventory), records, config, report (report, metrics serve), demo and
manpage, with what they share in common.
"""

from __future__ import annotations

import logging
import sys

import click

from agent import __version__
from agent.cli import anomaly, config, demo, fleet, manpage, records, report, verify
from agent.cli.common import EXIT_AGENT, EXIT_OK, EXIT_USAGE
from agent.errors import AgentError, ConfigError

log = logging.getLogger("backup-agent")


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


def _configure_logging(ctx: click.Context) -> None:
    from agent import logs

    settings = ctx.find_root().obj
    logs.configure(settings["verbose"], settings["quiet"], settings["log_json"])



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


for _command in (verify.verify, verify.drill, verify.inventory, config.config_group, records.records,
                 report.metrics_group, demo.demo, report.report, manpage.man, anomaly.anomaly, fleet.fleet):
    cli.add_command(_command)
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

