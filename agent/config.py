"""Load and validate targets.yaml into typed objects (agent.config_model).

Validation runs in passes, each its own module: the JSON schema for shape (agent.config_schema;
agent/schema.yaml plus each target kind's keys), then cross-field rules (agent.config_rules:
durations, references, per-kind keys and forms from agent.targets.KINDS, secrets by reference
only), then building (agent.config_build) and the rules on resolved paths. Every problem of a pass
is collected and raised at once as ConfigError naming the file and the key path.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from agent.config_build import build
from agent.config_env import expand_variables, unset_problems
from agent.config_model import (
    DEFAULT_CONFIG_PATHS,
    DEFAULT_METRICS_FILE,
    DEFAULT_SCRATCH_DIR,
    DEFAULT_STATE_DIR,
    AgentSettings,
    Config,
    CopySpec,
    Dataset,
    Policy,
    Process,
    RestoreTestSpec,
    SecretRef,
    Target,
)
from agent.config_rules import scratch_problems, semantic_problems
from agent.config_schema import INLINE_SECRET_KEYS, schema_problems
from agent.config_schema import schema as _schema
from agent.config_values import poisoned_values
from agent.config_yaml import MAX_BYTES, YamlRefused, control_character_problems, load_yaml
from agent.errors import ConfigError

__all__ = ["DEFAULT_CONFIG_PATHS", "DEFAULT_METRICS_FILE", "DEFAULT_SCRATCH_DIR", "DEFAULT_STATE_DIR",
           "INLINE_SECRET_KEYS", "AgentSettings", "Config", "CopySpec", "Dataset", "Path", "Policy", "Process",
           "RestoreTestSpec", "SecretRef", "Target", "_schema", "find_config_path", "load_config", "parse_config"]


def find_config_path(explicit: str | None) -> Path:
    """Return the config path: --config, else $BACKUP_AGENT_CONFIG, else the first default that exists."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get("BACKUP_AGENT_CONFIG")
    if from_env:
        return Path(from_env)
    for candidate in DEFAULT_CONFIG_PATHS:
        if Path(candidate).exists():
            return Path(candidate)
    return Path(DEFAULT_CONFIG_PATHS[-1])


def load_config(path: str | os.PathLike, *, environ: Mapping[str, str] | None = None,
                tolerate_unset: bool = False, reads_targets: bool = True) -> Config:
    """Given a targets.yaml path, return a validated Config with ${VAR} expanded from environ (default
    os.environ). Raise ConfigError listing every problem. An unset ${VAR} is one, except: with
    tolerate_unset (`config check --offline` on another machine) anywhere, and without
    reads_targets (records, report, metrics serve: they open no target and no secret, and their
    units load no credentials) outside `agent`. Those are left as written, in Config.unexpanded."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            # Read one byte past the cap: a file that is larger (or /dev/zero) is refused unread.
            data = stream.read(MAX_BYTES + 1)
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), ["file not found; pass --config FILE or set $BACKUP_AGENT_CONFIG"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), [f"cannot read the file: {error}"]) from None
    if len(data) > MAX_BYTES:
        raise ConfigError(str(path), [f"the file is larger than {MAX_BYTES // 1024} KiB; targets.yaml is never "
                                      "that large: check that --config names the right file"])
    problems = control_character_problems(text)
    if problems:
        raise ConfigError(str(path), problems)
    try:
        document, duplicates = load_yaml(text)
    except YamlRefused as refused:
        raise ConfigError(str(path), refused.problems) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(str(path), [f"{where}not valid YAML ({problem}); check indentation and quoting"]) from None
    return parse_config(document, path, duplicates, environ=environ, tolerate_unset=tolerate_unset,
                        reads_targets=reads_targets)


def parse_config(document: Any, path: Path, duplicates: list[str] | None = None, *,
                 environ: Mapping[str, str] | None = None, tolerate_unset: bool = False,
                 reads_targets: bool = True) -> Config:
    if not isinstance(document, dict):
        raise ConfigError(str(path), ["(top level): expected a mapping with processes, targets and datasets"])
    # Values nothing can honour come first and alone: the schema's own messages would echo them.
    poisoned = poisoned_values(document)
    if poisoned:
        raise ConfigError(str(path), sorted(dict.fromkeys(list(duplicates or []) + poisoned)))
    problems = list(duplicates or []) + schema_problems(document)
    environ = os.environ if environ is None else environ
    expanded, variable_problems, unset = expand_variables(document, environ)
    # A variable's value is held to the same rules as the file's own text (no newline in a path).
    problems += variable_problems + poisoned_values(expanded)
    refused = [] if tolerate_unset else [u for u in unset if reads_targets or u.where.startswith("agent.")]
    problems += unset_problems(refused, environ)
    problems += semantic_problems(expanded)
    if problems:
        raise ConfigError(str(path), sorted(dict.fromkeys(problems)))
    config = build(expanded, path)
    problems = scratch_problems(config)
    if problems:
        raise ConfigError(str(path), problems)
    return dataclasses.replace(config, unexpanded=tuple(unset)) if unset else config
