"""The hashing path at scale, on real files: the memory files-checksum needs beyond the two file
lists does not grow with the number of files (tracemalloc over 10,000 and 100,000 files: the
pool takes a bounded queue of batched tasks and the check keeps counts, not digests), and over
simulated nights (BACKUP_AGENT_NOW) the bit-rot re-reads are spread over the cycle, every byte
read again within rehash_every."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.checking import RunOptions
from agent.models import Status
from agent.run import Session
from checks import files_checksum
from tests.support.sandbox import Sandbox, check_result, copy_result

pytestmark = pytest.mark.integration


def small_files(root: Path, count: int, size: int = 100) -> None:
    for index in range(count):
        if index % 1000 == 0:
            directory = root / f"d{index // 1000:04d}"
            directory.mkdir(parents=True)
        descriptor = os.open(directory / f"f{index:06d}", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        os.write(descriptor, index.to_bytes(8, "little") * (size // 8))
        os.close(descriptor)


def mirrored(tmp_path: Path, count: int, size: int = 100) -> Sandbox:
    """A primary of `count` files and its mirror (hard links: two trees to hash, written once)."""
    sandbox = Sandbox(tmp_path, None)
    small_files(tmp_path / "primary", count, size)
    shutil.copytree(tmp_path / "primary", tmp_path / "copy", copy_function=os.link)
    (tmp_path / "copy" / ".last-sync").touch()
    sandbox.target("droplet", "cloud-vm", "sgp")
    sandbox.target("hdd", "hdd", "home")
    sandbox.dataset("share", primary=sandbox.files_copy("droplet", tmp_path / "primary", stamp=None),
                    copies=[sandbox.files_copy("hdd", tmp_path / "copy")], policy={"copies": 2})
    return sandbox


def hashing_peak(tmp_path: Path, count: int) -> int:
    """Peak bytes Python allocated while files-checksum hashed and compared `count` files on both
    sides, the two file lists taken before (they are the input, ≈ 60 bytes a file each)."""
    config = mirrored(tmp_path, count).config()
    session = Session(config)
    try:
        dataset = config.datasets["share"]
        context = session.copy_context(dataset, dataset.copies[0], RunOptions())
        context.last_backup_at = datetime.now(UTC)
        context.primary.entries(), context.copy_entries()
        gc.collect()
        tracemalloc.start()
        try:
            result = files_checksum.run(context)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        session.close()
    assert result.status == Status.PASS and result.measured["files_verified"] == count, result.detail
    assert result.measured["primary_bytes_read"] == result.measured["bytes_read"] == count * 96
    return peak


@pytest.fixture
def fast_directory(tmp_path: Path) -> Iterator[Path]:
    """A directory on /dev/shm (a tmpfs: 220,000 small files are written in seconds), else tmp_path."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="backup-agent-test-", dir=shm))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_hashing_memory_does_not_grow_with_the_number_of_files(fast_directory: Path) -> None:
    small = hashing_peak(fast_directory / "small", 10_000)
    large = hashing_peak(fast_directory / "large", 100_000)
    # 90,000 more files: a few bytes each for the list of pairs to hash, nothing per file beyond.
    assert large - small < 90_000 * 20, (small, large)
    assert large < 2 * small, (small, large)


def test_bit_rot_rereads_are_spread_over_simulated_nights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox = mirrored(tmp_path, 120, size=4096)
    sandbox.agent.update({"rehash_every": "6d", "schedule_interval": "1d"})
    sandbox.processes["lithera-platform"]["rpo"] = "30d"
    total = 120 * 4096
    start = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0) + timedelta(days=1)
    last_read: dict[str, int] = {}
    for night in range(13):
        monkeypatch.setenv("BACKUP_AGENT_NOW", (start + timedelta(days=night)).isoformat())
        check = check_result(copy_result(sandbox.verify(), "share", "hdd"), "files-checksum")
        assert check.status == Status.PASS, check.detail
        copy, primary = check.measured["bytes_reread"], check.measured["primary_bytes_reread"]
        if night == 0:
            assert check.measured["bytes_read"] == check.measured["primary_bytes_read"] == total
            continue
        # about 1/6 of the bytes a night on each side, never nothing, never twice the share
        assert 0 < copy <= 2 * total / 6 and 0 < primary <= 2 * total / 6, (night, copy, primary)
        last_read[str(night)] = copy
    assert sum(last_read.values()) >= 2 * total * 0.9, "two cycles read about every byte twice"
