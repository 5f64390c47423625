"""agent.restic.commands as a table: each builder's arguments → the restic command line. What restic
does with them is in the integration tests (tests/integration/test_checks_restic.py, test_restore.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import SecretRef
from agent.errors import SecretError
from agent.restic import ResticError, ResticFailure
from agent.restic import commands as c
from agent.targets.base import ResticLocation

ID = "4bbb768f7313724e67f93cfe3827782c7eb866c9d98ec8ae4e3afdf036ce3e60"


@pytest.mark.parametrize("arguments, expected", [
    (c.snapshots_arguments(), ["--no-lock", "snapshots", "--json"]),
    (c.stats_arguments(ID), ["--no-lock", "stats", "--json", "--mode=restore-size", "--", ID]),
    (c.stats_arguments(ID, "raw-data"), ["--no-lock", "stats", "--json", "--mode=raw-data", "--", ID]),
    (c.ls_arguments(ID), ["--no-lock", "ls", "--json", "--", ID]),
    (c.ls_arguments(ID, json=False), ["--no-lock", "--quiet", "ls", "--", ID]),
    (c.cat_config_arguments(), ["--no-lock", "cat", "config"]),
    (c.check_arguments(), ["check"]),
    (c.check_arguments("3/12"), ["check", "--read-data-subset=3/12"]),
    (c.list_locks_arguments(), ["--no-lock", "list", "locks"]),
    (c.cat_lock_arguments(ID), ["--no-lock", "cat", "lock", ID]),
    (c.restore_arguments(ID, "/scratch/x"), ["restore", "--target=/scratch/x", "--", ID]),
    (c.restore_arguments(ID, "/scratch/x", verify=True), ["restore", "--target=/scratch/x", "--verify", "--", ID]),
    (c.restore_arguments(ID, "/s", ["/data/a b", "/data/-rf"]),
     ["restore", "--target=/s", "--include=/data/a b", "--include=/data/-rf", "--", ID]),
    (c.restore_arguments("--help", "-x"), ["restore", "--target=-x", "--", "--help"]),
    (c.version_arguments("/usr/bin/restic"), ["/usr/bin/restic", "version"]),
])
def test_builders(arguments, expected):
    assert arguments == expected


@pytest.mark.parametrize("arguments, locks", [
    (c.check_arguments(), True),
    (c.restore_arguments(ID, "/s"), True),
    (c.snapshots_arguments(), False),
    (c.ls_arguments(ID, json=False), False),
    (c.cat_lock_arguments(ID), False),
])
def test_which_commands_take_a_lock(arguments, locks):
    assert c.takes_lock(arguments) is locks


@pytest.mark.parametrize("path, pattern", [
    ("/data/a*b?[c]\\d", "/data/a\\*b\\?\\[c]\\\\d"),  # restic's filepath.Match wildcards, escaped
    ("/data/plain name.txt", "/data/plain name.txt"),
    ("/data/{a,b}!-", "/data/{a,b}!-"),  # not wildcards to restic
    ("/data/\udcff\n", "/data/\udcff\n"),  # a byte that is not UTF-8 and a newline pass as they are
])
def test_include_pattern_matches_exactly_that_path(path, pattern):
    assert c.include_pattern(path) == pattern


LOCATION = ResticLocation("sftp:backup@nas:/volume1/restic", ("sftp.command=ssh -F /x nas",), {"A": "1"}, ("s3cr",))
BASE = ["restic", "--repo", "sftp:backup@nas:/volume1/restic", "--cache-dir", "/c", "-o", "sftp.command=ssh -F /x nas"]


@pytest.mark.parametrize("password, environ, argv, env, secrets", [
    (SecretRef(file="/etc/p"), {}, [*BASE, "--password-file", "/etc/p"], {"X": "x", "A": "1"}, ["s3cr"]),
    (SecretRef(command="pass show nas"), {}, [*BASE, "--password-command", "pass show nas"], {"X": "x", "A": "1"},
     ["s3cr"]),
    (SecretRef(env="NAS_PW"), {"NAS_PW": "hunter2"}, BASE, {"X": "x", "A": "1", "RESTIC_PASSWORD": "hunter2"},
     ["s3cr", "hunter2"]),
])
def test_invocation(password, environ, argv, env, secrets):
    started = c.invocation(LOCATION, Path("/c"), password, {"X": "x"}, environ, program="restic")
    assert (started.argv, started.env, started.secrets) == (argv, env, secrets)


def test_an_unset_password_variable_is_password_unavailable_naming_it():
    with pytest.raises(ResticError, match="NAS_PW") as raised:
        c.invocation(LOCATION, Path("/c"), SecretRef(env="NAS_PW"), {}, {}, program="restic")
    assert raised.value.kind is ResticFailure.PASSWORD_UNAVAILABLE


def test_no_password_reference_is_refused():
    with pytest.raises(SecretError):
        c.invocation(LOCATION, Path("/c"), SecretRef(), {}, {}, program="restic")


def test_the_program_is_read_when_the_command_is_built(monkeypatch):
    monkeypatch.setattr(c, "RESTIC", "/opt/restic-wrapper")
    assert c.invocation(LOCATION, Path("/c"), SecretRef(file="/p"), {}, {}).argv[0] == "/opt/restic-wrapper"
    assert c.version_arguments() == ["/opt/restic-wrapper", "version"]
