"""Small valid targets.yaml documents and the checks every configuration error must pass, shared
by the config unit tests, the property test and the CLI checks."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from agent.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

# The smallest config worth verifying: one process, local targets, one dataset with a restic and a
# files copy. Relative paths resolve next to the file, so a run would write there.
MINIMAL: dict[str, Any] = {
    "agent": {"state_dir": "state", "metrics_file": "metrics/backup_agent.prom", "scratch_dir": "scratch",
              "operator": "王婧", "concurrency": 2, "command_timeout": "10m", "hash_workers": 2},
    "policy": {"copies": 3, "media": 2, "offsite": 1, "immutable": 0},
    "processes": {"p": {"name": "平台 / platform", "rpo": "1h", "rto": "4h"}},
    "targets": {
        "here": {"kind": "local", "medium": "cloud-vm", "location": "sgp", "require_mount": False},
        "disk": {"kind": "local", "medium": "hdd", "location": "home", "require_mount": False},
        "nas": {"kind": "ssh", "host": "nas.lan", "port": 22, "user": "backup", "key_file": "k",
                "known_hosts": "kh", "medium": "nas", "location": "office", "connect_timeout": "30s"},
        "bucket": {"kind": "s3", "bucket": "b", "medium": "object-storage", "location": "hk",
                   "sample_bytes": "1MiB", "min_retention": "30d"},
    },
    "datasets": {
        "d": {"process": "p",
              "primary": {"target": "here", "form": "files", "path": "primary", "stamp": ".done"},
              "copies": [{"target": "disk", "form": "files", "path": "copy", "stamp": ".last-sync"},
                         {"target": "nas", "form": "restic", "path": "/r", "password_file": "pw",
                          "snapshot_filter": {"tags": ["d"]}},
                         {"target": "bucket", "form": "objects", "path": "d/"}],
              "policy": {"copies": 2},
              "restore_test": {"every": "7d", "sample_files": 5, "sample_bytes": "64MiB", "cycle": "30d"}},
    },
}


def minimal() -> dict[str, Any]:
    return copy.deepcopy(MINIMAL)


def repository_targets() -> dict[str, Any]:
    """The repository's own commented targets.yaml, as data."""
    return yaml.safe_load((REPO / "targets.yaml").read_text(encoding="utf-8"))


def assert_readable(error: ConfigError, path: Path | str) -> None:
    """A configuration error names the file, one key path per problem, and prints nothing that
    could flood or drive a terminal: no control character, no value echoed at length."""
    text = str(error)
    assert text.startswith(f"{path}: "), text[:200]
    assert error.problems
    for problem in error.problems:
        assert problem.isprintable(), repr(problem)
        assert len(problem) < 600, problem[:200]
