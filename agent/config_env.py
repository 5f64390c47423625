"""Environment variables in targets.yaml: `${NAME}` (or `$NAME`) in the keys that name a path.

One targets.yaml serves every unit and cron: systemd's LoadCredential= puts each unit's secrets
in its own $CREDENTIALS_DIRECTORY, and cron sets it to /etc/backup-agent/credentials, so the
file writes `password_file: "${CREDENTIALS_DIRECTORY}/restic.pass"`.

Expanded, and only here (PATH_KEYS): agent.state_dir, metrics_file, scratch_dir, records_db,
records_password_file, notify.url_file;
targets' keys that name a file or directory on this machine (agent.targets.path_keys: key_file,
known_hosts, credentials_file, mountpoint); a copy's path, stamp, password_file and
snapshot_filter.path. Every other value is taken as written: names, hosts and
URLs never hold a path, and password_command is handed to restic as written (a shell it starts
expands its own variables).

A variable that is unset or empty is an error naming it and the key path: left as text, it would
be resolved relative to the config's folder and a run would read the wrong file. `$$` is a
literal `$`; a `$` not followed by `{`, `$` or a name stays as it is (`/share$/x`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.config_values import key_path
from agent.targets import path_keys

AGENT_PATH_KEYS = ("state_dir", "metrics_file", "scratch_dir", "records_db", "records_password_file")
COPY_PATH_KEYS = ("path", "stamp", "password_file")
# `${` followed by anything but a name and `}` is malformed: the user meant a variable.
_REFERENCE = re.compile(r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)|(?P<bad>\{))")
_HINTS = {
    "CREDENTIALS_DIRECTORY": "systemd sets it for units with LoadCredential=; by hand or from cron set "
                             "CREDENTIALS_DIRECTORY=/etc/backup-agent/credentials",
}


@dataclass(frozen=True)
class Unexpanded:
    """A value left as written because its variable is unset or empty (only for `config check --offline`)."""

    where: str
    variable: str


def expand_variables(document: Any, environ: Mapping[str, str]) -> tuple[Any, list[str], list[Unexpanded]]:
    """Given a parsed targets.yaml, return (a copy with every variable of PATH_KEYS expanded,
    problems with malformed references, variables unset or empty). A value with an unset
    variable is left as written. Shapes the schema refuses are left alone."""
    if not isinstance(document, dict):
        return document, [], []
    expanded = dict(document)
    problems: list[str] = []
    unset: list[Unexpanded] = []

    def expand_keys(node: Any, parts: list, keys: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        node = dict(node)
        for key in keys:
            if isinstance(node.get(key), str):
                node[key] = _expand(node[key], key_path([*parts, key]), environ, problems, unset)
        return node

    expanded["agent"] = expand_keys(document.get("agent"), ["agent"], AGENT_PATH_KEYS)
    if isinstance(expanded["agent"], dict) and isinstance(expanded["agent"].get("notify"), dict):
        expanded["agent"]["notify"] = expand_keys(expanded["agent"]["notify"], ["agent", "notify"], ("url_file",))
    if isinstance(document.get("targets"), dict):
        expanded["targets"] = {name: expand_keys(target, ["targets", name], path_keys())
                               for name, target in document["targets"].items()}
    if isinstance(document.get("datasets"), dict):
        expanded["datasets"] = {name: _expand_dataset(dataset, ["datasets", name], expand_keys)
                                for name, dataset in document["datasets"].items()}
    if expanded["agent"] is None:
        del expanded["agent"]
    return expanded, problems, unset


def _expand_dataset(dataset: Any, parts: list, expand_keys) -> Any:
    if not isinstance(dataset, dict):
        return dataset
    dataset = dict(dataset)

    def expand_copy(copy: Any, where: list) -> Any:
        copy = expand_keys(copy, where, COPY_PATH_KEYS)
        if isinstance(copy, dict) and isinstance(copy.get("snapshot_filter"), dict):
            copy["snapshot_filter"] = expand_keys(copy["snapshot_filter"], [*where, "snapshot_filter"], ("path",))
        return copy

    if "primary" in dataset:
        dataset["primary"] = expand_copy(dataset["primary"], [*parts, "primary"])
    if isinstance(dataset.get("copies"), list):
        dataset["copies"] = [expand_copy(copy, [*parts, "copies", index])
                             for index, copy in enumerate(dataset["copies"])]
    return dataset


def _expand(text: str, where: str, environ: Mapping[str, str], problems: list[str],
            unset: list[Unexpanded]) -> str:
    missing: list[str] = []

    def replace(match: re.Match) -> str:
        if match.group("bad"):
            problems.append(f"{where}: '${{' must be followed by a variable name and '}}', as in "
                            "${CREDENTIALS_DIRECTORY}/restic.pass; write $$ for a literal $")
            return match.group()
        name = match.group("braced") or match.group("bare")
        if name is None:
            return "$"
        value = environ.get(name, "")
        if not value:
            missing.append(name)
            return match.group()
        return value

    result = _REFERENCE.sub(replace, text)
    unset += [Unexpanded(where, name) for name in dict.fromkeys(missing)]
    return text if missing else result


def unset_problems(unset: list[Unexpanded], environ: Mapping[str, str]) -> list[str]:
    """One error per variable that is unset or empty: its name, the key paths that use it and the fix."""
    return [f"{first}: ${{{name}}} {'is set but empty' if name in environ else 'is not set'}{also}; "
            + _HINTS.get(name, f"set {name} in the environment of every command (and of the unit), or write the "
                               "path out")
            for name, first, also in _by_variable(unset)]


def not_checked(unset: list[Unexpanded]) -> list[str]:
    """One line per variable left as written by `config check --offline`."""
    return [f"{first}: ${{{name}}} is not set here{also}" for name, first, also in _by_variable(unset)]


def _by_variable(unset: list[Unexpanded]) -> list[tuple[str, str, str]]:
    """Return (variable, first key path using it, " (also used by …)"), in document order."""
    places: dict[str, list[str]] = {}
    for entry in unset:
        places.setdefault(entry.variable, []).append(entry.where)
    found = []
    for name, wheres in places.items():
        others = wheres[1:6] + ([f"and {len(wheres) - 6} more"] if len(wheres) > 6 else [])
        found.append((name, wheres[0], f" (also used by {', '.join(others)})" if others else ""))
    return found
