"""`config show`: the effective configuration (defaults filled, paths resolved, secrets masked),
itself a valid targets.yaml; `config schema`: the JSON Schema, which validates the shipped
targets.yaml. In-process (agent.config_show)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from agent.config import parse_config
from agent.config_show import MASK, effective_document, exact_duration, exact_size, json_schema, mask_secrets
from tests.support.configs import REPO, minimal

PASSWORD = "hunter2-correct-horse"


def shown(tmp_path: Path, document: dict | None = None) -> dict:
    return effective_document(parse_config(document or minimal(), tmp_path / "targets.yaml", environ={}))


def test_defaults_are_filled_in(tmp_path: Path) -> None:
    document = minimal()
    del document["agent"]["command_timeout"]
    effective = shown(tmp_path, document)
    agent = effective["agent"]
    assert (agent["command_timeout"], agent["run_budget"], agent["read_data_cycle"]) == ("1h", "6h", "30d")
    assert agent["records_db"] == str(tmp_path / "state" / "records.sqlite")
    assert effective["targets"]["bucket"]["connect_timeout"] == "10s"  # the s3 adapter's default
    assert effective["targets"]["bucket"]["sample_bytes"] == "1MiB"  # as written
    assert effective["targets"]["here"]["require_mount"] is False
    dataset = effective["datasets"]["d"]
    # The dataset overrides copies only; media and offsite come from the top-level policy.
    assert dataset["policy"] == {"copies": 2, "media": 2, "offsite": 1, "immutable": 0, "zero_errors": False}
    assert dataset["restore_test"] == {"every": "7d", "sample_files": 5, "sample_bytes": "64MiB", "cycle": "30d"}


def test_relative_paths_are_resolved_against_the_config_folder(tmp_path: Path) -> None:
    effective = shown(tmp_path)
    assert effective["agent"]["state_dir"] == str(tmp_path / "state")
    assert effective["targets"]["nas"]["key_file"] == str(tmp_path / "k")
    copies = effective["datasets"]["d"]["copies"]
    assert copies[0]["path"] == str(tmp_path / "copy")  # a local copy: a path on this machine
    assert copies[1]["path"] == "/r" and copies[1]["password_file"] == str(tmp_path / "pw")
    assert copies[2]["path"] == "d/"  # an S3 prefix stays as written


def test_a_password_command_is_masked_everywhere(tmp_path: Path) -> None:
    document = minimal()
    document["datasets"]["d"]["copies"][1] = {"target": "nas", "form": "restic", "path": "/r",
                                              "password_command": f"echo {PASSWORD}"}
    effective = shown(tmp_path, document)
    assert effective["datasets"]["d"]["copies"][1]["password_command"] == MASK
    assert PASSWORD not in json.dumps(effective) and PASSWORD not in yaml.safe_dump(effective, allow_unicode=True)


def test_a_password_in_a_url_is_masked(tmp_path: Path) -> None:
    document = minimal()
    document["agent"]["pushgateway"] = f"https://agent:{PASSWORD}@push.example.com:9091/metrics"
    document["targets"]["bucket"]["endpoint"] = f"https://key:{PASSWORD}@s3.example.com"
    effective = shown(tmp_path, document)
    assert effective["agent"]["pushgateway"] == "https://agent:***@push.example.com:9091/metrics"
    assert effective["targets"]["bucket"]["endpoint"] == "https://key:***@s3.example.com"


def test_any_key_named_like_a_secret_is_masked_but_references_are_not() -> None:
    masked = mask_secrets({"token": "t", "aws_secret_access_key": "s", "passphrase": "p", "nested": [{"password": "x"}],
                           "password_file": "/run/credentials/pw", "password_env": "RESTIC_PASSWORD",
                           "credentials_file": "/etc/s3.ini", "key_file": "/etc/id", "path": "/srv"})
    assert masked == {"token": MASK, "aws_secret_access_key": MASK, "passphrase": MASK, "nested": [{"password": MASK}],
                      "password_file": "/run/credentials/pw", "password_env": "RESTIC_PASSWORD",
                      "credentials_file": "/etc/s3.ini", "key_file": "/etc/id", "path": "/srv"}


def test_the_effective_configuration_is_itself_a_valid_config_with_the_same_settings(tmp_path: Path) -> None:
    effective = shown(tmp_path)
    again = effective_document(parse_config(yaml.safe_load(yaml.safe_dump(effective, allow_unicode=True)),
                                            tmp_path / "elsewhere" / "targets.yaml", environ={}))
    assert again == effective
    assert json.loads(json.dumps(effective, ensure_ascii=False)) == effective


@pytest.mark.parametrize(("seconds", "text"), [(90, "1m30s"), (3600, "1h"), (16200, "4h30m"), (2592000, "30d"),
                                               (129600, "1d12h"), (1, "1s"), (1.5, 1.5)])
def test_durations_are_shown_exactly(seconds: float, text: str | float) -> None:
    assert exact_duration(seconds) == text


@pytest.mark.parametrize(("size", "text"), [(256 * 2**20, "256MiB"), (2**40, "1TiB"), (1536, 1536), (1000, 1000)])
def test_sizes_are_shown_exactly(size: int, text: str | int) -> None:
    assert exact_size(size) == text


def test_the_json_schema_validates_the_shipped_targets_yaml() -> None:
    schema = json.loads(json.dumps(json_schema()))  # what `config schema` prints, read back
    jsonschema.Draft202012Validator.check_schema(schema)
    shipped = yaml.safe_load((REPO / "targets.yaml").read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(shipped))
    assert errors == [], [e.message for e in errors]
    # And it refuses what the agent refuses, so an editor flags it.
    shipped["agent"]["colour"] = "blue"
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(shipped))


def test_the_json_schema_is_a_copy() -> None:
    json_schema()["properties"].clear()
    assert json_schema()["properties"]
