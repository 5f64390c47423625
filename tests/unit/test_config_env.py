"""${VAR} in targets.yaml: expanded from the environment in the keys that name a path; unset or
empty is a configuration error naming the variable and the key path (never a path resolved next
to the config), unless `config check --offline` tolerates it. In-process: load_config and
parse_config with an explicit environment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent.config import load_config, parse_config
from agent.errors import ConfigError
from tests.support.configs import assert_readable, minimal

CREDENTIALS = "/run/credentials/backup-agent.service"


def with_secrets_under(variable: str = "CREDENTIALS_DIRECTORY") -> dict:
    """The minimal config with its restic password and ssh key under ${variable}."""
    document = minimal()
    document["targets"]["nas"]["key_file"] = f"${{{variable}}}/id_ed25519"
    document["datasets"]["d"]["copies"][1]["password_file"] = f"${{{variable}}}/restic.pass"
    return document


def load(tmp_path: Path, document: dict, environ: dict[str, str], **options) -> object:
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_config(path, environ=environ, **options)


def test_a_set_variable_is_expanded_in_every_path_key(tmp_path: Path) -> None:
    document = with_secrets_under()
    document["agent"]["state_dir"] = "${STATE}/agent"
    document["targets"]["nas"]["known_hosts"] = "$CREDENTIALS_DIRECTORY/known_hosts"  # bare form, as before
    document["targets"]["bucket"]["credentials_file"] = "${CREDENTIALS_DIRECTORY}/s3.ini"
    document["targets"]["disk"]["mountpoint"] = "${MNT}/disk"
    document["datasets"]["d"]["copies"][0]["path"] = "${MNT}/disk/copy"
    document["datasets"]["d"]["copies"][1]["snapshot_filter"]["path"] = "${SRC}/db"
    config = load(tmp_path, document, {"CREDENTIALS_DIRECTORY": CREDENTIALS, "STATE": "/var/lib/x", "MNT": "/mnt",
                                       "SRC": "/srv"})
    nas = config.targets["nas"].options
    assert nas["key_file"] == f"{CREDENTIALS}/id_ed25519"
    assert nas["known_hosts"] == f"{CREDENTIALS}/known_hosts"
    assert config.targets["bucket"].options["credentials_file"] == f"{CREDENTIALS}/s3.ini"
    assert config.targets["disk"].options["mountpoint"] == "/mnt/disk"
    assert config.agent.state_dir == Path("/var/lib/x/agent")
    copies = config.datasets["d"].copies
    assert copies[0].path == "/mnt/disk/copy"
    assert copies[1].password.file == f"{CREDENTIALS}/restic.pass"
    assert copies[1].snapshot_filter["path"] == "/srv/db"
    assert config.unexpanded == ()


@pytest.mark.parametrize(("environ", "state"), [({}, "is not set"), ({"CREDENTIALS_DIRECTORY": ""}, "is set but empty")])
def test_an_unset_or_empty_variable_is_an_error_naming_it_and_the_key_path(tmp_path: Path, environ: dict,
                                                                             state: str) -> None:
    """Before: the text stayed literal and resolved next to the config (tmp/${CREDENTIALS_DIRECTORY}/…)."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, with_secrets_under(), environ)
    assert_readable(caught.value, tmp_path / "targets.yaml")
    (problem,) = caught.value.problems  # one per variable, however many keys use it
    assert problem.startswith(f"targets.nas.key_file: ${{CREDENTIALS_DIRECTORY}} {state}"), problem
    assert "datasets.d.copies[1].password_file" in problem
    assert "CREDENTIALS_DIRECTORY=/etc/backup-agent/credentials" in problem  # the fix for a hand run


def test_an_unset_variable_is_listed_with_every_other_problem(tmp_path: Path) -> None:
    document = with_secrets_under("BACKUP_SECRETS")
    document["agent"]["colour"] = "blue"
    document["datasets"]["d"]["process"] = "payroll"
    with pytest.raises(ConfigError) as caught:
        parse_config(document, tmp_path / "targets.yaml", environ={})
    text = "\n".join(caught.value.problems)
    assert len(caught.value.problems) == 3, text
    assert "agent.colour" in text and "datasets.d.process" in text
    assert "targets.nas.key_file: ${BACKUP_SECRETS} is not set" in text


def test_the_process_environment_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command (verify included) loads through load_config: the real environment decides."""
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(ConfigError, match=r"CREDENTIALS_DIRECTORY\} is not set"):
        parse_config(with_secrets_under(), tmp_path / "targets.yaml")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", CREDENTIALS)
    config = parse_config(with_secrets_under(), tmp_path / "targets.yaml")
    assert config.targets["nas"].options["key_file"] == f"{CREDENTIALS}/id_ed25519"


def test_commands_that_open_no_target_tolerate_an_unset_variable_outside_agent(tmp_path: Path) -> None:
    """records, report and metrics serve read the agent section only, and their units load no
    credentials: ${CREDENTIALS_DIRECTORY} in a target's key is left as written, not refused."""
    config = load(tmp_path, with_secrets_under(), {}, reads_targets=False)
    assert {u.variable for u in config.unexpanded} == {"CREDENTIALS_DIRECTORY"}
    document = with_secrets_under()
    document["agent"]["state_dir"] = "${STATE_ROOT}/agent"  # what they do read is still never guessed
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, document, {}, reads_targets=False)
    (problem,) = caught.value.problems
    assert problem.startswith("agent.state_dir: ${STATE_ROOT} is not set"), problem


def test_offline_tolerates_an_unset_variable_and_says_where(tmp_path: Path) -> None:
    config = load(tmp_path, with_secrets_under(), {}, tolerate_unset=True)
    assert [(u.where, u.variable) for u in config.unexpanded] == [
        ("targets.nas.key_file", "CREDENTIALS_DIRECTORY"),
        ("datasets.d.copies[1].password_file", "CREDENTIALS_DIRECTORY"),
    ]


@pytest.mark.parametrize("value", ["${CREDENTIALS_DIRECTORY/x", "${1X}/x", "${}/x", "${A-B}/x"])
def test_a_malformed_reference_is_an_error(tmp_path: Path, value: str) -> None:
    document = minimal()
    document["datasets"]["d"]["copies"][1]["password_file"] = value
    with pytest.raises(ConfigError) as caught:
        parse_config(document, tmp_path / "targets.yaml", environ={"CREDENTIALS_DIRECTORY": CREDENTIALS})
    (problem,) = caught.value.problems
    assert problem.startswith("datasets.d.copies[1].password_file: '${' must be followed by a variable name"), problem


def test_dollar_dollar_is_a_literal_dollar_and_a_lone_dollar_stays(tmp_path: Path) -> None:
    document = minimal()
    document["datasets"]["d"]["copies"][0]["path"] = "/mnt/share$/x"
    document["datasets"]["d"]["copies"][1]["password_file"] = "/etc/$${CREDENTIALS_DIRECTORY}/pw"
    config = parse_config(document, tmp_path / "targets.yaml", environ={})
    assert config.datasets["d"].copies[0].path == "/mnt/share$/x"
    assert config.datasets["d"].copies[1].password.file == "/etc/${CREDENTIALS_DIRECTORY}/pw"


def test_values_that_are_not_paths_are_taken_as_written(tmp_path: Path) -> None:
    """Names and commands never expand: restic runs password_command as written."""
    document = minimal()
    document["agent"]["operator"] = "${USER}"
    document["datasets"]["d"]["copies"][1] = {"target": "nas", "form": "restic", "path": "/r",
                                              "password_command": "pass show ${ENTRY}"}
    config = parse_config(document, tmp_path / "targets.yaml", environ={})
    assert config.agent.operator == "${USER}"
    assert config.datasets["d"].copies[1].password.command == "pass show ${ENTRY}"


def test_an_expanded_stamp_is_still_checked_to_lie_inside_the_copy(tmp_path: Path) -> None:
    document = minimal()
    document["datasets"]["d"]["copies"][0]["stamp"] = "${STAMP}"
    with pytest.raises(ConfigError, match=r"copies\[0\]\.stamp: '/etc/passwd' is not a file inside the copy"):
        parse_config(document, tmp_path / "targets.yaml", environ={"STAMP": "/etc/passwd"})


def test_a_value_from_the_environment_obeys_the_rules_of_the_file(tmp_path: Path) -> None:
    """A newline in a path would forge log lines whether the file or the environment wrote it."""
    with pytest.raises(ConfigError) as caught:
        parse_config(with_secrets_under(), tmp_path / "targets.yaml", environ={"CREDENTIALS_DIRECTORY": "/run\nx"})
    assert caught.value.problems and all("control character U+000A" in p for p in caught.value.problems)
    assert {p.split(":")[0] for p in caught.value.problems} == {"targets.nas.key_file",
                                                                "datasets.d.copies[1].password_file"}
