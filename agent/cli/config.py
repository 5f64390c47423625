"""`backup-agent config`: check, show and describe targets.yaml."""

from __future__ import annotations

import json

import click

from agent.cli.common import load
from agent.config import find_config_path
from agent.errors import ConfigError


@click.group("config")
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

    document = effective_document(load(ctx))
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        click.echo(yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=120), nl=False)


@config_group.command("schema", short_help="Print the JSON Schema of targets.yaml (for editors).")
def config_schema() -> None:
    """Print the JSON Schema of targets.yaml, for editors (VS Code: yaml.schemas) and validators."""
    from agent.config_show import json_schema

    click.echo(json.dumps(json_schema(), ensure_ascii=False, indent=2))

