"""targets.yaml validation, seen the way a user sees it: the CLI's own main() (in this process,
tests/support/cli.invoke; the installed script as a subprocess: tests/e2e/test_cli_smoke.py).

Every malformed config must make `backup-agent --config F verify` exit 2 with a message naming
the file and the key path, list every problem at once, and leave nothing behind (no records
store, no metrics file, no state directory): a config error means nothing was checked.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import load_config
from agent.errors import ConfigError
from tests.support.cli import Completed, invoke
from tests.support.configs import REPO

INLINE_SECRET = "correct-horse-battery-staple-31337"

# A small, valid config. Relative paths resolve against the file's directory, so a run would
# create state/, metrics/ and scratch/ next to it: their absence proves nothing was written.
BASE: dict[str, Any] = {
    "agent": {
        "state_dir": "state",
        "metrics_file": "metrics/backup_agent.prom",
        "scratch_dir": "scratch",
        "operator": "王婧",
        "command_timeout": "10m",
    },
    "policy": {"copies": 3, "media": 2, "offsite": 1},
    "processes": {
        "finance-payments": {"name": "财务付款 / Finance payments", "rpo": "24h", "rto": "48h"},
        "lithera-platform": {"rpo": "1h", "rto": "4h"},
    },
    "targets": {
        "droplet": {"kind": "local", "medium": "cloud-vm", "location": "do-sgp1", "require_mount": False},
        "nas": {"kind": "local", "medium": "nas", "location": "office", "require_mount": False},
        "ssd": {"kind": "local", "medium": "ssd", "location": "office", "require_mount": False},
        "hdd": {"kind": "local", "medium": "hdd", "location": "kc-home", "require_mount": False},
    },
    "datasets": {
        "finance-records": {
            "process": "finance-payments",
            "primary": {"target": "droplet", "form": "files", "path": "droplet/finance"},
            "copies": [
                {"target": "nas", "form": "restic", "path": "nas/restic", "password_file": "restic.pass"},
                {"target": "ssd", "form": "restic", "path": "ssd/restic", "password_env": "RESTIC_PASSWORD"},
                {"target": "hdd", "form": "files", "path": "hdd/finance", "stamp": ".last-sync"},
            ],
        },
    },
}


def base() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def run_cli(config: Path, *args: str) -> Completed:
    return invoke(["--config", str(config), *args], cwd=config.parent)


def write(tmp_path: Path, document: Any = None, text: str | None = None) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(document, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    return path


def assert_nothing_written(tmp_path: Path) -> None:
    """A config error means nothing was checked and nothing written: only the config is left."""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["targets.yaml"]


# --- malformed configs: each a mutation of BASE (or raw text) and the key path the message must name


def _set(path: list, value: Any):
    def mutate(document: dict) -> None:
        node = document
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return mutate


def _delete(path: list):
    def mutate(document: dict) -> None:
        node = document
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]
    return mutate


FINANCE = ["datasets", "finance-records"]
MALFORMED = {
    "unknown-key": (_set(["agent", "colour"], "blue"), ["agent.colour", "unknown key"]),
    "unknown-key-in-copy": (_set([*FINANCE, "copies", 2, "sync_stamp"], ".x"),
                            ["datasets.finance-records.copies[2].sync_stamp", "unknown key"]),
    "unknown-target": (_set([*FINANCE, "copies", 2, "target"], "tape-library"),
                       ["datasets.finance-records.copies[2].target", "tape-library"]),
    "unknown-process": (_set([*FINANCE, "process"], "payroll"), ["datasets.finance-records.process", "payroll"]),
    "zero-rto": (_set(["processes", "finance-payments", "rto"], 0), ["processes.finance-payments.rto", "positive"]),
    "zero-timeout": (_set(["agent", "command_timeout"], "0m"), ["agent.command_timeout", "positive"]),
    "negative-rpo": (_set(["processes", "finance-payments", "rpo"], -3600), ["processes.finance-payments.rpo"]),
    "bad-duration-text": (_set(["processes", "finance-payments", "rpo"], "4 hours"),
                          ["processes.finance-payments.rpo", "4 hours"]),
    "bad-iso-duration": (_set(["processes", "lithera-platform", "rto"], "PT"), ["processes.lithera-platform.rto"]),
    "rpo-zero-immediate": (_set(["processes", "lithera-platform", "rpo"], 0),
                           ["processes.lithera-platform.rpo", "即时"]),
    "rpo-zero-text": (_set(["processes", "lithera-platform", "rpo"], "0m"),
                      ["processes.lithera-platform.rpo", "即时"]),
    "inline-password": (_set([*FINANCE, "copies", 0, "password"], INLINE_SECRET),
                        ["datasets.finance-records.copies[0].password", "inline"]),
    "missing-medium": (_delete(["targets", "nas", "medium"]), ["targets.nas", "medium", "required"]),
    "missing-datasets": (_delete(["datasets"]), ["(top level)", "datasets", "required"]),
    "missing-copy-path": (_delete([*FINANCE, "copies", 1, "path"]),
                          ["datasets.finance-records.copies[1]", "path", "required"]),
    "wrong-type-concurrency": (_set(["agent", "concurrency"], "four"), ["agent.concurrency", "integer"]),
    "wrong-type-copies": (_set([*FINANCE, "copies"], "nas"), ["datasets.finance-records.copies", "array"]),
    "wrong-type-require-mount": (_set(["targets", "hdd", "require_mount"], "maybe"),
                                 ["targets.hdd.require_mount", "boolean"]),
    "form-not-allowed": (_set([*FINANCE, "copies", 2, "form"], "objects"),
                         ["datasets.finance-records.copies[2].form", "local"]),
    "unknown-form": (_set([*FINANCE, "copies", 2, "form"], "rsync"),
                     ["datasets.finance-records.copies[2].form", "rsync"]),
    "unknown-kind": (_set(["targets", "nas", "kind"], "ftp"), ["targets.nas.kind", "ftp"]),
    "ssh-missing-host": (_set(["targets", "nas"], {"kind": "ssh", "medium": "nas", "location": "office",
                                                   "user": "backup", "key_file": "k", "known_hosts": "kh"}),
                         ["targets.nas.host", "ssh"]),
    "key-of-other-kind": (_set(["targets", "hdd", "bucket"], "b"), ["targets.hdd.bucket", "local"]),
    "restic-without-password": (_delete([*FINANCE, "copies", 0, "password_file"]),
                                ["datasets.finance-records.copies[0]", "password_file"]),
    "two-password-refs": (_set([*FINANCE, "copies", 0, "password_env"], "RESTIC_PASSWORD"),
                          ["datasets.finance-records.copies[0]", "only one"]),
    "bad-name": (_set(["targets", "Bad Name"], {"kind": "local", "medium": "ssd", "location": "x"}),
                 ["targets", "Bad Name"]),
    "policy-zero-copies": (_set(["policy", "copies"], 0), ["policy.copies"]),
    "bad-size": (_set([*FINANCE, "restore_test"], {"sample_bytes": "lots"}),
                 ["datasets.finance-records.restore_test.sample_bytes", "lots"]),
    # Restore tests write into scratch_dir: inside (or around) a copy it would change that copy.
    "scratch-inside-primary": (_set(["agent", "scratch_dir"], "droplet/finance/restores"),
                               ["agent.scratch_dir", "lies inside datasets.finance-records.primary.path"]),
    "scratch-inside-copy-written-oddly": (_set(["agent", "scratch_dir"], "hdd/x/../finance/./restores"),
                                          ["agent.scratch_dir", "lies inside datasets.finance-records.copies[2].path"]),
    "scratch-contains-copy": (_set(["agent", "scratch_dir"], "nas"),
                              ["agent.scratch_dir", "contains datasets.finance-records.copies[0].path"]),
    "replica-on-plain-copy": (_set([*FINANCE, "copies", 2, "replica"], True),
                              ["datasets.finance-records.copies[2].replica", "only restic copies"]),
    "replica-not-boolean": (_set([*FINANCE, "copies", 0, "replica"], "yes"),
                            ["datasets.finance-records.copies[0].replica", "boolean"]),
}

VALID_TEXT = yaml.safe_dump(BASE, allow_unicode=True, sort_keys=False)
RAW_MALFORMED = {
    # Two targets named nas: PyYAML would silently keep the second.
    "duplicate-target": (VALID_TEXT.replace(
        "targets:\n", "targets:\n  nas:\n    kind: local\n    medium: hdd\n    location: attic\n", 1),
        ["targets.nas: duplicate key 'nas'", "first defined on line"]),
    "duplicate-dataset": (VALID_TEXT + "  finance-records:\n    process: finance-payments\n"
                          "    primary: {target: droplet, form: files, path: x}\n",
                          ["datasets.finance-records: duplicate key 'finance-records'"]),
    "invalid-yaml": (VALID_TEXT.replace("policy:\n", "policy: [copies: 3\n", 1), ["not valid YAML", "line"]),
    "tab-indentation": ("processes:\n\tp: {rpo: 1h, rto: 4h}\n", ["not valid YAML"]),
    "top-level-list": ("- processes\n- targets\n", ["(top level)"]),
    "empty-file": ("", ["(top level)"]),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_config_exits_2_naming_file_and_key(tmp_path: Path, case: str) -> None:
    mutate, expected = MALFORMED[case]
    document = base()
    mutate(document)
    config = write(tmp_path, document)
    result = run_cli(config, "verify")
    assert result.returncode == 2, result.stderr
    assert str(config) in result.stderr
    for fragment in expected:
        assert fragment in result.stderr, f"{fragment!r} not in:\n{result.stderr}"
    assert INLINE_SECRET not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize("case", sorted(RAW_MALFORMED))
def test_malformed_text_exits_2(tmp_path: Path, case: str) -> None:
    text, expected = RAW_MALFORMED[case]
    config = write(tmp_path, text=text)
    result = run_cli(config, "verify")
    assert result.returncode == 2, result.stderr
    assert str(config) in result.stderr
    for fragment in expected:
        assert fragment in result.stderr, f"{fragment!r} not in:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    assert_nothing_written(tmp_path)


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = invoke(["--config", str(tmp_path / "nope.yaml"), "verify"], cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr and "not found" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    document = base()
    document["agent"]["colour"] = "blue"
    document["datasets"]["finance-records"]["copies"][2]["target"] = "tape-library"
    document["processes"]["finance-payments"]["rto"] = "two days"
    config = write(tmp_path, document)
    for command in (["verify"], ["config", "check"]):
        result = run_cli(config, *command)
        assert result.returncode == 2
        assert "3 configuration error(s)" in result.stderr
        for where in ("agent.colour", "datasets.finance-records.copies[2].target", "processes.finance-payments.rto"):
            assert where in result.stderr
    assert_nothing_written(tmp_path)


def test_config_check_exit_codes(tmp_path: Path) -> None:
    # --offline: BASE names files and local paths that do not exist here (this test is about the file).
    valid = write(tmp_path, base())
    result = run_cli(valid, "config", "check", "--offline")
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout and "1 datasets" in result.stdout
    assert_nothing_written(tmp_path)
    document = base()
    document["datasets"]["finance-records"]["process"] = "payroll"
    invalid = write(tmp_path, document)
    result = run_cli(invalid, "config", "check", "--offline")
    assert result.returncode == 2
    assert "datasets.finance-records.process" in result.stderr


def test_duplicate_key_is_reported_with_other_problems(tmp_path: Path) -> None:
    """A duplicate key does not hide the schema problems found in the same file."""
    text = RAW_MALFORMED["duplicate-target"][0].replace("operator:", "operater:", 1)
    result = run_cli(write(tmp_path, text=text), "config", "check")
    assert result.returncode == 2
    assert "targets.nas: duplicate key 'nas'" in result.stderr and "agent.operater" in result.stderr


def test_duplicate_key_deep_in_a_copy_names_its_path(tmp_path: Path) -> None:
    text = VALID_TEXT.replace("stamp: .last-sync", "stamp: .last-sync\n      stamp: .other", 1)
    result = run_cli(write(tmp_path, text=text), "config", "check")
    assert result.returncode == 2
    assert "datasets.finance-records.copies[2].stamp: duplicate key 'stamp'" in result.stderr


@pytest.mark.parametrize(("text", "seconds"), [
    ("30m", 1800), ("4h", 14400), ("1d", 86400), ("7d", 604800), ("PT4H", 14400), ("P1D", 86400),
    ("PT30M", 1800), (90, 90),
])
def test_durations_accepted(tmp_path: Path, text: Any, seconds: float) -> None:
    document = base()
    document["processes"]["finance-payments"]["rpo"] = text
    document["processes"]["finance-payments"]["rto"] = text
    config = load_config(write(tmp_path, document))
    process = config.processes["finance-payments"]
    assert process.rpo_seconds == process.rto_seconds == seconds


def test_durations_accepted_by_the_cli(tmp_path: Path) -> None:
    document = base()
    document["processes"] = {f"p{i}": {"rpo": value, "rto": value}
                             for i, value in enumerate(["30m", "4h", "1d", "PT4H", "P1D"])}
    document["datasets"]["finance-records"]["process"] = "p3"
    result = run_cli(write(tmp_path, document), "config", "check", "--offline")
    assert result.returncode == 0, result.stderr
    assert "5 processes" in result.stdout


def test_immediate_rpo_is_mapped_not_zero(tmp_path: Path) -> None:
    """SOP-19's 即时 is written as the tightest achievable interval, keeping the SOP's wording."""
    document = base()
    document["processes"]["lithera-platform"] = {"rpo": "15m", "rto": "1h", "sop_rpo": "即时"}
    config = load_config(write(tmp_path, document))
    assert config.processes["lithera-platform"].rpo_seconds == 900
    assert config.processes["lithera-platform"].sop_rpo == "即时"


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, base()))
    assert config.agent.state_dir == tmp_path / "state"
    assert config.agent.records_db == tmp_path / "state" / "records.sqlite"
    assert config.agent.metrics_file == tmp_path / "metrics" / "backup_agent.prom"
    nas = config.datasets["finance-records"].copies[0]
    assert nas.path == str(tmp_path / "nas" / "restic")
    assert nas.password.file == str(tmp_path / "restic.pass")
    assert config.datasets["finance-records"].copies[1].password.env == "RESTIC_PASSWORD"


def test_require_mount_defaults_by_medium(tmp_path: Path) -> None:
    document = base()
    for name in ("ssd", "hdd", "nas"):
        del document["targets"][name]["require_mount"]
    config = load_config(write(tmp_path, document))
    assert config.targets["ssd"].require_mount and config.targets["hdd"].require_mount
    assert not config.targets["nas"].require_mount


def test_dataset_policy_overrides_the_default(tmp_path: Path) -> None:
    document = base()
    document["datasets"]["finance-records"]["policy"] = {"copies": 4, "immutable": 1, "zero_errors": True}
    config = load_config(write(tmp_path, document))
    policy = config.datasets["finance-records"].policy
    assert (policy.copies, policy.media, policy.offsite, policy.immutable, policy.zero_errors) == (4, 2, 1, 1, True)


def test_config_error_carries_every_problem(tmp_path: Path) -> None:
    document = base()
    document["targets"]["nas"]["kind"] = "ftp"
    document["datasets"]["finance-records"]["process"] = "payroll"
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, document))
    assert len(caught.value.problems) == 2
    assert caught.value.path == str(tmp_path / "targets.yaml")


def test_repository_targets_yaml_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    example = REPO / "targets.yaml"
    if not example.exists():
        pytest.skip("the repository's targets.yaml is not written yet")
    # Its secrets are under ${CREDENTIALS_DIRECTORY}, and the files it names are not on this machine.
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", "/etc/backup-agent/credentials")
    result = invoke(["--config", str(example), "config", "check", "--offline"])
    assert result.returncode == 0, result.stderr
    config = load_config(example)
    assert {"droplet", "nas", "ssd", "hdd", "offsite"} <= set(config.targets)
    assert len(config.datasets) >= 4
