"""targets.yaml's keys for recovery beyond bytes: restore_test.validate (application checks on
restored data, agent.validate) and anomaly (checks/anomaly.py) — their rules beyond the schema
(the second pass, agent.config_rules) and their typed form (agent.config_build)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from agent.config_model import AnomalySpec, Query, ValidatorSpec
from agent.targets.options import Value, value_problem
from agent.units import parse_duration, parse_size, short_repr

NEEDS_PATH = ("postgres-dump", "sqlite", "archive")
TAKES_QUERIES = ("postgres-dump", "sqlite")
ONLY_POSTGRES = ("run_as", "bin_dir")
SHELL = ("/bin/sh", "-c")
DEFAULT_VALIDATE_TIMEOUT = "10m"


def validate_problems(where: str, entries: Any) -> list[str]:
    """Given restore_test.validate as written, what the schema cannot say (keys by type, paths)."""
    if not isinstance(entries, list):
        return []
    problems = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        at = f"{where}[{index}]"
        kind = entry.get("type")
        problem = value_problem(Value.DURATION, entry.get("timeout"))
        if problem:
            problems.append(f"{at}.timeout: {problem}")
        if kind in NEEDS_PATH and "path" not in entry:
            problems.append(f"{at}: a {kind} validator needs path (a glob relative to the dataset's root)")
        if kind == "command" and "command" not in entry:
            problems.append(f"{at}: a command validator needs command (a list of arguments or a shell line)")
        if kind != "command" and "command" in entry:
            problems.append(f"{at}.command: only a command validator runs a command")
        if kind == "command" and "path" in entry:
            problems.append(f"{at}.path: a command validator runs in the restored tree; it takes no path")
        if kind not in TAKES_QUERIES and "queries" in entry:
            problems.append(f"{at}.queries: only postgres-dump and sqlite validators run queries")
        problems += [f"{at}.{key}: only a postgres-dump validator takes {key}" for key in ONLY_POSTGRES
                     if key in entry and kind != "postgres-dump"]
        problems += _relative(f"{at}.path", entry.get("path"))
    return problems


def anomaly_problems(where: str, raw: Any, *, top_level: bool) -> list[str]:
    """Given an anomaly mapping as written, what the schema cannot say."""
    if not isinstance(raw, dict):
        return []
    problems = []
    if "sample_bytes" in raw:
        problem = value_problem(Value.SIZE, raw["sample_bytes"])
        if problem:
            problems.append(f"{where}.sample_bytes: {problem}")
    runs, least = raw.get("baseline_runs"), raw.get("min_baseline")
    if isinstance(runs, int) and isinstance(least, int) and least > runs:
        problems.append(f"{where}.min_baseline: {least} is more than baseline_runs ({runs})")
    canaries = raw.get("canaries")
    if top_level and canaries:
        problems.append(f"{where}.canaries: canaries are files of one dataset; declare them under "
                        "datasets.NAME.anomaly.canaries")
    if isinstance(canaries, list):
        for index, canary in enumerate(canaries):
            problems += _relative(f"{where}.canaries[{index}]", canary)
    return problems


def _relative(where: str, path: Any) -> list[str]:
    if not isinstance(path, str) or not path:
        return []
    parts = PurePosixPath(path).parts
    if path.startswith("/") or ".." in parts:
        return [f"{where}: {short_repr(path)} must be relative to the dataset's root, without '..'"]
    return []


def validators(raw: list | None, resolve: Callable[[str | None, str], Path]) -> tuple[ValidatorSpec, ...]:
    """The typed validators of restore_test.validate (validated already)."""
    built = []
    for entry in raw or ():
        command = entry.get("command")
        built.append(ValidatorSpec(
            type=entry["type"],
            path=entry.get("path"),
            queries=tuple(_query(q) for q in entry.get("queries") or ()),
            command=(tuple(command) if isinstance(command, list) else (*SHELL, command)) if command else (),
            timeout_seconds=parse_duration(entry.get("timeout", DEFAULT_VALIDATE_TIMEOUT)),
            run_as=entry.get("run_as"),
            bin_dir=str(resolve(entry["bin_dir"], "")) if entry.get("bin_dir") else None,
        ))
    return tuple(built)


def _query(raw: str | dict) -> Query:
    if isinstance(raw, str):
        return Query(raw)
    expect = raw.get("expect")
    return Query(raw["sql"], None if expect is None else str(expect))


def anomaly(raw: dict | None, base: AnomalySpec) -> AnomalySpec:
    """The anomaly settings: those written over base (the top-level ones over the defaults, a
    dataset's over the top-level ones)."""
    raw = dict(raw or {})
    if "sample_bytes" in raw:
        raw["sample_bytes"] = parse_size(raw["sample_bytes"])
    if "canaries" in raw:
        raw["canaries"] = tuple(raw["canaries"])
    for key in ("change_rate", "spread_factor", "entropy_bits", "entropy_share"):
        if key in raw:
            raw[key] = float(raw[key])
    known = {f.name for f in dataclasses.fields(AnomalySpec)}
    return dataclasses.replace(base, **{k: v for k, v in raw.items() if k in known})


def shown_validators(specs: tuple[ValidatorSpec, ...], duration: Callable[[float], Any]) -> list[dict[str, Any]]:
    """restore_test.validate as `config show` prints it (a valid targets.yaml again)."""
    shown = []
    for spec in specs:
        entry: dict[str, Any] = {"type": spec.type}
        if spec.path:
            entry["path"] = spec.path
        if spec.queries:
            entry["queries"] = [q.sql if q.expect is None else {"sql": q.sql, "expect": q.expect} for q in spec.queries]
        if spec.command:
            entry["command"] = spec.command[2] if spec.command[:2] == SHELL and len(spec.command) == 3 \
                else list(spec.command)
        entry["timeout"] = duration(spec.timeout_seconds)
        entry.update({k: v for k, v in (("run_as", spec.run_as), ("bin_dir", spec.bin_dir)) if v})
        shown.append(entry)
    return shown


def shown_anomaly(spec: AnomalySpec, size: Callable[[int], Any]) -> dict[str, Any] | None:
    """A dataset's anomaly settings as `config show` prints them; None when all are the defaults."""
    if spec == AnomalySpec():
        return None
    shown = dataclasses.asdict(spec)
    shown["canaries"] = list(spec.canaries)
    shown["sample_bytes"] = size(spec.sample_bytes)
    if not shown["canaries"]:
        del shown["canaries"]
    return shown
