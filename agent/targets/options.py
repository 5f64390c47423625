"""How a target kind describes its keys in targets.yaml: one frozen options class per kind.

Each field of a kind's options class is one key of a target of that kind: its name, its typed
default (durations already seconds, sizes already bytes; no default: the key is required), its
JSON Schema fragment and how its text becomes the typed value. Config validation, the schema's
target keys, `${VAR}` expansion, `config check` and `config show` all read these fields, so a
kind's keys are written once, here, in its own module.

Pure: no I/O, no import of paramiko or boto3 (config loading reads these without opening a target).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any, TypeVar

from agent.units import DURATION_HINT, SIZE_HINT, parse_duration, parse_size, short_repr

DURATION_SCHEMA = {"$ref": "#/$defs/duration"}
SIZE_SCHEMA = {"$ref": "#/$defs/size"}


class Value(Enum):
    """How a key's written value becomes its typed value."""

    AS_WRITTEN = "as written"  # the schema's type is the value's type (strings, integers, booleans)
    DURATION = "duration"  # 30s, 4h, PT4H → seconds (positive)
    SIZE = "size"  # 256MiB → bytes (positive)
    FILE = "file"  # a file on this machine a run reads: ${VAR} expanded, relative to the config's folder
    DIRECTORY = "directory"  # a directory on this machine: expanded and resolved like FILE

    @property
    def is_path(self) -> bool:
        return self in (Value.FILE, Value.DIRECTORY)


_REQUIRED = object()


def option(schema: Mapping[str, Any], *, default: Any = _REQUIRED, value: Value = Value.AS_WRITTEN) -> Any:
    """Declare one key of a kind: its JSON Schema fragment, typed default (none: required) and conversion."""
    metadata = {"schema": dict(schema), "value": value}
    if default is _REQUIRED:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True, kw_only=True)
class KindOptions:
    """Base of every kind's options: the keys beyond kind, medium and location, typed."""

    def complete(self, medium: str) -> KindOptions:
        """Fill defaults that depend on the target's medium (local: require_mount). Default: none."""
        return self


Options = TypeVar("Options", bound=KindOptions)


def keys(options_type: type[KindOptions]) -> dict[str, dataclasses.Field]:
    """Return the kind's keys, in declaration order, with their fields."""
    return {f.name: f for f in fields(options_type)}


def required_keys(options_type: type[KindOptions]) -> frozenset[str]:
    return frozenset(name for name, f in keys(options_type).items()
                     if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


def path_keys(options_type: type[KindOptions], *values: Value) -> tuple[str, ...]:
    """Return the keys that name a path on this machine (of the given kinds of path: default both)."""
    wanted = values or (Value.FILE, Value.DIRECTORY)
    return tuple(name for name, f in keys(options_type).items() if f.metadata["value"] in wanted)


def value_problem(value: Value, written: Any) -> str | None:
    """Given a key's conversion and its written value, return what is wrong with it (None: fine).

    Only durations and sizes are judged (an absent duration is fine): every other shape is the
    schema's to refuse."""
    if value is Value.DURATION and written is not None:
        return _positive(parse_duration, written, f"must be a positive duration ({DURATION_HINT}), got "
                                                  f"{short_repr(written)}")
    if value is Value.SIZE:
        return _positive(parse_size, written, f"must be a positive size ({SIZE_HINT})")
    return None


def _positive(parse: Callable[[Any], float], written: Any, refusal: str) -> str | None:
    try:
        return refusal if parse(written) <= 0 else None
    except ValueError as error:
        return str(error)


def key_problems(kind: str, options_type: type[KindOptions], written: Mapping[str, Any], where: str,
                 common: frozenset[str], known: frozenset[str]) -> list[str]:
    """Given a target's keys as written, return what its kind refuses: a key of another kind (one
    in `known`; a key no kind has is the schema's "unknown key") and a required key missing.
    `where` is the target's key path (targets.NAME)."""
    own = set(keys(options_type))
    problems = [f"{where}.{key}: not a key of kind {kind}; {kind} takes: {', '.join(sorted(own | common))}"
                for key in sorted(set(written) - common - own) if key in known]
    problems += [f"{where}.{key}: required for kind {kind}"
                 for key in sorted(required_keys(options_type) - set(written))]
    return problems


def build_options(kind: str, options_type: type[Options], written: Mapping[str, Any], medium: str) -> Options:
    """Given a target's keys as written (validated, paths resolved), return its typed options.
    Raise ValueError when a required key is missing or a value cannot be converted."""
    values = {}
    for key, f in keys(options_type).items():
        if key not in written:
            continue
        kind = f.metadata["value"]
        if kind is Value.DURATION:
            values[key] = parse_duration(written[key])
        elif kind is Value.SIZE:
            values[key] = parse_size(written[key])
        else:
            values[key] = written[key]
    missing = required_keys(options_type) - set(values)
    if missing:
        raise ValueError(f"a {kind} target needs {', '.join(sorted(missing))}")
    return options_type(**values).complete(medium)  # type: ignore[return-value]


def schema_properties(options_types: Mapping[str, type[KindOptions]]) -> dict[str, dict[str, Any]]:
    """Given {kind: options type}, return the JSON Schema properties of every kind's keys. A key
    two kinds share must be described the same way by both (one key, one meaning in targets.yaml).
    Raise ValueError."""
    properties: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    for kind, options_type in options_types.items():
        for key, f in keys(options_type).items():
            fragment = f.metadata["schema"]
            if key in properties and properties[key] != fragment:
                raise ValueError(f"key {key} is described differently by kinds {owner[key]} and {kind}")
            properties.setdefault(key, fragment)
            owner.setdefault(key, kind)
    return properties


def shown_defaults(options: KindOptions, written: Mapping[str, Any],
                   duration: Callable[[float], Any], size: Callable[[int], Any]) -> dict[str, Any]:
    """Return the keys a target left to their defaults (and that have one), as they would be written."""
    shown = {}
    for key, f in keys(type(options)).items():
        current = getattr(options, key)
        if key in written or current is None:
            continue
        kind = f.metadata["value"]
        shown[key] = duration(current) if kind is Value.DURATION else size(current) if kind is Value.SIZE else current
    return shown
