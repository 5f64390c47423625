"""A restic repository for the tests, built once per session, and the ways they break one.

The template holds two snapshots of the sample tree: tagged FRESH_TAG (taken now) and STALE_TAG
(taken STALE_DAYS ago with `backup --time`). Tests copy it (restic init costs ≈ 3 s) and break
their own copy: flipped bytes in a pack (flip_bytes, pack_files, read_data_group).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tests.support.sandbox import Sandbox

PASSWORD = "correct horse battery staple 19-05"
FRESH_TAG = "platform-db"
STALE_TAG = "archive"
STALE_DAYS = 10
DATASET = "platform-db"  # the dataset restic_layout declares


@dataclass(frozen=True)
class ResticTemplate:
    """A restic repository built once per session: two snapshots of `data`, tagged FRESH_TAG
    (taken now) and STALE_TAG (taken STALE_DAYS ago with `backup --time`)."""

    repo: Path
    password_file: Path
    data: Path
    cache_dir: Path

    def env(self) -> dict[str, str]:
        """Environment for the tests' own restic calls (set-up and breakage, not the agent's)."""
        return {**os.environ, "RESTIC_CACHE_DIR": str(self.cache_dir), "RESTIC_PASSWORD_FILE": str(self.password_file)}

    def restic(self, repo: Path, *args: str) -> str:
        """Run restic on a repository for test set-up; raise with stderr on failure."""
        done = subprocess.run(["restic", "--repo", str(repo), *args], env=self.env(), capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0:
            raise AssertionError(f"restic {' '.join(args)} failed: {done.stderr}")
        return done.stdout


def write_sample_tree(root: Path) -> None:
    """Write a small but realistic tree: nested directories, text, binary, a file with a space and
    Chinese in its name, and enough incompressible bytes for a data pack of its own."""
    (root / "db").mkdir(parents=True)
    (root / "docs" / "2026").mkdir(parents=True)
    (root / "db" / "lithera-2026-11-23.sql").write_text("-- dump\n" + "INSERT INTO orders VALUES (1);\n" * 2000)
    (root / "db" / "blob.bin").write_bytes(os.urandom(300_000))
    (root / "docs" / "2026" / "invoice-0007.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(40_000))
    (root / "docs" / "2026" / "出货单 11月.txt").write_text("出货 / shipping note\n", encoding="utf-8")
    (root / "docs" / "readme.txt").write_text("finance records\n")
    (root / "empty.txt").write_bytes(b"")


def build_template(root: Path) -> ResticTemplate:
    """Initialise the template repository under root (the session fixture's body)."""
    password_file = root / "restic.pass"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    data = root / "data"
    write_sample_tree(data)
    template = ResticTemplate(root / "repo", password_file, data, root / "restic-cache")
    template.restic(template.repo, "init")
    template.restic(template.repo, "backup", "--tag", FRESH_TAG, str(data))
    stale_time = (datetime.now() - timedelta(days=STALE_DAYS)).strftime("%Y-%m-%d %H:%M:%S")
    template.restic(template.repo, "backup", "--tag", STALE_TAG, "--time", stale_time, str(data))
    return template


def pack_files(repo: Path) -> list[Path]:
    """Return a repository's pack files, largest first (the largest holds the file data; the
    small ones hold trees, which plain `restic check` reads)."""
    packs = [p for p in (repo / "data").rglob("*") if p.is_file()]
    return sorted(packs, key=lambda p: p.stat().st_size, reverse=True)


def read_data_group(pack: Path, total: int) -> int:
    """The --read-data-subset group (1-based) restic puts a pack in: the first byte of its ID mod t.
    (restic's selectPacksByBucket; checked against restic 0.14 by test_checks_restic.)"""
    return int(pack.name[:2], 16) % total + 1


def flip_bytes(path: Path, offset: int | None = None, count: int = 8) -> None:
    """Invert `count` bytes in the middle of a file, keeping its mode (restic packs are 0400:
    made writable for the write, then read-only again)."""
    mode = path.stat().st_mode & 0o7777
    path.chmod(0o600)
    size = path.stat().st_size
    offset = size // 2 if offset is None else offset
    with open(path, "r+b") as handle:
        handle.seek(offset)
        original = handle.read(count)
        handle.seek(offset)
        handle.write(bytes(b ^ 0xFF for b in original))
    path.chmod(mode)


def restic_layout(sandbox: Sandbox, template: ResticTemplate, repo: Path, **copy_extra) -> None:
    """A primary on the droplet stand-in and one restic copy on the NAS stand-in (2-2-1 policy,
    so a healthy copy makes a compliant dataset and any broken one does not)."""
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("nas", "nas", "office")
    sandbox.dataset(
        DATASET,
        primary=sandbox.files_copy("droplet", template.data, stamp=None),
        copies=[sandbox.restic_copy("nas", repo, **copy_extra)],
        policy={"copies": 2, "media": 2, "offsite": 1},
    )
