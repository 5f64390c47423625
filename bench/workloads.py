"""The workloads of bench/table.py, generated from scratch in a temporary directory: trees of
random (incompressible) files, a plain mirror of them with its sync stamp, restic repositories
backed up from them, and the targets.yaml that points the agent at them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

PASSWORD = "bench-password-not-a-secret"
AGENT = [str(Path(sys.executable).with_name("backup-agent"))]


def random_tree(root: Path, total_bytes: int, files: int, per_directory: int = 100) -> int:
    """Write `files` files of random bytes adding up to total_bytes under root; return the bytes written."""
    each, extra = divmod(total_bytes, files)
    written = 0
    for index in range(files):
        directory = root / f"d{index // per_directory:05d}"
        if index % per_directory == 0:
            directory.mkdir(parents=True, exist_ok=True)
        size = each + (1 if index < extra else 0)
        (directory / f"f{index:07d}.bin").write_bytes(os.urandom(size))
        written += size
    return written


def varied_tree(root: Path, total_bytes: int, files: int, seed: int = 16) -> int:
    """Files of sizes spread over three orders of magnitude (a few large, many small), adding up to
    about total_bytes: a re-read spread by bytes must not be fooled by counting files. No file
    holds more than 1 % of the bytes (one larger than a night's share has that night to itself)."""
    import random

    generator = random.Random(seed)
    weights = [min(generator.paretovariate(1.2), 12.0) for _ in range(files)]
    scale = total_bytes / sum(weights)
    written = 0
    for index, weight in enumerate(weights):
        directory = root / f"d{index % 20:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        size = max(1, int(weight * scale))
        (directory / f"f{index:05d}.bin").write_bytes(generator.randbytes(size))
        written += size
    return written


def tiny_tree(root: Path, files: int, size: int = 100, per_directory: int = 1000) -> None:
    """`files` files of `size` random bytes, per_directory to a directory (a share of small documents)."""
    payload = os.urandom(size * 1024)
    for index in range(files):
        if index % per_directory == 0:
            directory = root / f"d{index // per_directory:05d}"
            directory.mkdir(parents=True, exist_ok=True)
        offset = (index * 7) % 1000 * size % (len(payload) - size)
        descriptor = os.open(directory / f"f{index:07d}.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(descriptor, payload[offset:offset + size - 8] + index.to_bytes(8, "little"))
        finally:
            os.close(descriptor)


def mirror(primary: Path, copy: Path, stamp: str = ".last-sync") -> None:
    """A plain copy of primary (cp -a keeps the mtimes, as rsync -a would), then its sync stamp."""
    copy.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(primary), str(copy)], check=True)
    time.sleep(0.01)
    (copy / stamp).touch()


def restic_repository(repository: Path, source: Path, password_file: Path, cache: Path) -> None:
    """`restic init` and one `restic backup` of source into a local repository."""
    env = {**os.environ, "RESTIC_PASSWORD_FILE": str(password_file), "RESTIC_CACHE_DIR": str(cache)}
    subprocess.run(["restic", "init", "--repo", str(repository)], env=env, check=True, capture_output=True)
    subprocess.run(["restic", "backup", "--repo", str(repository), "--tag", "bench", str(source)], env=env,
                   check=True, capture_output=True)


def password_file(directory: Path) -> Path:
    path = directory / "restic.pass"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return path


def config(path: Path, state: Path, primary: Path, copies: list[dict[str, Any]], **agent: Any) -> Path:
    """Write a targets.yaml: one dataset whose primary is `primary` on a local target, and the given
    copies, each {"target": name, "form": files|restic, "path": …} on a local target of its own."""
    targets: dict[str, Any] = {"here": {"kind": "local", "medium": "cloud-vm", "location": "sgp", "require_mount": False}}
    media = ["hdd", "ssd", "nas", "usb", "tape"]
    for index, copy in enumerate(copies):
        targets[copy["target"]] = {"kind": "local", "medium": media[index % len(media)],
                                   "location": f"site{index}", "require_mount": False}
    document = {
        "agent": {"state_dir": str(state), "metrics_file": str(state / "backup_agent.prom"),
                  "scratch_dir": str(state / "scratch"), "operator": "bench", **agent},
        "processes": {"p": {"name": "bench", "rpo": "3650d", "rto": "4h"}},
        "targets": targets,
        "datasets": {"d": {"process": "p", "primary": {"target": "here", "form": "files", "path": str(primary)},
                           "copies": copies, "policy": {"copies": 1, "media": 1, "offsite": 0}}},
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def agent_verify(config_path: Path, *extra: str) -> list[str]:
    return [*AGENT, "--config", str(config_path), "verify", "--json", *extra]
