"""The KINDS table in agent/targets, the kinds' options types, the schema and the capabilities agree.

Knowledge of a target kind lives in one row and one module: its keys (typed, with defaults) are
the options type's fields, from which the schema's target keys, per-kind validation, ${VAR}
expansion, `config check` and `config show` are derived. These tests hold the pieces together,
so a new kind (one module, one row) cannot leave one of them behind."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import yaml

import checks
from agent import config_schema
from agent.config import Target
from agent.targets import (
    COMMON_KEYS,
    FLEET_KEYS,
    KINDS,
    all_keys,
    handle_class,
    open_target,
    path_keys,
    schema_properties,
)
from agent.targets.base import CAPABILITIES, TargetContext, TargetHandle, UnsupportedTarget
from agent.targets.local import LocalOptions
from agent.targets.options import KindOptions, Value, option
from agent.targets.options import schema_properties as merge_properties
from agent.targets.s3 import S3Options
from agent.targets.ssh import SshOptions

AGENT = Path(config_schema.__file__).parent
SCHEMA_FILE = yaml.safe_load((AGENT / "schema.yaml").read_text(encoding="utf-8"))
# Which optional method each capability promises.
CAPABILITY_METHODS = {"can_fetch": "fetch", "can_tell_storage": "storage_identity",
                      "can_remove_restic_lock": "_remove_restic_lock", "can_prove_immutability": "immutability"}
NETWORK_LIBRARIES = {"paramiko", "boto3", "botocore"}


@pytest.mark.parametrize("name", list(KINDS))
def test_a_row_names_its_module_options_and_handle(name):
    kind = KINDS[name]
    assert kind.name == name
    assert kind.module == f"agent.targets.{name}", "a kind's handle lives in the module named after it"
    assert issubclass(kind.handle, TargetHandle) and issubclass(kind.options, KindOptions)
    assert kind.options.__module__ == kind.module, "a kind's options sit beside its handle"
    assert dataclasses.is_dataclass(kind.options) and kind.options.__dataclass_params__.frozen
    assert set(kind.forms) <= set(SCHEMA_FILE["$defs"]["copy"]["properties"]["form"]["enum"])
    assert not set(kind.keys) & COMMON_KEYS


def test_every_form_the_schema_knows_lives_on_some_kind():
    forms = {form for kind in KINDS.values() for form in kind.forms}
    assert forms == set(SCHEMA_FILE["$defs"]["copy"]["properties"]["form"]["enum"])


def test_the_schema_target_keys_are_the_common_keys_and_every_kinds_keys():
    written = SCHEMA_FILE["properties"]["targets"]["additionalProperties"]["properties"]
    assert set(written) == (COMMON_KEYS | FLEET_KEYS) - {"kind"}, "per-kind keys belong to the kinds' options types"
    whole = config_schema.schema()["properties"]["targets"]["additionalProperties"]
    assert set(whole["properties"]) == COMMON_KEYS | FLEET_KEYS | all_keys()
    assert whole["properties"]["kind"] == {"enum": list(KINDS)}
    assert set(whole["required"]) == COMMON_KEYS
    for kind in KINDS.values():
        for key in kind.keys:
            assert whole["properties"][key] == schema_properties()[key]


def test_a_key_two_kinds_describe_differently_is_refused():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class One(KindOptions):
        port: int = option({"type": "integer"}, default=1)

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Two(KindOptions):
        port: str = option({"type": "string"}, default="1")

    with pytest.raises(ValueError, match="key port is described differently by kinds one and two"):
        merge_properties({"one": One, "two": Two})


def test_required_keys_are_the_fields_without_default():
    assert KINDS["local"].required == frozenset()
    assert KINDS["ssh"].required == {"host", "user", "key_file", "known_hosts"}
    assert KINDS["s3"].required == {"bucket"}


def test_path_keys_are_expanded_and_resolved_and_files_are_checked():
    assert set(path_keys()) == {"mountpoint", "key_file", "known_hosts", "credentials_file"}
    assert set(path_keys(Value.FILE)) == {"key_file", "known_hosts", "credentials_file"}


@pytest.mark.parametrize("cls", [*(kind.handle for kind in KINDS.values()), UnsupportedTarget])
def test_capabilities_say_which_optional_methods_a_kind_implements(cls):
    assert set(CAPABILITY_METHODS) == set(CAPABILITIES)
    for capability, method in CAPABILITY_METHODS.items():
        implemented = getattr(cls, method) is not getattr(TargetHandle, method)
        assert getattr(cls, capability) is implemented, f"{cls.__name__}.{capability} must say whether it has {method}"


def test_capabilities_of_each_kind():
    def held(kind: str) -> set[str]:
        return {name for name in CAPABILITIES if getattr(handle_class(kind), name)}

    assert held("local") == held("ssh") == {"can_fetch", "can_tell_storage", "can_remove_restic_lock"}
    assert held("s3") == set(CAPABILITIES)
    assert held("webdav") == set(), "a kind this build does not know can do nothing"


def test_supports_refuses_a_name_that_is_not_a_capability():
    with pytest.raises(ValueError, match="not target capabilities: can_fly"):
        handle_class("s3").supports(["can_fly"])


def test_every_check_requires_only_known_capabilities():
    for module in checks.COPY_CHECKS.values():
        assert set(getattr(module, "REQUIRES", ())) <= set(CAPABILITIES), module.ID


@pytest.mark.parametrize("kind, expected", [("s3", True), ("local", False), ("ssh", False), (None, True)])
def test_immutability_applies_where_the_handle_can_prove_it(kind, expected):
    assert ("immutability" in {m.ID for m in checks.applicable("restic", "backup", kind)}) is expected


def test_an_unknown_kind_opens_as_unsupported():
    handle = open_target(Target("dav", "webdav", "nas", "office"), TargetContext(None, 0.0, 0.0, 1, 1.0))
    assert isinstance(handle, UnsupportedTarget)
    assert not handle.probe("/x", require_tree=True).ok


@pytest.mark.parametrize("kind, written, medium, expected", [
    ("local", {}, "ssd", LocalOptions(require_mount=True)),
    ("local", {}, "cloud-vm", LocalOptions(require_mount=False)),
    ("local", {"require_mount": False, "mountpoint": "/mnt/a"}, "hdd", LocalOptions(require_mount=False,
                                                                                   mountpoint="/mnt/a")),
    ("ssh", {"host": "h", "user": "u", "key_file": "/k", "known_hosts": "/kh"}, "nas",
     SshOptions(host="h", user="u", key_file="/k", known_hosts="/kh", port=22, connect_timeout=15.0)),
    ("ssh", {"host": "h", "user": "u", "key_file": "/k", "known_hosts": "/kh", "port": 2222,
             "connect_timeout": "1m30s"}, "nas",
     SshOptions(host="h", user="u", key_file="/k", known_hosts="/kh", port=2222, connect_timeout=90.0)),
    ("s3", {"bucket": "b"}, "object-storage",
     S3Options(bucket="b", connect_timeout=10.0, sample_bytes=256 * 2**20, min_retention=30 * 86400.0)),
    ("s3", {"bucket": "b", "sample_bytes": "1GiB", "min_retention": "90d", "path_style": True}, "object-storage",
     S3Options(bucket="b", sample_bytes=2**30, min_retention=90 * 86400.0, path_style=True)),
])
def test_a_targets_settings_are_typed_with_defaults(kind, written, medium, expected):
    assert Target("t", kind, medium, "here", written).settings == expected


def test_settings_refuse_what_the_kind_requires():
    with pytest.raises(ValueError, match="a ssh target needs host, key_file, known_hosts, user"):
        Target("t", "ssh", "nas", "here", {}).settings  # noqa: B018


@pytest.mark.parametrize("kind, local", [("local", True), ("ssh", False), ("s3", False), ("webdav", False)])
def test_only_local_copies_have_paths_on_this_machine(kind, local):
    assert Target("t", kind, "ssd", "here").paths_on_this_machine is local


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in tree.body:  # module level only: imports inside a function load when it runs
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_loading_a_config_imports_no_network_library():
    """paramiko and boto3 take most of a second to import: they load when a target is opened, never
    for `config check`, `records` or `report`. Followed through every agent module imported at
    module level from agent.config."""
    seen: set[str] = set()
    pending = ["agent.config"]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        path = AGENT.parent.joinpath(*module.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        if not path.exists():
            continue  # a name imported from a module, not a module
        imports = _top_level_imports(path)
        assert not {name.split(".")[0] for name in imports} & NETWORK_LIBRARIES, module
        pending += [name for name in imports if name.split(".")[0] in ("agent", "checks")]
    assert "agent.targets.ssh" in seen and "agent.targets.s3" in seen
    assert "agent.targets.ssh_session" not in seen and "agent.targets.s3_client" not in seen


@dataclasses.dataclass(frozen=True, kw_only=True)
class DavOptions(KindOptions):
    url: str = option({"type": "string", "minLength": 1})
    token_file: str = option({"type": "string", "minLength": 1}, value=Value.FILE)
    read_timeout: float = option({"$ref": "#/$defs/duration"}, default=20.0, value=Value.DURATION)


class DavTarget(UnsupportedTarget):
    def __init__(self, target, context):
        super().__init__(target, context, "a toy kind")


@pytest.fixture
def dav_kind(monkeypatch):
    """A kind added the way a real one is: its options, its handle, one row."""
    from agent import targets

    monkeypatch.setitem(targets.KINDS, "dav", targets.Kind("dav", DavOptions, DavTarget, forms=("files",)))
    config_schema.schema.cache_clear()
    yield
    config_schema.schema.cache_clear()


def dav_document(**dav) -> dict:
    return {
        "processes": {"p": {"rpo": "1h", "rto": "4h"}},
        "targets": {"here": {"kind": "local", "medium": "cloud-vm", "location": "sgp", "require_mount": False},
                    "dav": {"kind": "dav", "medium": "nas", "location": "office", **dav}},
        "datasets": {"d": {"process": "p", "primary": {"target": "here", "form": "files", "path": "/srv"},
                           "copies": [{"target": "dav", "form": "files", "path": "/backup"}]}},
    }


def test_a_new_kind_is_one_module_and_one_row(dav_kind, tmp_path):
    from agent.config import parse_config
    from agent.config_show import effective_document
    from agent.errors import ConfigError

    config = parse_config(dav_document(url="https://dav.lan", token_file="${DIR}/dav.token", read_timeout="1m"),
                          tmp_path / "targets.yaml", environ={"DIR": "creds"})
    target = config.targets["dav"]
    assert target.settings == DavOptions(url="https://dav.lan", token_file=str(tmp_path / "creds/dav.token"),
                                         read_timeout=60.0)
    assert isinstance(open_target(target, TargetContext(None, 0.0, 0.0, 1, 1.0)), DavTarget)
    assert effective_document(config)["targets"]["dav"]["read_timeout"] == "1m"
    with pytest.raises(ConfigError) as refused:
        parse_config(dav_document(url="https://dav.lan", read_timeout="0s", bucket="b", colour="red"),
                     tmp_path / "targets.yaml")
    problems = "\n".join(refused.value.problems)
    for expected in ("targets.dav.token_file: required for kind dav", "targets.dav.read_timeout: must be a positive",
                     "targets.dav.bucket: not a key of kind dav", "targets.dav.colour: unknown key"):
        assert expected in problems
    with pytest.raises(ConfigError, match="form 'restic' is not available on a dav target"):
        document = dav_document(url="u", token_file="t")
        document["datasets"]["d"]["copies"][0].update(form="restic", password_env="PW")
        parse_config(document, tmp_path / "targets.yaml")
