"""`config show` and `config schema`: the configuration as the agent sees it, and its JSON Schema.

The effective configuration is what a run uses: defaults filled in, ${VAR} expanded, relative
paths resolved against the config's folder, each dataset's policy merged with the default. It is
itself a valid targets.yaml (durations and sizes written exactly, keys as the user writes them),
so `config show > effective.yaml` loads to the same settings.

Nothing inline in targets.yaml is a secret (the schema refuses passwords and keys), but a
password_command can carry one (`echo hunter2`), and a URL can carry a password: both are masked,
as is any value under a key named like a secret, should one ever be added.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agent import config_recovery as recovery
from agent.config import Config, CopySpec, Policy, Target
from agent.config_schema import schema
from agent.targets.options import shown_defaults

MASK = "***"
# password_file and password_env are references (a path, a variable name), never a secret.
_SECRET_KEY = re.compile(r"pass(word|phrase)|secret|token|credential|api_?key|access_key|_command$", re.I)
_REFERENCE_KEY = re.compile(r"_(file|env)$")


def json_schema() -> dict:
    """Return the JSON Schema of targets.yaml (agent/schema.yaml), for editors and validators."""
    return copy.deepcopy(schema())


def effective_document(config: Config) -> dict[str, Any]:
    """Given a loaded Config, return the effective configuration as plain data, secrets masked."""
    agent = config.agent
    document: dict[str, Any] = {
        "agent": _without_empty({
            "state_dir": str(agent.state_dir), "metrics_file": str(agent.metrics_file),
            "scratch_dir": str(agent.scratch_dir), "records_db": agent.records_url or str(agent.records_db),
            "records_password_file": str(agent.records_password_file) if agent.records_password_file else None,
            "name": agent.name, "operator": agent.operator, "company": agent.company, "host": agent.host,
            "concurrency": agent.concurrency, "command_timeout": exact_duration(agent.command_timeout_seconds),
            "run_budget": exact_duration(agent.run_budget_seconds),
            "read_data_cycle": exact_duration(agent.read_data_cycle_seconds),
            "schedule_interval": exact_duration(agent.schedule_interval_seconds),
            "rehash_every": exact_duration(agent.rehash_every_seconds), "hash_workers": agent.hash_workers,
            "pushgateway": agent.pushgateway,
        }),
        "policy": _policy(config.policy),
        "processes": {name: _without_empty({
            "name": process.display_name, "rpo": exact_duration(process.rpo_seconds),
            "rto": exact_duration(process.rto_seconds), "sop_rpo": process.sop_rpo,
        }) for name, process in config.processes.items()},
        "targets": {name: _target(target) for name, target in config.targets.items()},
        "datasets": {name: _without_empty({
            "description": dataset.description, "process": dataset.process.name,
            "primary": _copy(dataset.primary), "copies": [_copy(c) for c in dataset.copies],
            "policy": _policy(dataset.policy),
            "restore_test": _without_empty({
                "every": None if dataset.restore_test.every_seconds is None
                else exact_duration(dataset.restore_test.every_seconds),
                "sample_files": dataset.restore_test.sample_files,
                "sample_bytes": exact_size(dataset.restore_test.sample_bytes),
                "cycle": exact_duration(dataset.restore_test.cycle_seconds),
                "validate": recovery.shown_validators(dataset.restore_test.validate, exact_duration),
            }),
            "anomaly": recovery.shown_anomaly(dataset.anomaly, exact_size),
        }) for name, dataset in config.datasets.items()},
    }
    if config.agents:
        document["agents"] = {name: _without_empty({
            "description": spec.description, "interval": exact_duration(spec.interval_seconds),
            "grace": exact_duration(spec.grace_seconds)}) for name, spec in config.agents.items()}
    anchor = config.records.anchor
    if anchor is not None:
        document["records"] = {"anchor": {"target": anchor.target, "prefix": anchor.prefix, "retain": anchor.retain}}
    return mask_secrets(document)


def mask_secrets(node: Any, key: str = "") -> Any:
    """Return node with the value of every key named like a secret, and every password in a URL, masked."""
    if isinstance(node, dict):
        return {k: mask_secrets(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [mask_secrets(item, key) for item in node]
    if isinstance(node, str):
        if _SECRET_KEY.search(key) and not _REFERENCE_KEY.search(key):
            return MASK
        return _mask_url(node)
    return node


def exact_duration(seconds: float) -> str | float:
    """Return a duration that parses back to exactly seconds: 90 → 1m30s, 2592000 → 30d."""
    if seconds != int(seconds):
        return seconds
    rest, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            amount, rest = divmod(rest, size)
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"


def exact_size(size: int) -> str | int:
    """Return a size that parses back to exactly size bytes: 268435456 → 256MiB."""
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return size


def _policy(policy: Policy) -> dict[str, Any]:
    return {"copies": policy.copies, "media": policy.media, "offsite": policy.offsite,
            "immutable": policy.immutable, "zero_errors": policy.zero_errors}


def _target(target: Target) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": target.kind, "medium": target.medium, "location": target.location}
    if target.agent:
        entry["agent"] = target.agent
    if target.credit_for_seconds is not None:
        entry["credit_for"] = exact_duration(target.credit_for_seconds)
    defaults = shown_defaults(target.settings, target.options, exact_duration, exact_size)
    return {**entry, **target.options, **defaults}


def _copy(spec: CopySpec) -> dict[str, Any]:
    password = spec.password
    return _without_empty({
        "target": spec.target.name, "form": spec.form, "path": spec.path, "stamp": spec.stamp,
        "password_file": password.file, "password_command": MASK if password.command else None,
        "password_env": password.env, "snapshot_filter": spec.snapshot_filter or None, "immutable": spec.immutable,
    })


def _without_empty(entries: dict[str, Any]) -> dict[str, Any]:
    """Drop what is unset (None, "", []): the schema refuses empty strings, and absent means default."""
    return {key: value for key, value in entries.items() if value not in (None, "", [])}


def _mask_url(text: str) -> str:
    if "://" not in text or "@" not in text:
        return text
    try:
        parts = urlsplit(text)
        if parts.password is None:
            return text
        netloc = f"{parts.username}:{MASK}@{parts.netloc.rsplit('@', 1)[1]}"
    except ValueError:
        return MASK  # a URL too broken to take apart may still hold a password
    return urlunsplit(parts._replace(netloc=netloc))
