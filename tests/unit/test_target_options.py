"""agent.targets.options: how a kind's keys are judged, typed and shown, as tables."""

from __future__ import annotations

import pytest

from agent.config_show import exact_duration, exact_size
from agent.targets import COMMON_KEYS, KINDS, all_keys
from agent.targets.options import Value, build_options, key_problems, shown_defaults, value_problem
from agent.targets.s3 import S3Options
from agent.targets.ssh import SshOptions

SSH = {"host": "h", "user": "u", "key_file": "/k", "known_hosts": "/kh"}


@pytest.mark.parametrize("value, written, problem", [
    (Value.DURATION, "30s", None),
    (Value.DURATION, 15, None),
    (Value.DURATION, None, None),  # absent: the default holds
    (Value.DURATION, "0s", "must be a positive duration"),
    (Value.DURATION, -5, "must be a positive duration"),
    (Value.DURATION, "forever", "expected a duration such as"),
    (Value.DURATION, True, "expected a duration such as"),
    (Value.DURATION, "200y", "expected a duration such as"),
    (Value.DURATION, 10**12, "not a duration the agent can honour"),
    (Value.SIZE, "256MiB", None),
    (Value.SIZE, 1, None),
    (Value.SIZE, 0, "must be a positive size"),
    (Value.SIZE, "lots", "expected a size such as"),
    (Value.SIZE, None, "expected a size such as"),
    (Value.SIZE, "2PiB", "expected a size such as"),
    (Value.SIZE, 2**51, "not a size the agent can honour"),
    (Value.AS_WRITTEN, "anything", None),  # the schema judges shapes
    (Value.FILE, 42, None),
])
def test_value_problem(value, written, problem):
    found = value_problem(value, written)
    assert (found is None) if problem is None else (problem in found), found


@pytest.mark.parametrize("kind, written, problems", [
    ("ssh", SSH, []),
    ("ssh", {**SSH, "kind": "ssh", "medium": "nas", "location": "x"}, []),
    ("ssh", {"host": "h"}, ["targets.t.key_file: required for kind ssh", "targets.t.known_hosts: required for kind ssh",
                            "targets.t.user: required for kind ssh"]),
    ("local", {"bucket": "b"}, ["targets.t.bucket: not a key of kind local; local takes: kind, location, medium, "
                                "mountpoint, removable, require_mount"]),
    ("local", {"no_such_key": 1}, []),  # no kind has it: the schema's "unknown key"
    ("s3", {"bucket": "b", "port": 22}, ["targets.t.port: not a key of kind s3; s3 takes: bucket, connect_timeout, "
                                         "credentials_file, endpoint, kind, location, medium, min_retention, "
                                         "path_style, profile, region, sample_bytes"]),
    ("s3", {}, ["targets.t.bucket: required for kind s3"]),
])
def test_key_problems(kind, written, problems):
    row = KINDS[kind]
    assert key_problems(kind, row.options, written, "targets.t", COMMON_KEYS, all_keys()) == problems


@pytest.mark.parametrize("written, expected", [
    ({**SSH}, SshOptions(**SSH)),
    ({**SSH, "connect_timeout": "PT1M"}, SshOptions(**SSH, connect_timeout=60.0)),
    ({**SSH, "connect_timeout": 2.5}, SshOptions(**SSH, connect_timeout=2.5)),
])
def test_build_options_parses_durations(written, expected):
    assert build_options("ssh", SshOptions, written, "nas") == expected


def test_build_options_refuses_a_missing_required_key_and_a_bad_value():
    with pytest.raises(ValueError, match="a s3 target needs bucket"):
        build_options("s3", S3Options, {}, "object-storage")
    with pytest.raises(ValueError, match="expected a size"):
        build_options("s3", S3Options, {"bucket": "b", "sample_bytes": "lots"}, "object-storage")


@pytest.mark.parametrize("kind, written, medium, shown", [
    ("local", {}, "hdd", {"require_mount": True, "removable": False}),
    ("local", {"require_mount": False}, "hdd", {"removable": False}),
    ("ssh", SSH, "nas", {"port": 22, "connect_timeout": "15s"}),
    ("ssh", {**SSH, "port": 2222}, "nas", {"connect_timeout": "15s"}),
    ("s3", {"bucket": "b"}, "object-storage", {"connect_timeout": "10s", "sample_bytes": "256MiB",
                                               "min_retention": "30d"}),
    ("s3", {"bucket": "b", "min_retention": "90d"}, "object-storage", {"connect_timeout": "10s",
                                                                       "sample_bytes": "256MiB"}),
])
def test_shown_defaults_are_what_a_target_left_out(kind, written, medium, shown):
    options = KINDS[kind].parse(written, medium)
    assert shown_defaults(options, written, exact_duration, exact_size) == shown
