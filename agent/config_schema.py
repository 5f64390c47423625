"""The first pass over targets.yaml: its shape, by the JSON Schema.

The schema is agent/schema.yaml with each target kind's keys added from that kind's options type
(agent.targets.KINDS), so a kind's keys are written once. Every schema error becomes a problem in
the user's words, naming the key path.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources

import jsonschema
import yaml

from agent import targets
from agent.config_values import key_path
from agent.units import short_repr

# Keys that would put a secret inline; the fix is always a reference.
INLINE_SECRET_KEYS = {"password", "secret", "secret_key", "access_key", "aws_secret_access_key", "passphrase", "token"}

# Integers are strict: JSON Schema counts 3.0 as an integer, but `copies: 3.0` or `concurrency: 4.0`
# would reach a thread pool or the records store as a float.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)),
)


def schema_file() -> dict:
    """agent/schema.yaml as written: everything but the kinds' own keys."""
    return yaml.safe_load(resources.files("agent").joinpath("schema.yaml").read_text(encoding="utf-8"))


@cache
def schema() -> dict:
    """The whole schema of targets.yaml (do not modify: shared; config_show hands out copies)."""
    whole = copy.deepcopy(schema_file())
    target = whole["properties"]["targets"]["additionalProperties"]
    kinds = targets.schema_properties()
    target["properties"] = {"kind": kinds.pop("kind"), **target["properties"], **kinds}
    return whole


def target_schema_keys() -> frozenset[str]:
    return frozenset(schema()["properties"]["targets"]["additionalProperties"]["properties"])


def schema_problems(document: dict) -> list[str]:
    problems = []
    for error in _Validator(schema()).iter_errors(document):
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
