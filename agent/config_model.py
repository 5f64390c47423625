"""The configuration as typed objects: what agent.config builds from targets.yaml and every
other module reads. No parsing or validation here (agent.config and its passes)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from agent.config_env import Unexpanded
from agent.targets import KINDS
from agent.targets.options import KindOptions

DEFAULT_CONFIG_PATHS = ("/etc/backup-agent/targets.yaml", "targets.yaml")
DEFAULT_STATE_DIR = "/var/lib/backup-agent"
DEFAULT_METRICS_FILE = "/var/lib/prometheus/node-exporter/backup_agent.prom"
DEFAULT_SCRATCH_DIR = "/var/tmp/backup-agent"
DEFAULT_AGENT_INTERVAL = 86400.0  # agents.NAME.interval: runs are due daily
DEFAULT_AGENT_GRACE = 8 * 3600.0  # agents.NAME.grace: as the BackupAgentNotRun alert allows


@dataclass(frozen=True)
class Policy:
    copies: int = 3
    media: int = 2
    offsite: int = 1
    immutable: int = 0
    zero_errors: bool = False

    def describe(self) -> str:
        text = f"{self.copies}-{self.media}-{self.offsite}"
        if self.immutable or self.zero_errors:
            text += f"-{self.immutable}-{0 if self.zero_errors else 'x'}"
        return text


@dataclass(frozen=True)
class Process:
    name: str
    display_name: str
    rpo_seconds: float
    rto_seconds: float
    sop_rpo: str | None = None


@dataclass(frozen=True)
class Target:
    """A place that holds copies. `options` are its kind's keys as written in targets.yaml (paths
    resolved), for `config show`; `settings` are the same keys typed, with their defaults (one
    options type per kind, agent.targets.KINDS): what the kind's handle reads."""

    name: str
    kind: str
    medium: str
    location: str
    options: dict[str, Any] = field(default_factory=dict)
    # The agent that reaches it (targets.NAME.agent; None: the one agent, whichever runs).
    agent: str | None = None
    # How long a passed verification of a copy on it is credited (None: its agent's interval + grace).
    credit_for_seconds: float | None = None

    @cached_property
    def settings(self) -> KindOptions:
        """The typed options. Raise ValueError when they are not valid for the kind (config
        validation refuses such a file first; only a Target built by hand can get here)."""
        kind = KINDS.get(self.kind)
        return kind.parse(self.options, self.medium) if kind else KindOptions()

    @property
    def require_mount(self) -> bool:
        """Whether copies must lie on a mounted, non-root filesystem (local targets; the medium decides
        when require_mount is not written). Kinds without the key never require a mount."""
        return bool(getattr(self.settings, "require_mount", False))

    @property
    def removable(self) -> bool:
        """Whether it is a disk that is unplugged by design (local `removable: true`): not mounted is
        then `offline`, credited from its last verification, not an error."""
        return bool(getattr(self.settings, "removable", False))

    @property
    def paths_on_this_machine(self) -> bool:
        """Whether its copies' paths are paths of this machine (resolved against the config's folder)."""
        kind = KINDS.get(self.kind)
        return bool(kind and kind.paths_on_this_machine)


@dataclass(frozen=True)
class SecretRef:
    """A reference to a restic password; the value itself is read only when restic runs."""

    file: str | None = None
    command: str | None = None
    env: str | None = None


@dataclass(frozen=True)
class CopySpec:
    dataset: str
    role: str  # "primary" or "backup"
    index: int  # position in `copies` (primary: -1)
    target: Target
    form: str
    path: str
    stamp: str | None = None
    password: SecretRef = field(default_factory=SecretRef)
    snapshot_filter: dict[str, Any] = field(default_factory=dict)
    immutable: bool = False
    # A byte-level replica (rsync/rclone) of another declared restic repository: same id, own storage.
    replica: bool = False

    @property
    def key(self) -> str:
        """A stable identity for state files: dataset, role/index and target."""
        return f"{self.dataset}/{self.role}{'' if self.index < 0 else self.index}/{self.target.name}"


@dataclass(frozen=True)
class Query:
    """A query a validator runs on restored data (restore_test.validate[].queries): it must return a
    row whose first value is not false, 0, empty or NULL, or exactly `expect` when given."""

    sql: str
    expect: str | None = None


@dataclass(frozen=True)
class ValidatorSpec:
    """One entry of restore_test.validate (agent.validate). `path` is a glob relative to the
    dataset's root; `command` the argv of a `command` validator."""

    type: str
    path: str | None = None
    queries: tuple[Query, ...] = ()
    command: tuple[str, ...] = ()
    timeout_seconds: float = 600.0
    run_as: str | None = None  # postgres-dump, as root: the unprivileged user the server runs as
    bin_dir: str | None = None  # postgres-dump: where initdb, pg_ctl, pg_restore and psql are

    @property
    def label(self) -> str:
        what = self.path if self.path else " ".join(self.command)
        return f"{self.type} {what}".strip()


@dataclass(frozen=True)
class RestoreTestSpec:
    every_seconds: float | None = None
    sample_files: int = 20
    sample_bytes: int = 256 * 2**20
    cycle_seconds: float = 30 * 86400
    validate: tuple[ValidatorSpec, ...] = ()


@dataclass(frozen=True)
class AnomalySpec:
    """Thresholds of the anomaly check (top-level `anomaly`, a dataset's `anomaly` overriding it;
    canaries per dataset). See checks/anomaly.py for what each one means."""

    enabled: bool = True
    canaries: tuple[str, ...] = ()
    baseline_runs: int = 30
    min_baseline: int = 5
    change_rate: float = 0.5
    spread_factor: float = 6.0
    min_files: int = 10
    entropy_bits: float = 7.5
    entropy_share: float = 0.5
    sample_files: int = 20
    sample_bytes: int = 64 * 2**20
    rename_min_files: int = 10


@dataclass(frozen=True)
class Dataset:
    name: str
    process: Process
    primary: CopySpec
    copies: tuple[CopySpec, ...]
    policy: Policy
    restore_test: RestoreTestSpec
    description: str = ""
    anomaly: AnomalySpec = field(default_factory=AnomalySpec)

    @property
    def all_copies(self) -> tuple[CopySpec, ...]:
        return (self.primary, *self.copies)


@dataclass(frozen=True)
class AgentSpec:
    """One agent of the fleet (the top-level `agents:` section): who reaches which targets, and how
    often it reports, so a copy it verified is credited for its interval plus grace and an agent
    silent for longer is flagged."""

    name: str
    description: str = ""
    interval_seconds: float = DEFAULT_AGENT_INTERVAL
    grace_seconds: float = DEFAULT_AGENT_GRACE

    @property
    def due_seconds(self) -> float:
        return self.interval_seconds + self.grace_seconds


@dataclass(frozen=True)
class AgentSettings:
    state_dir: Path
    metrics_file: Path
    scratch_dir: Path
    records_db: Path
    operator: str
    host: str
    company: str = ""
    concurrency: int = 4
    command_timeout_seconds: float = 3600.0
    run_budget_seconds: float = 6 * 3600.0
    read_data_cycle_seconds: float = 30 * 86400.0
    schedule_interval_seconds: float = 86400.0
    rehash_every_seconds: float = 30 * 86400.0
    hash_workers: int = max(2, os.cpu_count() or 2)
    pushgateway: str | None = None
    notify_url_file: str | None = None  # agent.notify: the ping URL is a secret, read when the run starts
    notify_url_env: str | None = None
    name: str = ""  # agent.name: whose chain this agent's records belong to (agent.agent_name)
    # agent.records_db as a postgresql:// URL: the shared store (records_db is then the local outbox).
    records_url: str | None = None
    records_password_file: Path | None = None


@dataclass(frozen=True)
class AnchorSettings:
    """records.anchor: where chain heads are written under S3 object lock (agent.records.anchors)."""

    target: str  # an s3 target
    prefix: str = "anchors/"  # no leading slash, one trailing slash
    retain: str | float = "5y30d"  # as written, for `config show`
    retain_years: int = 5
    retain_seconds: float = 30 * 86400.0


@dataclass(frozen=True)
class RecordsSettings:
    """The top-level `records:` section."""

    anchor: AnchorSettings | None = None


@dataclass(frozen=True)
class Config:
    path: Path
    agent: AgentSettings
    policy: Policy
    processes: dict[str, Process]
    targets: dict[str, Target]
    datasets: dict[str, Dataset]
    # Values left as written because their ${VAR} is unset: only ever non-empty for
    # `config check --offline`, which must never lead to a run.
    unexpanded: tuple[Unexpanded, ...] = ()
    records: RecordsSettings = field(default_factory=RecordsSettings)
    # The fleet (`agents:`); empty: one agent, this one, reaches every target.
    agents: dict[str, AgentSpec] = field(default_factory=dict)

    def owner(self, target: Target) -> str:
        """The name of the agent that reaches target (this agent when the file names none)."""
        return target.agent or self.agent.name

    def is_mine(self, target: Target) -> bool:
        """Whether this agent (agent.name) verifies the copies on target."""
        return self.owner(target) == self.agent.name

    def agent_spec(self, name: str) -> AgentSpec:
        """The agent's declaration; without an `agents:` section, this agent with its schedule_interval."""
        if name in self.agents:
            return self.agents[name]
        return AgentSpec(name, interval_seconds=self.agent.schedule_interval_seconds)

    def credit_seconds(self, target: Target) -> float:
        """How long a passed verification of a copy on target counts: credit_for, else its agent's
        interval plus grace."""
        if target.credit_for_seconds is not None:
            return target.credit_for_seconds
        return self.agent_spec(self.owner(target)).due_seconds
