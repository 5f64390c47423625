"""Target kinds: one row per kind in KINDS, each naming its options type and its handle class
(agent.targets.base.TargetHandle). Config validation, the schema's target keys, `${VAR}` expansion,
`config check`, `config show`, open_target and the checks' applicability read the table.

A new kind is one module (its options class, its handle class with its capabilities) and one row.
Kind modules import no network library at module level (paramiko, boto3 load when a target of
their kind is opened), so loading a config stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.targets import options as kind_options
from agent.targets.base import (
    CAPABILITIES,
    Immutability,
    Probe,
    ResticLocation,
    TargetContext,
    TargetHandle,
    UnsupportedTarget,
)
from agent.targets.local import LocalOptions, LocalTarget
from agent.targets.options import KindOptions, Value
from agent.targets.s3 import S3Options, S3Target
from agent.targets.ssh import SshOptions, SshTarget

if TYPE_CHECKING:
    from agent.config import Target

__all__ = ["CAPABILITIES", "FLEET_KEYS", "KINDS", "Immutability", "Kind", "Probe", "ResticLocation", "TargetContext",
           "TargetHandle", "handle_class", "open_target"]

# Keys every target has, whatever its kind.
COMMON_KEYS = frozenset({"kind", "medium", "location"})
# Optional keys every target may have: which agent of the fleet reaches it, how long its verification is credited.
FLEET_KEYS = frozenset({"agent", "credit_for"})


@dataclass(frozen=True)
class Kind:
    """One target kind: its name in targets.yaml, typed options (its keys, agent.targets.options),
    handle class, the copy forms it can hold, and whether its copies' paths are on this machine."""

    name: str
    options: type[KindOptions]
    handle: type[TargetHandle]
    forms: tuple[str, ...]
    paths_on_this_machine: bool = False

    @property
    def module(self) -> str:
        return self.handle.__module__

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(kind_options.keys(self.options))

    @property
    def required(self) -> frozenset[str]:
        return kind_options.required_keys(self.options)

    def parse(self, written: dict[str, Any], medium: str) -> KindOptions:
        """Given a target's keys as written (validated, paths resolved), return its typed options."""
        return kind_options.build_options(self.name, self.options, written, medium)

    def problems(self, written: dict[str, Any], where: str) -> list[str]:
        """Keys of other kinds and required keys missing, for config validation."""
        return kind_options.key_problems(self.name, self.options, written, where, COMMON_KEYS | FLEET_KEYS, all_keys())


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("local", LocalOptions, LocalTarget, forms=("files", "restic"), paths_on_this_machine=True),
    Kind("ssh", SshOptions, SshTarget, forms=("files", "restic")),
    Kind("s3", S3Options, S3Target, forms=("objects", "restic")),
)}


def all_keys() -> frozenset[str]:
    """Every key some kind takes (beyond COMMON_KEYS)."""
    return frozenset(key for kind in KINDS.values() for key in kind.keys)


def key_values() -> dict[str, Value]:
    """How each kind's key is converted (a key two kinds share is described once: schema_properties)."""
    return {key: f.metadata["value"] for kind in KINDS.values() for key, f in kind_options.keys(kind.options).items()}


def path_keys(*values: Value) -> tuple[str, ...]:
    """The keys, of any kind, that name a file or directory on this machine (default: both)."""
    found: dict[str, None] = {}
    for kind in KINDS.values():
        found.update(dict.fromkeys(kind_options.path_keys(kind.options, *values)))
    return tuple(found)


def schema_properties() -> dict[str, dict[str, Any]]:
    """The JSON Schema properties of a target (agent/schema.yaml holds the common keys)."""
    return {"kind": {"enum": list(KINDS)},
            **kind_options.schema_properties({kind.name: kind.options for kind in KINDS.values()})}


def handle_class(kind: str) -> type[TargetHandle]:
    """The handle class of a kind; UnsupportedTarget for a kind this build does not know."""
    row = KINDS.get(kind)
    return row.handle if row else UnsupportedTarget


def open_target(target: Target, context: TargetContext) -> TargetHandle:
    """Given a configured target, return a handle for it. Kinds not built yet answer error, never pass."""
    row = KINDS.get(target.kind)
    if row is None:
        return UnsupportedTarget(target, context, f"target kind {target.kind!r} is not supported by this version yet; "
                                                  "copies cannot be verified")
    return row.handle(target, context)
