"""Days in the life of a document tree, for the anomaly tests: office documents (text), edits,
imports of PDFs, a ransomware attack with `openssl enc` — and a light run of the anomaly check
alone (reachable, freshness, anomaly on every backup copy, state kept as `verify` keeps it), so
a test can live through many days without paying for `restic check` each one."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
import zlib
from pathlib import Path

import checks
from agent.checking import RunOptions
from agent.models import CheckResult
from agent.run import Session
from tests.support.sandbox import Sandbox

WORDS = ("shipment invoice customer order payment container port Shenzhen Rotterdam pallet carrier customs "
         "delivery schedule amount currency USD CNY EUR quantity weight volume 出货 发票 客户 订单 付款").split()
CANARY = "docs/.canary/do-not-edit.txt"


def text(rng: random.Random, words: int) -> str:
    lines = []
    for _ in range(max(1, words // 12)):
        lines.append(" ".join(rng.choice(WORDS) for _ in range(12)))
    return "\n".join(lines) + "\n"


def write_documents(root: Path, count: int, rng: random.Random, start: int = 0) -> list[Path]:
    """Write `count` text documents (1-6 KiB) under root/docs/<year>/, and the canary once."""
    written = []
    for number in range(start, start + count):
        path = root / "docs" / str(2020 + number % 6) / f"doc-{number:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text(rng, rng.randint(150, 900)), encoding="utf-8")
        written.append(path)
    canary = root / CANARY
    if not canary.exists():
        canary.parent.mkdir(parents=True, exist_ok=True)
        canary.write_text("This file must never change. 此文件不得更改。\n")
    return written


def documents(root: Path) -> list[Path]:
    return sorted(p for p in (root / "docs").rglob("*.txt") if p.is_file() and ".canary" not in p.parts)


def edit(paths: list[Path], share: float, rng: random.Random) -> list[Path]:
    """Append a paragraph to a share of the files (a normal day's edits), with a later mtime."""
    chosen = rng.sample(paths, max(1, round(share * len(paths))))
    for path in chosen:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text(rng, rng.randint(20, 120)))
        _later(path)
    return chosen


def make_pdf(path: Path, rng: random.Random) -> None:
    """A small PDF as scanners write them: an ASCII header, then Flate-compressed streams."""
    body = zlib.compress(text(rng, rng.randint(800, 3000)).encode() + rng.randbytes(rng.randint(2000, 20000)))
    path.parent.mkdir(parents=True, exist_ok=True)
    header = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length " + str(len(body)).encode()
    path.write_bytes(header + b" /Filter /FlateDecode >>\nstream\n" + body + b"\nendstream\nendobj\n%%EOF\n")


def encrypt_all(root: Path, note: str = "HOW_TO_DECRYPT_FILES.txt") -> int:
    """Ransomware: every file under root encrypted with `openssl enc` (AES-256-CBC, a random key the
    victim never sees), written as NAME.locked, the original removed; a ransom note left at the top."""
    key, iv = os.urandom(32).hex(), os.urandom(16).hex()
    count = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        subprocess.run(["openssl", "enc", "-aes-256-cbc", "-K", key, "-iv", iv, "-in", str(path),
                        "-out", f"{path}.locked"], check=True, capture_output=True, timeout=30)
        path.unlink()
        count += 1
    (root / note).write_text("Your files are encrypted. Pay 2 BTC to recover them.\n")
    return count


def sync(primary: Path, mirror: Path, ago: float = 0.0) -> None:
    """rsync -a --delete, then the stamp (dated `ago` seconds back): the mirror becomes the primary."""
    shutil.rmtree(mirror, ignore_errors=True)
    shutil.copytree(primary, mirror)
    stamp = mirror / ".last-sync"
    stamp.write_text("synced\n")
    os.utime(stamp, (time.time() - ago, time.time() - ago))


def _later(path: Path) -> None:
    stamp = time.time() + 1
    os.utime(path, (stamp, stamp))


def run_anomaly(sandbox: Sandbox) -> dict[str, CheckResult]:
    """Run reachable, freshness and anomaly on every backup copy; keep the state. {target: anomaly result}."""
    config = sandbox.config()
    session = Session(config)
    results = {}
    try:
        for dataset in config.datasets.values():
            for spec in dataset.copies:
                context = session.copy_context(dataset, spec, RunOptions())
                for check_id in ("reachable", "freshness", "anomaly"):
                    result = checks.get(check_id).run(context)
                results[spec.target.name] = result
        session.state.save()
    finally:
        session.close()
    return results
