"""A targets.yaml built in a test's tmp_path, loaded with the product's own loader and run with
agent.run.run_verification (rotation state kept as `backup-agent verify` keeps it), and the
helpers that read a run's results."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agent.config import Config, load_config
from agent.models import CheckResult, CopyResult, DatasetResult, RunResult
from agent.run import run_verification, select_datasets


def mirror(source: Path, destination: Path, stamp: str | None = ".last-sync") -> Path:
    """Copy a tree the way rsync -a does (mtimes kept), then touch the stamp as a sync job would."""
    shutil.copytree(source, destination, dirs_exist_ok=True)
    if stamp:
        (destination / stamp).write_text("synced\n")
    return destination


@dataclass
class Sandbox:
    """Builds a targets.yaml in a test's tmp_path, loads it with the product's loader, and runs it.

    Targets are local directories; require_mount is false unless a test asks for it, because
    tmp_path is not a mounted disk (the mount tests are the ones about that)."""

    root: Path
    password_file: Path | None
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    agent: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] | None = None
    processes: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "lithera-platform": {"name": "Lithera 平台 / Lithera platform", "rpo": "1d", "rto": "4h"},
    })

    def target(self, name: str, medium: str, location: str, **options: Any) -> str:
        """Declare a local target; require_mount=None leaves the key out (the medium's default)."""
        options.setdefault("require_mount", False)
        if options["require_mount"] is None:
            del options["require_mount"]
        self.targets[name] = {"kind": "local", "medium": medium, "location": location, **options}
        return name

    def restic_copy(self, target: str, repo: Path, **extra: Any) -> dict[str, Any]:
        copy = {"target": target, "form": "restic", "path": str(repo)}
        if not any(k in extra for k in ("password_file", "password_env", "password_command")):
            copy["password_file"] = str(self.password_file)
        return {**copy, **extra}

    @staticmethod
    def files_copy(target: str, path: Path, stamp: str | None = ".last-sync", **extra: Any) -> dict[str, Any]:
        copy = {"target": target, "form": "files", "path": str(path), **extra}
        if stamp:
            copy["stamp"] = stamp
        return copy

    def dataset(self, name: str, primary: dict[str, Any], copies: list[dict[str, Any]],
                policy: dict[str, Any] | None = None, process: str = "lithera-platform") -> str:
        self.datasets[name] = {"process": process, "primary": primary, "copies": copies}
        if policy is not None:
            self.datasets[name]["policy"] = policy
        return name

    def config(self) -> Config:
        document: dict[str, Any] = {
            "agent": {
                "state_dir": str(self.root / "state"),
                "metrics_file": str(self.root / "metrics" / "backup_agent.prom"),
                "scratch_dir": str(self.root / "scratch"),
                "operator": "测试 / test",
                "concurrency": 4,
                "command_timeout": "5m",
                "read_data_cycle": "3d",     # with schedule_interval 1d: t = 3 read-data groups
                "schedule_interval": "1d",
                **self.agent,
            },
            "processes": self.processes,
            "targets": self.targets,
            "datasets": self.datasets,
        }
        if self.policy is not None:
            document["policy"] = self.policy
        path = self.root / "targets.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return load_config(path)

    def verify(self) -> RunResult:
        """Run a verification of every dataset and keep its rotation state, as `backup-agent verify` does."""
        config = self.config()
        run = run_verification(config, select_datasets(config, (), ()))
        if run.state is not None:
            run.state.save()
        return run


def dataset_result(run: RunResult, name: str) -> DatasetResult:
    return next(d for d in run.datasets if d.dataset.name == name)


def copy_result(run: RunResult, dataset: str, target: str) -> CopyResult:
    return next(c for c in dataset_result(run, dataset).copies if c.spec.target.name == target)


def check_result(copy: CopyResult, name: str) -> CheckResult:
    found = [c for c in copy.checks if c.name == name]
    assert found, f"check {name} did not run on {copy.spec.key}: {[c.name for c in copy.checks]}"
    return found[0]


def statuses(copy: CopyResult) -> dict[str, str]:
    """{check: status} of one copy, for readable assertion messages."""
    return {c.name: f"{c.status}: {c.detail}" for c in copy.checks}
