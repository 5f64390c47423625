"""s3 target keys in targets.yaml: min_retention (for the immutability check) and sample_bytes are
validated like every other duration and size; S3 keys are never accepted inline; an s3 target
opens as an S3Target (no server needed for any of this)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from agent.config import load_config
from agent.errors import ConfigError
from agent.hash_cache import HashCache
from agent.targets import open_target
from agent.targets.base import TargetContext


def write(tmp_path: Path, **offsite) -> Path:
    document = {
        "processes": {"p": {"rpo": "1h", "rto": "4h"}},
        "targets": {
            "droplet": {"kind": "local", "medium": "cloud-vm", "location": "sgp", "require_mount": False},
            "offsite": {"kind": "s3", "medium": "object-storage", "location": "hk", "bucket": "b",
                        "endpoint": "http://127.0.0.1:9", **offsite},
        },
        "datasets": {"d": {"process": "p", "primary": {"target": "droplet", "form": "files", "path": "/srv"},
                           "copies": [{"target": "offsite", "form": "objects", "path": "d", "immutable": True}]}},
    }
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return raised.value.problems


def test_min_retention_and_sample_bytes_are_accepted(tmp_path):
    config = load_config(write(tmp_path, min_retention="90d", sample_bytes="1GiB", credentials_file="s3.ini"))
    target = config.targets["offsite"]
    assert target.options["min_retention"] == "90d"
    assert target.options["credentials_file"] == str(tmp_path / "s3.ini")  # relative to the file
    assert config.datasets["d"].copies[0].immutable is True


def test_bad_min_retention_and_sample_bytes_are_named(tmp_path):
    found = problems(write(tmp_path, min_retention="forever", sample_bytes="lots"))
    assert any(p.startswith("targets.offsite.min_retention: expected") for p in found), found
    assert any(p.startswith("targets.offsite.sample_bytes: expected") for p in found), found


def test_min_retention_is_not_a_key_of_local_targets(tmp_path):
    path = write(tmp_path)
    document = yaml.safe_load(path.read_text())
    document["targets"]["droplet"]["min_retention"] = "30d"
    path.write_text(yaml.safe_dump(document))
    assert any("targets.droplet.min_retention: not a key of kind local" in p for p in problems(path))


@pytest.mark.parametrize("key", ["aws_secret_access_key", "secret_key", "access_key"])
def test_s3_keys_are_never_inline(tmp_path, key):
    found = problems(write(tmp_path, **{key: "hunter2-secret"}))
    assert any("secrets are never written inline" in p for p in found), found
    assert not any("hunter2-secret" in p for p in found)


def test_an_s3_target_opens_without_touching_the_network(tmp_path):
    config = load_config(write(tmp_path, credentials_file="missing.ini"))
    context = TargetContext(HashCache(None), time.time(), 86400, 1, 60)
    handle = open_target(config.targets["offsite"], context)
    assert type(handle).__name__ == "S3Target"
    probe = handle.probe("d", require_tree=False)  # the credentials file is read first and is missing
    assert not probe.ok and "cannot read credentials_file" in probe.detail
