"""Property: whatever a user writes, targets.yaml either loads into settings the agent can honour
or is refused with a readable ConfigError — never another exception, never a NaN RPO.

Hypothesis starts from valid configs (the repository's targets.yaml and a minimal one), mutates
values, keys and structure (poison scalars, deleted and duplicated keys, renamed keys, deeper
nesting), and checks both ways in: the document in-process (parse_config) and as YAML text
(load_config). Derandomized, so CI sees the same examples every run: EXAMPLES of them per test in the
unit suite (BACKUP_AGENT_PROPERTY_EXAMPLES=1000 for a deeper search before a release).
"""

from __future__ import annotations

import copy
import math
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from agent.config import Config, load_config, parse_config
from agent.errors import ConfigError
from agent.units import MAX_DURATION_SECONDS, MAX_SIZE_BYTES
from tests.support.configs import assert_readable, minimal, repository_targets

STARTS = [minimal(), repository_targets()]


@pytest.fixture(scope="module", autouse=True)
def _credentials_directory():
    """The repository's targets.yaml reads its secrets under ${CREDENTIALS_DIRECTORY}: set, so its
    mutations reach the checks behind the expansion rather than all stopping at the unset variable."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CREDENTIALS_DIRECTORY", "/etc/backup-agent/credentials")
        yield
UNWRITABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # controls and lone surrogates

POISON = st.one_of(
    st.sampled_from([
        float("nan"), float("inf"), float("-inf"), 1e300, -1e300, 10**400, -(10**400), 2**63, 2**64, 10**6,
        -1, 0, 1, 3.0, 0.5, True, False, None, [], {}, ["a"], {"a": 1}, [[["x"]]],
        "", " ", "a\0b", "\x1b[2J", "nas\n", "\ud800", "x" * 5000, "1e400", "999999999999999d",
        "P99999999999W", "9" * 400 + "TiB", "0m", "-1h", ".nan", "..", "../x", "/etc/passwd", "Bad Name",
    ]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
NUMBERS = st.one_of(st.integers(-2, 120), st.integers(-2, 120), st.integers(-3, 70000), st.integers(min_value=-(2**70), max_value=2**70), st.floats())
DURATION_TEXT = st.one_of(
    st.builds("{}{}".format, st.integers(0, 200), st.sampled_from("smhdw")),
    st.builds("{}{}".format, st.one_of(st.integers(0, 10**20), st.floats(0, 1e20)), st.sampled_from("smhdw")),
    st.builds("PT{}H".format, st.integers(0, 10**16)),
    st.builds("P{}D".format, st.floats(0, 1e16)),
)
SIZE_TEXT = st.builds("{}{}".format, st.one_of(st.integers(0, 2000), st.integers(0, 10**20), st.floats(0, 1e20)),
                      st.sampled_from(["", "B", "KiB", "MiB", "GiB", "TiB", "KB", "GB", "TB"]))
# Words a config is made of: a typo often swaps one for another.
WORDS = st.sampled_from(["ssh", "local", "s3", "files", "restic", "objects", "nas", "disk", "here", "bucket", "p",
                         "hdd", "ssd", "office", "lithera-platform", "finance-payments", ".last-sync", "sub/dir",
                         "/abs/path", "~/x", "pw"])
POISON_KEYS = st.sampled_from(["", "Bad", "n\0", "x\x1b", 1, True, None, 2.5, "n" * 70, "password", "colour",
                               "port", "stamp", "copies", "rpo", "every", "sample_bytes", "path"])


def _containers(node: Any, path: tuple = ()) -> list[tuple]:
    """Every (path to a container, key or index in it) of the document."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((path, key))
            found += _containers(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((path, index))
            found += _containers(value, (*path, index))
    return found


def _at(document: Any, path: tuple) -> Any:
    for part in path:
        document = document[part]
    return document


@st.composite
def mutated(draw: st.DrawFn) -> dict:
    document = copy.deepcopy(draw(st.sampled_from(STARTS)))
    for _ in range(draw(st.sampled_from([1, 1, 2, 3]))):
        places = _containers(document)
        leaves = [(path, key) for path, key in places if not isinstance(_at(document, path)[key], dict | list)]
        operation = draw(st.sampled_from(["perturb"] * 6 + ["replace"] * 2 + ["delete", "duplicate", "rename",
                                                                             "deepen"]))
        path, key = draw(st.sampled_from(leaves if operation == "perturb" and leaves else places))
        parent = _at(document, path)
        if operation == "perturb":
            parent[key] = draw(_like(parent[key]))
        elif operation == "replace":
            parent[key] = draw(POISON)
        elif operation == "delete":
            del parent[key]
        elif operation == "duplicate":
            if isinstance(parent, list):
                parent.append(copy.deepcopy(parent[key]))
            else:
                parent[draw(POISON_KEYS)] = copy.deepcopy(parent[key])
        elif operation == "rename" and isinstance(parent, dict):
            parent[draw(POISON_KEYS)] = parent.pop(key)
        elif operation == "deepen":
            value = parent[key]
            for _ in range(draw(st.sampled_from([1, 2, 40]))):
                value = draw(st.sampled_from([[value], {"x": value}]))
            parent[key] = value
    return document


@st.composite
def renumbered(draw: st.DrawFn) -> dict:
    """A valid config with one to four of its numbers, durations and sizes rewritten."""
    document = copy.deepcopy(draw(st.sampled_from(STARTS)))
    numeric = [(path, key) for path, key in _containers(document)
               if _is_numeric(_at(document, path)[key])]
    for path, key in draw(st.lists(st.sampled_from(numeric), min_size=1, max_size=4)):
        _at(document, path)[key] = draw(_like(_at(document, path)[key]))
    return document


def _is_numeric(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) or (
        isinstance(value, str) and (value[:1].isdigit() or value[:1] == "P"))


def _like(value: Any) -> st.SearchStrategy:
    """Values of the same kind as value, across and beyond its bounds: what a typo makes of it."""
    if isinstance(value, bool):
        return st.one_of(st.booleans(), NUMBERS)
    if isinstance(value, int | float):
        return NUMBERS
    if _is_numeric(value):
        text = SIZE_TEXT if value[-1:] == "B" else DURATION_TEXT
        return st.one_of(text, text, NUMBERS)
    return st.one_of(WORDS, st.text(st.characters(blacklist_categories=["Cc", "Cs"]), min_size=1, max_size=12), POISON)


def _assert_honourable(config: Config) -> None:
    """Every numeric setting of a loaded config is finite, typed and within the bounds it is used with."""
    def seconds(value: float | None, allow_none: bool = False) -> None:
        if value is None and allow_none:
            return
        assert isinstance(value, float) and math.isfinite(value) and 0 < value <= MAX_DURATION_SECONDS, value

    def count(value: Any, low: int, high: int) -> None:
        assert type(value) is int and low <= value <= high, value

    agent = config.agent
    count(agent.concurrency, 1, 64)
    count(agent.hash_workers, 1, 64)
    for value in (agent.command_timeout_seconds, agent.run_budget_seconds, agent.read_data_cycle_seconds,
                  agent.schedule_interval_seconds, agent.rehash_every_seconds):
        seconds(value)
    for text in (str(agent.state_dir), str(agent.metrics_file), str(agent.scratch_dir), str(agent.records_db),
                 agent.operator, agent.host):
        assert not UNWRITABLE.search(text), repr(text)
    for process in config.processes.values():
        seconds(process.rpo_seconds)
        seconds(process.rto_seconds)
    for target in config.targets.values():
        if "port" in target.options:
            count(target.options["port"], 1, 65535)
        for value in target.options.values():
            assert not isinstance(value, float) or math.isfinite(value)
            assert not isinstance(value, str) or not UNWRITABLE.search(value)
    for dataset in [*config.datasets.values()]:
        policy = dataset.policy
        count(policy.copies, 1, 100)
        count(policy.media, 1, 100)
        count(policy.offsite, 0, 100)
        count(policy.immutable, 0, 100)
        restore = dataset.restore_test
        count(restore.sample_files, 1, 10**6)
        count(restore.sample_bytes, 1, MAX_SIZE_BYTES)
        seconds(restore.every_seconds, allow_none=True)
        seconds(restore.cycle_seconds)
        for spec in dataset.all_copies:
            assert spec.path and not UNWRITABLE.search(spec.path)
            assert spec.stamp is None or (spec.stamp and not spec.stamp.startswith("/")
                                          and ".." not in spec.stamp.split("/"))


def _load(run) -> None:
    try:
        config = run()
    except ConfigError as error:
        assert_readable(error, error.path)
        event("refused")
        return
    event("loaded")
    _assert_honourable(config)


EXAMPLES = int(os.environ.get("BACKUP_AGENT_PROPERTY_EXAMPLES", "30"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(document=mutated())
def test_any_mutation_loads_honourably_or_is_refused(document: dict, tmp_path_factory) -> None:
    _load_both_ways(document, tmp_path_factory)


@PROPERTY
@given(document=renumbered())
def test_rewritten_numbers_load_within_bounds_or_are_refused(document: dict, tmp_path_factory) -> None:
    _load_both_ways(document, tmp_path_factory)


def _load_both_ways(document: dict, tmp_path_factory) -> None:
    path = tmp_path_factory.getbasetemp() / "property-targets.yaml"
    _load(lambda: parse_config(document, path))
    try:
        text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        return  # not representable as YAML (a lone surrogate): only the in-process path applies
    Path(path).write_text(text, encoding="utf-8", errors="surrogatepass")
    _load(lambda: load_config(path))
