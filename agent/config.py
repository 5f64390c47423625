"""Load and validate targets.yaml into typed objects.

Validation runs in two passes: the JSON schema (agent/schema.yaml) for shape, then cross-field
rules (durations, references, per-kind keys, secrets by reference only). Every problem from both
passes is collected and raised at once as ConfigError naming the file and the key path.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import yaml

from agent.config_env import Unexpanded, expand_variables, unset_problems
from agent.config_values import key_path, poisoned_values
from agent.config_yaml import MAX_BYTES, YamlRefused, control_character_problems, load_yaml
from agent.errors import ConfigError
from agent.units import DURATION_HINT, SIZE_HINT, parse_duration, parse_size, short_repr

DEFAULT_CONFIG_PATHS = ("/etc/backup-agent/targets.yaml", "targets.yaml")
DEFAULT_STATE_DIR = "/var/lib/backup-agent"
DEFAULT_METRICS_FILE = "/var/lib/prometheus/node-exporter/backup_agent.prom"
DEFAULT_SCRATCH_DIR = "/var/tmp/backup-agent"

# Keys each target kind accepts beyond kind/medium/location.
TARGET_KIND_KEYS = {
    "local": {"require_mount", "mountpoint"},
    "ssh": {"host", "port", "user", "key_file", "known_hosts", "connect_timeout"},
    "s3": {"endpoint", "region", "bucket", "path_style", "credentials_file", "profile", "sample_bytes",
           "connect_timeout", "min_retention"},
}
TARGET_KIND_REQUIRED = {"local": set(), "ssh": {"host", "user", "key_file", "known_hosts"}, "s3": {"bucket"}}
# Media on which a local copy is usually removable: require_mount defaults to true there.
REMOVABLE_MEDIA = {"ssd", "hdd", "usb", "tape"}
# Keys that would put a secret inline; the fix is always a reference.
INLINE_SECRET_KEYS = {"password", "secret", "secret_key", "access_key", "aws_secret_access_key", "passphrase", "token"}
FORMS_BY_KIND = {"local": {"files", "restic"}, "ssh": {"files", "restic"}, "s3": {"objects", "restic"}}


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
    name: str
    kind: str
    medium: str
    location: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def require_mount(self) -> bool:
        return bool(self.options.get("require_mount", self.medium.casefold() in REMOVABLE_MEDIA))


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
class RestoreTestSpec:
    every_seconds: float | None = None
    sample_files: int = 20
    sample_bytes: int = 256 * 2**20
    cycle_seconds: float = 30 * 86400


@dataclass(frozen=True)
class Dataset:
    name: str
    process: Process
    primary: CopySpec
    copies: tuple[CopySpec, ...]
    policy: Policy
    restore_test: RestoreTestSpec
    description: str = ""

    @property
    def all_copies(self) -> tuple[CopySpec, ...]:
        return (self.primary, *self.copies)


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
    problems = list(duplicates or []) + _schema_problems(document)
    environ = os.environ if environ is None else environ
    expanded, variable_problems, unset = expand_variables(document, environ)
    # A variable's value is held to the same rules as the file's own text (no newline in a path).
    problems += variable_problems + poisoned_values(expanded)
    refused = [] if tolerate_unset else [u for u in unset if reads_targets or u.where.startswith("agent.")]
    problems += unset_problems(refused, environ)
    problems += _semantic_problems(expanded)
    if problems:
        raise ConfigError(str(path), sorted(dict.fromkeys(problems)))
    config = _build(expanded, path)
    problems = _scratch_problems(config)
    if problems:
        raise ConfigError(str(path), problems)
    return dataclasses.replace(config, unexpanded=tuple(unset)) if unset else config


def _scratch_problems(config: Config) -> list[str]:
    """The third pass, on resolved paths: restore tests write into agent.scratch_dir, so it must not
    lie in (or contain) any local copy of any dataset. Lexical; the restore checks real paths again."""
    scratch = os.path.normpath(config.agent.scratch_dir)
    problems = []
    for dataset in config.datasets.values():
        for spec in dataset.all_copies:
            if spec.target.kind != "local":
                continue
            where = f"datasets.{dataset.name}.{'primary' if spec.index < 0 else f'copies[{spec.index}]'}.path"
            copy = os.path.normpath(spec.path)
            if scratch == copy or scratch.startswith(copy.rstrip(os.sep) + os.sep):
                problems.append(f"agent.scratch_dir: {scratch} lies inside {where} ({copy}); restore tests would "
                                "write into that copy: set agent.scratch_dir elsewhere")
            elif copy.startswith(scratch.rstrip(os.sep) + os.sep):
                problems.append(f"agent.scratch_dir: {scratch} contains {where} ({copy}); restore tests would "
                                "write beside that copy: set agent.scratch_dir elsewhere")
    return problems


@cache
def _schema() -> dict:
    return yaml.safe_load(resources.files("agent").joinpath("schema.yaml").read_text(encoding="utf-8"))


# Integers are strict: JSON Schema counts 3.0 as an integer, but `copies: 3.0` or `concurrency: 4.0`
# would reach a thread pool or the records store as a float.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)),
)


def _schema_problems(document: dict) -> list[str]:
    problems = []
    for error in _Validator(_schema()).iter_errors(document):
        problems += _schema_problem(error)
    return problems


def _schema_problem(error: jsonschema.ValidationError) -> list[str]:
    """Given one schema error, return its problems in the user's words, naming the key path."""
    where = key_path(error.absolute_path)
    instance, expected = error.instance, error.validator_value
    if error.validator == "additionalProperties":
        allowed = error.schema.get("properties", {})
        return [_unknown_key(key_path([*error.absolute_path, key]), key, sorted(allowed))
                for key in instance if key not in allowed]
    if "propertyNames" in error.schema_path:
        return [f"{where}: name {short_repr(instance)} must be 1 to 64 lower-case letters, digits, '-', '_' or '.', "
                "starting with a letter or digit"]
    hint = f" ({error.schema['description']})" if error.schema.get("description") else ""
    messages = {
        "required": lambda: f"{error.message.replace(' is a required property', '')} is required",
        "enum": lambda: f"{short_repr(instance)} is not allowed; expected one of: {', '.join(map(str, expected))}",
        "type": lambda: (f"expected {' or '.join(expected) if isinstance(expected, list) else expected}, "
                         f"got {type(instance).__name__}{hint}"),
        "minProperties": lambda: "must define at least one entry",
        "minimum": lambda: f"{short_repr(instance)} is below the minimum of {expected}{hint}",
        "maximum": lambda: f"{short_repr(instance)} is above the maximum of {expected}{hint}",
        "minLength": lambda: f"must not be empty{hint}",
        "maxLength": lambda: f"is longer than {expected} characters",
    }
    message = messages.get(error.validator, lambda: short_repr(error.message)[1:-1])()
    return [f"{where}: {message}"]


def _unknown_key(where: str, key: str, allowed: list[str]) -> str:
    if key.lower() in INLINE_SECRET_KEYS:
        return (f"{where}: secrets are never written inline; use password_file, password_command "
                "or password_env (S3 keys: credentials_file or profile)")
    return f"{where}: unknown key; expected one of: {', '.join(allowed)}"


def _check_duration(problems: list[str], where: str, value: Any) -> None:
    if value is None:
        return
    try:
        seconds = parse_duration(value)
    except ValueError as error:
        problems.append(f"{where}: {error}")
        return
    if seconds <= 0:
        problems.append(f"{where}: must be a positive duration ({DURATION_HINT}), got {short_repr(value)}")


def _semantic_problems(document: dict) -> list[str]:
    """The second pass: what a schema cannot say. Tolerates shapes the schema already rejected."""
    problems: list[str] = []
    agent = document.get("agent") if isinstance(document.get("agent"), dict) else {}
    for key in ("command_timeout", "run_budget", "read_data_cycle", "schedule_interval", "rehash_every"):
        _check_duration(problems, f"agent.{key}", agent.get(key))

    processes = document.get("processes") if isinstance(document.get("processes"), dict) else {}
    for name, process in processes.items():
        if not isinstance(process, dict):
            continue
        for key in ("rpo", "rto"):
            value = process.get(key)
            if key == "rpo" and isinstance(value, str | int | float) and not isinstance(value, bool):
                try:
                    if parse_duration(value) == 0:
                        problems.append(
                            f"processes.{name}.rpo: 0 cannot be verified (nothing is ever that fresh); SOP-19's "
                            "即时 (immediate) maps to the tightest interval the backup job achieves, e.g. "
                            "rpo: 15m with sop_rpo: 即时"
                        )
                        continue
                except ValueError:
                    pass
            _check_duration(problems, f"processes.{name}.{key}", value)

    targets = document.get("targets") if isinstance(document.get("targets"), dict) else {}
    for name, target in targets.items():
        if not isinstance(target, dict) or not isinstance(target.get("kind"), str) \
                or target["kind"] not in TARGET_KIND_KEYS:
            continue
        kind = target["kind"]
        common = {"kind", "medium", "location"}
        for key in sorted(set(target) - common - TARGET_KIND_KEYS[kind]):
            if key in _schema()["properties"]["targets"]["additionalProperties"]["properties"]:
                problems.append(f"targets.{name}.{key}: not a key of kind {kind}; "
                                f"{kind} takes: {', '.join(sorted(TARGET_KIND_KEYS[kind] | common))}")
        for key in sorted(TARGET_KIND_REQUIRED[kind] - set(target)):
            problems.append(f"targets.{name}.{key}: required for kind {kind}")
        _check_duration(problems, f"targets.{name}.connect_timeout", target.get("connect_timeout"))
        _check_duration(problems, f"targets.{name}.min_retention", target.get("min_retention"))
        if "sample_bytes" in target:
            _check_size(problems, f"targets.{name}.sample_bytes", target["sample_bytes"])
    problems += _spelling_problems(targets)

    datasets = document.get("datasets") if isinstance(document.get("datasets"), dict) else {}
    for name, dataset in datasets.items():
        if not isinstance(dataset, dict):
            continue
        process = dataset.get("process")
        if isinstance(process, str) and process not in processes:
            problems.append(f"datasets.{name}.process: unknown process {short_repr(process)}; "
                            f"defined processes: {', '.join(sorted(processes)) or '(none)'}")
        entries = [("primary", dataset.get("primary"))]
        copies = dataset.get("copies") if isinstance(dataset.get("copies"), list) else []
        entries += [(f"copies[{i}]", c) for i, c in enumerate(copies)]
        seen: dict[tuple, str] = {}
        for where_suffix, copy in entries:
            if not isinstance(copy, dict):
                continue
            where = f"datasets.{name}.{where_suffix}"
            target_name = copy.get("target")
            target = targets.get(target_name) if isinstance(target_name, str) else None
            if isinstance(target_name, str) and target is None:
                problems.append(f"{where}.target: unknown target {short_repr(target_name)}; "
                                f"defined targets: {', '.join(sorted(targets)) or '(none)'}")
            form = copy.get("form")
            if isinstance(target, dict) and isinstance(target.get("kind"), str) and target["kind"] in FORMS_BY_KIND \
                    and form in ("files", "restic", "objects"):
                if form not in FORMS_BY_KIND[target["kind"]]:
                    problems.append(f"{where}.form: form {short_repr(form)} is not available on a {target['kind']} target; "
                                    f"use one of: {', '.join(sorted(FORMS_BY_KIND[target['kind']]))}")
            secret_keys = [k for k in ("password_file", "password_command", "password_env") if k in copy]
            if form == "restic" and not secret_keys:
                problems.append(f"{where}: a restic copy needs password_file, password_command or password_env")
            if len(secret_keys) > 1:
                problems.append(f"{where}: give only one of {', '.join(secret_keys)}")
            if form != "restic" and secret_keys:
                problems.append(f"{where}.{secret_keys[0]}: only restic copies take a password")
            if form != "restic" and "snapshot_filter" in copy:
                problems.append(f"{where}.snapshot_filter: only restic copies have snapshots")
            if form != "restic" and copy.get("replica"):
                problems.append(f"{where}.replica: only restic copies can be replicas of a repository (same id); "
                                "a plain copy is compared by its storage alone")
            if form == "restic" and "stamp" in copy:
                problems.append(f"{where}.stamp: restic copies take their time from snapshots; remove stamp")
            problems += _stamp_problems(where, copy.get("stamp"))
            # repr: any of these may still be a list or a mapping the schema has refused.
            identity = tuple(repr(copy.get(k)) for k in ("target", "form", "path", "snapshot_filter"))
            if identity in seen:
                problems.append(f"{where}: duplicate of {seen[identity]} (same target, form and path)")
            else:
                seen[identity] = where
        restore = dataset.get("restore_test")
        if isinstance(restore, dict):
            for key in ("every", "cycle"):
                _check_duration(problems, f"datasets.{name}.restore_test.{key}", restore.get(key))
            if "sample_bytes" in restore:
                _check_size(problems, f"datasets.{name}.restore_test.sample_bytes", restore["sample_bytes"])
    return problems


def _spelling_problems(targets: dict) -> list[str]:
    """3-2-1 counts media and locations by their exact text, so `office` and `Office` would be two
    sites (and `ssd` and `SSD` two media): spellings that differ only in case, spaces or
    punctuation are refused rather than counted apart."""
    problems = []
    for key in ("medium", "location"):
        first: dict[str, tuple[str, str]] = {}
        for name, target in targets.items():
            value = target.get(key) if isinstance(target, dict) else None
            if not isinstance(value, str):
                continue
            folded = re.sub(r"[\W_]+", "", value.casefold())
            seen = first.setdefault(folded, (name, value))
            if seen[1] != value:
                problems.append(f"targets.{name}.{key}: {short_repr(value)} and targets.{seen[0]}.{key} "
                                f"{short_repr(seen[1])} differ only in case, spaces or punctuation; 3-2-1 would "
                                f"count them as two {'media' if key == 'medium' else 'locations'}: write them the same")
    return problems


def _stamp_problems(where: str, stamp: Any) -> list[str]:
    """A stamp is a file inside the copy: an absolute or `..` stamp would date the copy by a file
    that is not part of it (and one on the primary would make every copy look as fresh as it)."""
    if not isinstance(stamp, str) or not stamp:
        return []
    parts = PurePosixPath(stamp).parts
    if stamp.startswith("/") or ".." in parts or not parts or parts == (".",):
        return [f"{where}.stamp: {short_repr(stamp)} is not a file inside the copy; give a path relative to "
                "the copy's path, such as .last-sync"]
    return []


def _check_size(problems: list[str], where: str, value: Any) -> None:
    try:
        if parse_size(value) <= 0:
            problems.append(f"{where}: must be a positive size ({SIZE_HINT})")
    except ValueError as error:
        problems.append(f"{where}: {error}")


def _policy(raw: dict | None, base: Policy) -> Policy:
    raw = raw or {}
    return Policy(
        copies=raw.get("copies", base.copies),
        media=raw.get("media", base.media),
        offsite=raw.get("offsite", base.offsite),
        immutable=raw.get("immutable", base.immutable),
        zero_errors=raw.get("zero_errors", base.zero_errors),
    )


def _copy(dataset: str, role: str, index: int, raw: dict, targets: dict[str, Target]) -> CopySpec:
    return CopySpec(
        dataset=dataset,
        role=role,
        index=index,
        target=targets[raw["target"]],
        form=raw["form"],
        path=raw["path"],
        stamp=raw.get("stamp"),
        password=SecretRef(raw.get("password_file"), raw.get("password_command"), raw.get("password_env")),
        snapshot_filter=dict(raw.get("snapshot_filter") or {}),
        immutable=bool(raw.get("immutable", False)),
        replica=bool(raw.get("replica", False)),
    )


def _build(document: dict, path: Path) -> Config:
    base_dir = path.parent.resolve()

    def resolve(value: str | None, default: str) -> Path:
        # Relative paths in the file are relative to the file, so a config can travel with its data.
        # ${VAR} is already expanded (agent/config_env.py).
        chosen = Path(os.path.expanduser(value or default))
        return chosen if chosen.is_absolute() else base_dir / chosen

    raw_agent = document.get("agent") or {}
    notify = raw_agent.get("notify") or {}
    state_dir = resolve(raw_agent.get("state_dir"), DEFAULT_STATE_DIR)
    agent = AgentSettings(
        state_dir=state_dir,
        metrics_file=resolve(raw_agent.get("metrics_file"), DEFAULT_METRICS_FILE),
        scratch_dir=resolve(raw_agent.get("scratch_dir"), DEFAULT_SCRATCH_DIR),
        records_db=resolve(raw_agent.get("records_db"), str(state_dir / "records.sqlite")),
        operator=str(raw_agent.get("operator", "")),
        company=str(raw_agent.get("company", "")),
        host=str(raw_agent.get("host") or socket.gethostname()),
        concurrency=raw_agent.get("concurrency", 4),
        command_timeout_seconds=parse_duration(raw_agent.get("command_timeout", "1h")),
        run_budget_seconds=parse_duration(raw_agent.get("run_budget", "6h")),
        read_data_cycle_seconds=parse_duration(raw_agent.get("read_data_cycle", "30d")),
        schedule_interval_seconds=parse_duration(raw_agent.get("schedule_interval", "1d")),
        rehash_every_seconds=parse_duration(raw_agent.get("rehash_every", "30d")),
        hash_workers=raw_agent.get("hash_workers", max(2, os.cpu_count() or 2)),
        pushgateway=raw_agent.get("pushgateway"),
        notify_url_file=str(resolve(notify["url_file"], "")) if notify.get("url_file") else None,
        notify_url_env=notify.get("url_env"),
    )
    policy = _policy(document.get("policy"), Policy())
    processes = {
        name: Process(name, raw.get("name", name), parse_duration(raw["rpo"]), parse_duration(raw["rto"]),
                      raw.get("sop_rpo"))
        for name, raw in document["processes"].items()
    }
    targets = {}
    for name, raw in document["targets"].items():
        options = {k: v for k, v in raw.items() if k not in ("kind", "medium", "location")}
        for key in ("key_file", "known_hosts", "credentials_file", "mountpoint"):
            if key in options:
                options[key] = str(resolve(options[key], ""))
        targets[name] = Target(name, raw["kind"], raw["medium"], raw["location"], options)
    datasets = {}
    for name, raw in document["datasets"].items():
        def with_paths(copy: dict) -> dict:
            copy = dict(copy)
            if targets[copy["target"]].kind == "local":
                copy["path"] = str(resolve(copy["path"], ""))
            if copy.get("password_file"):
                copy["password_file"] = str(resolve(copy["password_file"], ""))
            return copy

        restore = raw.get("restore_test") or {}
        datasets[name] = Dataset(
            name=name,
            process=processes[raw["process"]],
            primary=_copy(name, "primary", -1, with_paths(raw["primary"]), targets),
            copies=tuple(_copy(name, "backup", i, with_paths(c), targets) for i, c in enumerate(raw.get("copies") or [])),
            policy=_policy(raw.get("policy"), policy),
            restore_test=RestoreTestSpec(
                every_seconds=parse_duration(restore["every"]) if "every" in restore else None,
                sample_files=restore.get("sample_files", 20),
                sample_bytes=parse_size(restore.get("sample_bytes", "256MiB")),
                cycle_seconds=parse_duration(restore.get("cycle", "30d")),
            ),
            description=raw.get("description", ""),
        )
    return Config(path, agent, policy, processes, targets, datasets)
