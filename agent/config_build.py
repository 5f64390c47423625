"""Build the typed configuration (agent.config_model) from a targets.yaml document that passed
validation: defaults filled in, durations and sizes parsed, paths on this machine resolved against
the config's folder (${VAR} is already expanded, agent.config_env), each target's keys typed by
its kind (agent.targets.KINDS)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from agent import config_recovery as recovery
from agent.agent_name import agent_name_from
from agent.config_model import (
    DEFAULT_METRICS_FILE,
    DEFAULT_SCRATCH_DIR,
    DEFAULT_STATE_DIR,
    AgentSettings,
    AgentSpec,
    AnchorSettings,
    AnomalySpec,
    Config,
    CopySpec,
    Dataset,
    Policy,
    Process,
    RecordsSettings,
    RestoreTestSpec,
    SecretRef,
    Target,
)
from agent.records_url import is_shared_url
from agent.targets import path_keys
from agent.units import parse_duration, parse_size


class _Resolver:
    """Relative paths in the file are relative to the file, so a config can travel with its data."""

    def __init__(self, config_path: Path):
        self.base_dir = config_path.parent.resolve()

    def __call__(self, value: str | None, default: str) -> Path:
        chosen = Path(os.path.expanduser(value or default))
        return chosen if chosen.is_absolute() else self.base_dir / chosen


def build(document: dict, path: Path) -> Config:
    resolve = _Resolver(path)
    agent = _agent(document.get("agent") or {}, resolve)
    policy = _policy(document.get("policy"), Policy())
    anomaly_defaults = recovery.anomaly(document.get("anomaly"), AnomalySpec())
    processes = {
        name: Process(name, raw.get("name", name), parse_duration(raw["rpo"]), parse_duration(raw["rto"]),
                      raw.get("sop_rpo"))
        for name, raw in document["processes"].items()
    }
    agents = _agents(document.get("agents") or {})
    only = next(iter(agents)) if len(agents) == 1 else None
    targets = {name: _target(name, raw, resolve, only) for name, raw in document["targets"].items()}
    datasets = {name: _dataset(name, raw, processes, targets, policy, resolve, anomaly_defaults)
                for name, raw in document["datasets"].items()}
    return Config(path, agent, policy, processes, targets, datasets, records=_records(document.get("records") or {}),
                  agents=agents)


def _agents(raw: dict) -> dict[str, AgentSpec]:
    return {name: AgentSpec(name, str(spec.get("description", "")),
                            parse_duration(spec.get("interval", "1d")), parse_duration(spec.get("grace", "8h")))
            for name, spec in raw.items() for spec in [spec or {}]}


def _records(raw: dict) -> RecordsSettings:
    from agent.records.anchors import DEFAULT_PREFIX, DEFAULT_RETAIN, normal_prefix, parse_retention

    anchor = raw.get("anchor")
    if not anchor:
        return RecordsSettings()
    retain = anchor.get("retain", DEFAULT_RETAIN)
    years, seconds = parse_retention(retain)
    return RecordsSettings(AnchorSettings(anchor["target"], normal_prefix(anchor.get("prefix", DEFAULT_PREFIX)),
                                          retain, years, seconds))


def _agent(raw: dict, resolve: _Resolver) -> AgentSettings:
    notify = raw.get("notify") or {}
    state_dir = resolve(raw.get("state_dir"), DEFAULT_STATE_DIR)
    # A shared store is reached by URL; the records are then kept in the local store first (the outbox).
    shared = raw.get("records_db") if is_shared_url(raw.get("records_db")) else None
    host = str(raw.get("host") or socket.gethostname())
    return AgentSettings(
        state_dir=state_dir,
        metrics_file=resolve(raw.get("metrics_file"), DEFAULT_METRICS_FILE),
        scratch_dir=resolve(raw.get("scratch_dir"), DEFAULT_SCRATCH_DIR),
        records_db=resolve(None if shared else raw.get("records_db"), str(state_dir / "records.sqlite")),
        # One targets.yaml serves every agent of a fleet: there each host says who it is.
        name=str(raw.get("name") or agent_name_from(os.environ.get("BACKUP_AGENT_NAME") or host)),
        records_url=shared,
        records_password_file=resolve(raw["records_password_file"], "") if raw.get("records_password_file") else None,
        operator=str(raw.get("operator", "")),
        company=str(raw.get("company", "")),
        host=host,
        concurrency=raw.get("concurrency", 4),
        command_timeout_seconds=parse_duration(raw.get("command_timeout", "1h")),
        run_budget_seconds=parse_duration(raw.get("run_budget", "6h")),
        read_data_cycle_seconds=parse_duration(raw.get("read_data_cycle", "30d")),
        schedule_interval_seconds=parse_duration(raw.get("schedule_interval", "1d")),
        rehash_every_seconds=parse_duration(raw.get("rehash_every", "30d")),
        hash_workers=raw.get("hash_workers", max(2, os.cpu_count() or 2)),
        pushgateway=raw.get("pushgateway"),
        notify_url_file=str(resolve(notify["url_file"], "")) if notify.get("url_file") else None,
        notify_url_env=notify.get("url_env"),
    )


def _policy(raw: dict | None, base: Policy) -> Policy:
    raw = raw or {}
    return Policy(
        copies=raw.get("copies", base.copies),
        media=raw.get("media", base.media),
        offsite=raw.get("offsite", base.offsite),
        immutable=raw.get("immutable", base.immutable),
        zero_errors=raw.get("zero_errors", base.zero_errors),
    )


def _target(name: str, raw: dict, resolve: _Resolver, only_agent: str | None) -> Target:
    options = {k: v for k, v in raw.items() if k not in ("kind", "medium", "location", "agent", "credit_for")}
    for key in path_keys():
        if key in options:
            options[key] = str(resolve(options[key], ""))
    credit = parse_duration(raw["credit_for"]) if raw.get("credit_for") is not None else None
    target = Target(name, raw["kind"], raw["medium"], raw["location"], options, raw.get("agent") or only_agent, credit)
    target.settings  # noqa: B018 - typed now, so a kind's refusal surfaces while loading, not mid-run
    return target


def _dataset(name: str, raw: dict, processes: dict[str, Process], targets: dict[str, Target], policy: Policy,
             resolve: _Resolver, anomaly_defaults: AnomalySpec) -> Dataset:
    def copy(role: str, index: int, written: dict) -> CopySpec:
        target = targets[written["target"]]
        return _copy(name, role, index, written, target, resolve)

    restore = raw.get("restore_test") or {}
    return Dataset(
        name=name,
        process=processes[raw["process"]],
        primary=copy("primary", -1, raw["primary"]),
        copies=tuple(copy("backup", i, c) for i, c in enumerate(raw.get("copies") or [])),
        policy=_policy(raw.get("policy"), policy),
        restore_test=RestoreTestSpec(
            every_seconds=parse_duration(restore["every"]) if "every" in restore else None,
            sample_files=restore.get("sample_files", 20),
            sample_bytes=parse_size(restore.get("sample_bytes", "256MiB")),
            cycle_seconds=parse_duration(restore.get("cycle", "30d")),
            validate=recovery.validators(restore.get("validate"), resolve),
        ),
        description=raw.get("description", ""),
        anomaly=recovery.anomaly(raw.get("anomaly"), anomaly_defaults),
    )


def _copy(dataset: str, role: str, index: int, raw: dict[str, Any], target: Target, resolve: _Resolver) -> CopySpec:
    path = str(resolve(raw["path"], "")) if target.paths_on_this_machine else raw["path"]
    password_file = str(resolve(raw["password_file"], "")) if raw.get("password_file") else raw.get("password_file")
    return CopySpec(
        dataset=dataset,
        role=role,
        index=index,
        target=target,
        form=raw["form"],
        path=path,
        stamp=raw.get("stamp"),
        password=SecretRef(password_file, raw.get("password_command"), raw.get("password_env")),
        snapshot_filter=dict(raw.get("snapshot_filter") or {}),
        immutable=bool(raw.get("immutable", False)),
        replica=bool(raw.get("replica", False)),
    )
