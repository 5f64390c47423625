"""The second and third passes over targets.yaml: what a schema cannot say.

Second pass, on the document: durations and sizes, references (processes, targets), each target
kind's own keys and forms (agent.targets.KINDS), secrets by reference only, one meaning per
medium and location spelling. It tolerates shapes the schema already refused. Third pass, on the
built configuration: where restore tests write.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath
from typing import Any

from agent.config_model import Config
from agent.config_recovery import anomaly_problems, validate_problems
from agent.targets import KINDS, key_values
from agent.targets.options import Value, value_problem
from agent.units import parse_duration, short_repr

AGENT_DURATIONS = ("command_timeout", "run_budget", "read_data_cycle", "schedule_interval", "rehash_every")
SECRET_KEYS = ("password_file", "password_command", "password_env")
FORMS = ("files", "restic", "objects")


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _duration(where: str, value: Any) -> list[str]:
    problem = value_problem(Value.DURATION, value)
    return [f"{where}: {problem}"] if problem else []


def _size(where: str, value: Any) -> list[str]:
    problem = value_problem(Value.SIZE, value)
    return [f"{where}: {problem}"] if problem else []


def semantic_problems(document: dict) -> list[str]:
    """The second pass. Tolerates shapes the schema already rejected."""
    agent = _mapping(document.get("agent"))
    problems = [p for key in AGENT_DURATIONS for p in _duration(f"agent.{key}", agent.get(key))]
    problems += _records_problems(agent)
    problems += anomaly_problems("anomaly", document.get("anomaly"), top_level=True)
    processes = _mapping(document.get("processes"))
    for name, process in processes.items():
        problems += _process_problems(name, process)
    targets = _mapping(document.get("targets"))
    for name, target in targets.items():
        problems += _target_problems(name, target)
    problems += fleet_problems(document.get("agents"), targets)
    problems += primary_reach_problems(_mapping(document.get("datasets")), targets)
    problems += _spelling_problems(targets)
    for name, dataset in _mapping(document.get("datasets")).items():
        if isinstance(dataset, dict):
            problems += _dataset_problems(name, dataset, processes, targets)
    anchor = _mapping(_mapping(document.get("records")).get("anchor"))
    return problems + _anchor_problems(anchor, targets) + _anchor_overlaps(anchor, _mapping(document.get("datasets")))


def _anchor_problems(anchor: dict, targets: dict) -> list[str]:
    """records.anchor: an s3 target, a usable prefix, a retention (agent.records.anchors)."""
    from agent.records.anchors import normal_prefix, parse_retention

    problems = []
    name = anchor.get("target")
    target = targets.get(name) if isinstance(name, str) else None
    if isinstance(name, str) and target is None:
        problems.append(f"records.anchor.target: unknown target {short_repr(name)}; "
                        f"defined targets: {', '.join(sorted(targets)) or '(none)'}")
    elif isinstance(target, dict) and target.get("kind") != "s3":
        problems.append(f"records.anchor.target: {name} is a {short_repr(target.get('kind'))} target; anchors are "
                        "written under S3 object lock: name an s3 target whose bucket has object lock enabled")
    for key, parse in (("prefix", normal_prefix), ("retain", parse_retention)):
        value = anchor.get(key)
        if isinstance(value, str) or (key == "retain" and isinstance(value, int | float) and not isinstance(value, bool)):
            try:
                parse(value)
            except ValueError as error:
                problems.append(f"records.anchor.{key}: {error}")
    return problems


def _records_problems(agent: dict) -> list[str]:
    """records_db: a file, or a postgresql:// URL without a password; a password file only with a URL."""
    from agent.records_url import is_shared_url, url_problem

    value = agent.get("records_db")
    if isinstance(value, str) and "://" in value:
        problem = url_problem(value)
        if problem:
            return [f"agent.records_db: {problem}"]
    if agent.get("records_password_file") and not (isinstance(value, str) and is_shared_url(value)):
        return ["agent.records_password_file: only a shared store (records_db: postgresql://…) takes a password; "
                "remove it, or set records_db to the shared store's URL"]
    return []


def _process_problems(name: str, process: Any) -> list[str]:
    if not isinstance(process, dict):
        return []
    rpo = process.get("rpo")
    if isinstance(rpo, str | int | float) and not isinstance(rpo, bool):
        try:
            if parse_duration(rpo) == 0:
                return [f"processes.{name}.rpo: 0 cannot be verified (nothing is ever that fresh); SOP-19's "
                        "即时 (immediate) maps to the tightest interval the backup job achieves, e.g. "
                        "rpo: 15m with sop_rpo: 即时"] + _duration(f"processes.{name}.rto", process.get("rto"))
        except ValueError:
            pass
    return [p for key in ("rpo", "rto") for p in _duration(f"processes.{name}.{key}", process.get(key))]


def _target_problems(name: str, target: Any) -> list[str]:
    """A target's keys against its kind's row: keys of other kinds, required keys, and every
    duration or size any kind takes (checked wherever it is written)."""
    if not isinstance(target, dict) or not isinstance(target.get("kind"), str) or target["kind"] not in KINDS:
        return []
    where = f"targets.{name}"
    problems = KINDS[target["kind"]].problems(target, where)
    for key, value in key_values().items():
        if key in target and (value is not Value.DURATION or target[key] is not None):
            problem = value_problem(value, target[key])
            if problem:
                problems.append(f"{where}.{key}: {problem}")
    return problems


def fleet_problems(agents: Any, targets: dict) -> list[str]:
    """agents: durations; each target's agent one of them; with several agents, every target names one."""
    declared = _mapping(agents)
    problems = []
    for name, spec in declared.items():
        for key in ("interval", "grace"):
            problems += _duration(f"agents.{name}.{key}", _mapping(spec).get(key))
    names = ", ".join(sorted(declared)) or "(none)"
    for name, target in targets.items():
        if not isinstance(target, dict):
            continue
        problems += _duration(f"targets.{name}.credit_for", target.get("credit_for"))
        owner = target.get("agent")
        if isinstance(owner, str) and not declared:
            problems.append(f"targets.{name}.agent: {short_repr(owner)} names an agent, but there is no agents: "
                            f"section; declare it (agents: {{{owner}: {{interval: 1d}}}}) or remove the key")
        elif isinstance(owner, str) and owner not in declared:
            problems.append(f"targets.{name}.agent: unknown agent {short_repr(owner)}; agents: {names}")
        elif owner is None and len(declared) > 1:
            problems.append(f"targets.{name}.agent: required when agents declares several agents ({names}): "
                            "name the one that reaches this target")
        if target.get("removable") is True and target.get("require_mount") is False:
            problems.append(f"targets.{name}.require_mount: a removable disk is recognised by its mount; remove "
                            "require_mount: false (or removable: true)")
    return problems


def primary_reach_problems(datasets: dict, targets: dict) -> list[str]:
    """A files copy is compared with the primary's hashes, which its agent reads from the primary's
    target itself (over SSH, hashed there): a primary on another agent's local disk is out of reach."""
    problems = []
    for name, dataset in datasets.items():
        primary = _mapping(_mapping(dataset).get("primary"))
        where_primary = _mapping(targets.get(primary.get("target"))) if isinstance(primary.get("target"), str) else {}
        if where_primary.get("kind") != "local" or not where_primary.get("agent"):
            continue
        copies = _mapping(dataset).get("copies")
        for i, copy in enumerate(copies if isinstance(copies, list) else []):
            target = _mapping(targets.get(copy.get("target"))) if isinstance(copy, dict) and isinstance(
                copy.get("target"), str) else {}
            owner = target.get("agent")
            if copy.get("form") == "files" and owner and owner != where_primary["agent"]:
                problems.append(
                    f"datasets.{name}.copies[{i}]: a files copy is compared with the primary's hashes, but the primary "
                    f"is on local target {primary['target']} of agent {where_primary['agent']}, which agent {owner} "
                    "cannot reach; put the primary on an ssh target, or keep this copy as restic")
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


def _dataset_problems(name: str, dataset: dict, processes: dict, targets: dict) -> list[str]:
    problems = []
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
        problems += _copy_problems(where, copy, targets)
        # repr: any of these may still be a list or a mapping the schema has refused.
        identity = tuple(repr(copy.get(k)) for k in ("target", "form", "path", "snapshot_filter"))
        if identity in seen:
            problems.append(f"{where}: duplicate of {seen[identity]} (same target, form and path)")
        else:
            seen[identity] = where
    restore = dataset.get("restore_test")
    if isinstance(restore, dict):
        for key in ("every", "cycle"):
            problems += _duration(f"datasets.{name}.restore_test.{key}", restore.get(key))
        if "sample_bytes" in restore:
            problems += _size(f"datasets.{name}.restore_test.sample_bytes", restore["sample_bytes"])
        problems += validate_problems(f"datasets.{name}.restore_test.validate", restore.get("validate"))
    return problems + anomaly_problems(f"datasets.{name}.anomaly", dataset.get("anomaly"), top_level=False)


def _copy_problems(where: str, copy: dict, targets: dict) -> list[str]:
    problems = []
    target_name = copy.get("target")
    target = targets.get(target_name) if isinstance(target_name, str) else None
    if isinstance(target_name, str) and target is None:
        problems.append(f"{where}.target: unknown target {short_repr(target_name)}; "
                        f"defined targets: {', '.join(sorted(targets)) or '(none)'}")
    form = copy.get("form")
    kind = KINDS.get(target.get("kind")) if isinstance(target, dict) and isinstance(target.get("kind"), str) else None
    if kind and form in FORMS and form not in kind.forms:
        problems.append(f"{where}.form: form {short_repr(form)} is not available on a {kind.name} target; "
                        f"use one of: {', '.join(sorted(kind.forms))}")
    return problems + _form_problems(where, copy, form) + _stamp_problems(where, copy.get("stamp"))


def _form_problems(where: str, copy: dict, form: Any) -> list[str]:
    """What only restic copies take (a password, a snapshot filter, replica), and what they never do (stamp)."""
    problems = []
    secret_keys = [k for k in SECRET_KEYS if k in copy]
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


def _anchor_overlaps(anchor: dict, datasets: dict) -> list[str]:
    """The anchors' prefix must not lie in (or contain) a copy on the same bucket: the copy would
    count the anchors as its own objects."""
    from agent.records.anchors import DEFAULT_PREFIX, normal_prefix

    target, prefix = anchor.get("target"), anchor.get("prefix", DEFAULT_PREFIX)
    if not isinstance(target, str) or not isinstance(prefix, str):
        return []
    try:
        mine = normal_prefix(prefix)
    except ValueError:
        return []  # _anchor_problems says why
    problems = []
    for name, dataset in datasets.items():
        entries = [("primary", _mapping(dataset).get("primary"))]
        copies = _mapping(dataset).get("copies")
        entries += [(f"copies[{i}]", c) for i, c in enumerate(copies if isinstance(copies, list) else [])]
        for where, copy in entries:
            if not isinstance(copy, dict) or copy.get("target") != target or not isinstance(copy.get("path"), str):
                continue
            theirs = copy["path"].strip("/") + "/" if copy["path"].strip("/") else ""
            if mine.startswith(theirs) or theirs.startswith(mine):
                problems.append(f"records.anchor.prefix: {mine} overlaps datasets.{name}.{where}.path "
                                f"({copy['path']}) on target {target}; that copy would count the anchors as its "
                                "own objects: give the anchors a prefix of their own")
    return problems


def scratch_problems(config: Config) -> list[str]:
    """The third pass, on resolved paths: restore tests write into agent.scratch_dir, so it must not
    lie in (or contain) any copy on this machine. Lexical; the restore checks real paths again."""
    scratch = os.path.normpath(config.agent.scratch_dir)
    problems = []
    for dataset in config.datasets.values():
        for spec in dataset.all_copies:
            if not spec.target.paths_on_this_machine:
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
