"""restic-packs on a local repository (issue 18): a flipped bit in a data pack, an index file or a
snapshot file is found in the first run after it happened, named with what the file holds; a new
backup's packs are hashed the night they appear; across a simulated cycle every file is re-read
once and no night reads more than twice the average; coverage equals the files and bytes read."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.metrics import render
from agent.models import Status
from tests.support.restic import DATASET, FRESH_TAG, flip_bytes, pack_files, restic_layout
from tests.support.sandbox import check_result, copy_result, statuses

pytestmark = pytest.mark.integration

NIGHT = timedelta(days=1)


def packs_result(sandbox, runs: list | None = None):
    run = sandbox.verify()
    if runs is not None:
        runs.append(run)
    copy = copy_result(run, DATASET, "nas")
    return check_result(copy, "restic-packs"), copy


def repository_files(repo: Path) -> dict[str, int]:
    """Every file restic names by its hash: relative path → size."""
    return {str(p.relative_to(repo)): p.stat().st_size for d in ("data", "index", "snapshots", "keys")
            for p in (repo / d).rglob("*") if p.is_file()}


def read_at(sandbox, repo: Path) -> dict[str, float]:
    """When the agent last read each repository file, from its hash cache (what really happened)."""
    cache = next((sandbox.root / "state").glob("*hash*.sqlite*"))
    with sqlite3.connect(cache) as db:
        rows = dict(db.execute("SELECT CAST(path AS TEXT), hashed_at FROM hashes"))
    root = os.path.abspath(repo)
    return {rel: rows[os.path.join(root, rel)] for rel in repository_files(repo) if os.path.join(root, rel) in rows}


@pytest.mark.parametrize("damaged, holds", [
    (lambda repo: pack_files(repo)[0], "a pack"),
    (lambda repo: next((repo / "index").iterdir()), "an index"),
    (lambda repo: sorted((repo / "snapshots").iterdir())[0], "a snapshot"),
])
def test_a_flipped_bit_is_found_in_the_first_run_after_and_named(sandbox, restic_template, make_repo, damaged, holds):
    repo = make_repo()
    restic_layout(sandbox, restic_template, repo)
    first, _ = packs_result(sandbox)
    assert first.status == Status.PASS, first.detail
    target = damaged(repo)
    flip_bytes(target, count=1)

    result, copy = packs_result(sandbox)

    assert result.status == Status.FAIL, statuses(copy)
    relpath = str(target.relative_to(repo))
    assert f"{relpath} ({holds})" in result.detail
    assert result.measured["mismatched"] == 1
    assert copy.status != Status.PASS


def test_coverage_equals_the_files_and_bytes_read(sandbox, restic_template, make_repo):
    repo = make_repo()
    restic_layout(sandbox, restic_template, repo)
    runs: list = []
    result, _ = packs_result(sandbox, runs)
    files = repository_files(repo)

    assert result.status == Status.PASS, result.detail
    assert result.measured["files"] == result.measured["files_read"] == result.measured["files_covered"] == len(files)
    assert result.measured["bytes"] == result.measured["bytes_read"] == sum(files.values())
    assert result.measured["pack_coverage_ratio"] == result.measured["pack_coverage_bytes_ratio"] == 1.0
    assert set(read_at(sandbox, repo)) == set(files)
    metrics = render(runs[0]).decode()
    labels = f'dataset="{DATASET}",process="lithera-platform",target="nas"'
    assert f'backup_agent_copy_pack_coverage_ratio{{by="files",{labels}}} 1.0' in metrics
    assert f"backup_agent_copy_pack_hashed_bytes{{{labels}}} {float(sum(files.values()))}" in metrics

    again, _ = packs_result(sandbox)  # the same night: nothing read again, everything still covered
    assert again.measured["files_read"] == again.measured["bytes_read"] == 0
    assert again.measured["pack_coverage_ratio"] == 1.0


def test_a_new_backups_packs_are_hashed_the_night_they_appear(sandbox, restic_template, make_repo, tmp_path,
                                                              monkeypatch):
    repo = make_repo()
    restic_layout(sandbox, restic_template, repo)
    start = datetime.now(UTC).replace(microsecond=0)
    monkeypatch.setenv("BACKUP_AGENT_NOW", start.isoformat())
    packs_result(sandbox)
    before = repository_files(repo)
    new_data = tmp_path / "new"
    new_data.mkdir()
    (new_data / "fresh.bin").write_bytes(os.urandom(2_000_000))
    restic_template.restic(repo, "backup", "--tag", FRESH_TAG, str(new_data))
    new = {p: s for p, s in repository_files(repo).items() if p not in before}
    assert any(p.startswith("data/") for p in new)
    monkeypatch.setenv("BACKUP_AGENT_NOW", (start + NIGHT).isoformat())

    result, _ = packs_result(sandbox)

    assert result.status == Status.PASS, result.detail
    when = read_at(sandbox, repo)
    tonight = (start + NIGHT).timestamp()
    assert all(when[p] == tonight for p in new), {p: when.get(p) for p in new}
    assert result.measured["bytes_read"] >= sum(new.values())


def test_across_a_simulated_cycle_every_file_is_read_once_and_no_night_reads_twice_the_average(
        sandbox, restic_template, make_repo, tmp_path, monkeypatch):
    cycle = 4
    repo = make_repo()
    bulk = tmp_path / "bulk"
    bulk.mkdir()
    for index in range(24):
        (bulk / f"part-{index:02d}.bin").write_bytes(os.urandom(2_500_000))
    restic_template.restic(repo, "backup", "--tag", FRESH_TAG, str(bulk))
    files = repository_files(repo)
    assert sum(1 for p in files if p.startswith("data/")) >= 6
    sandbox.agent.update(rehash_every=f"{cycle}d", schedule_interval="1d")
    restic_layout(sandbox, restic_template, repo)
    start = datetime.now(UTC).replace(microsecond=0)

    nights = []
    for night in range(cycle + 1):
        now = start + night * NIGHT
        monkeypatch.setenv("BACKUP_AGENT_NOW", now.isoformat())
        result, _ = packs_result(sandbox)
        assert result.status == Status.PASS, result.detail
        read = sorted(p for p, when in read_at(sandbox, repo).items() if when == now.timestamp())
        # Coverage equals what was read: the check's counts are the hash cache's.
        assert result.measured["files_read"] == len(read)
        assert result.measured["bytes_read"] == sum(files[p] for p in read)
        assert result.measured["pack_coverage_ratio"] == 1.0
        nights.append(read)

    assert nights[0] == sorted(files)  # the first night: everything is new
    reread = [p for night in nights[1:] for p in night]
    assert sorted(reread) == sorted(files)  # every file once within the cycle, none twice
    per_night = [sum(files[p] for p in night) for night in nights[1:]]
    average = sum(files.values()) / cycle
    print(f"bytes re-read per night {per_night}, average {average:.0f}")
    assert max(per_night) <= 2 * average, (per_night, average)
    assert min(per_night) > 0, per_night
