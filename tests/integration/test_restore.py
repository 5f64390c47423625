"""Restore tests and drills against real restic repositories and real plain copies.

Nothing is mocked: restic restores into the agent's scratch directory, the agent hashes what came
back. Each test breaks its own copy (a pack, a file of a plain copy, a primary file) and must see
`fail` or `error`, never `pass`. The SIGTERM and drill tests run the real CLI as a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.metrics import render
from agent.models import Status
from agent.records import FORM_DRILL, RecordStore
from agent.restore import LISTING_SIZE_SOURCE, STATS_SIZE_SOURCE
from tests.support.mounts import mounted_tmpfs
from tests.support.restic import PASSWORD, STALE_TAG, ResticTemplate, flip_bytes, pack_files
from tests.support.restore import leftover_scratch, restore_test, restore_verify
from tests.support.sandbox import Sandbox, check_result, copy_result, mirror, statuses

pytestmark = pytest.mark.integration

DATASET = "platform-db"
BIG = "db/blob.bin"  # the largest file: its data lives in the largest pack


def primary_tree(sandbox: Sandbox, template: ResticTemplate) -> Path:
    """A private primary: the backed-up tree with its mtimes (copytree keeps them to the nanosecond)."""
    return Path(shutil.copytree(template.data, sandbox.root / "primary" / "data"))


def restic_layout(sandbox: Sandbox, template: ResticTemplate, repo: Path, primary: Path | None = None,
                  **copy_extra) -> None:
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("nas", "nas", "office")
    sandbox.dataset(
        DATASET,
        primary=sandbox.files_copy("droplet", primary or template.data, stamp=None),
        copies=[sandbox.restic_copy("nas", repo, snapshot_filter={"tags": ["platform-db"]}, **copy_extra)],
        policy={"copies": 2, "media": 2, "offsite": 1},
    )


def files_layout(sandbox: Sandbox, primary: Path, copy: Path) -> None:
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("hdd", "hdd", "kc-home")
    sandbox.dataset(
        DATASET,
        primary=sandbox.files_copy("droplet", primary, stamp=None),
        copies=[sandbox.files_copy("hdd", copy)],
        policy={"copies": 2, "media": 2, "offsite": 1},
    )


BOTH_MODES = pytest.mark.parametrize("mode", ["sample", "full"])  # full: restic lists alongside the restore


@BOTH_MODES
def test_healthy_restic_restore_test_passes_with_throughput_and_projection(sandbox, restic_template, make_repo, mode):
    restic_layout(sandbox, restic_template, make_repo(), primary_tree(sandbox, restic_template))
    run = restore_verify(sandbox, mode)

    copy = copy_result(run, DATASET, "nas")
    restore = check_result(copy, "restore-test")
    assert restore.status == Status.PASS, restore.detail
    m = restore.measured
    assert m["files"] == 6 and m["files_restored"] == 6  # the whole small tree fits the default sample
    assert m["bytes_restored"] == sum(p.stat().st_size for p in restic_template.data.rglob("*") if p.is_file())
    assert m["throughput_bytes_per_second"] > 0
    assert m["overhead_seconds"] > 0
    assert m["projected_restore_seconds"] >= m["overhead_seconds"]
    assert m["rto_seconds"] == 4 * 3600
    assert m["full_size_source"] == LISTING_SIZE_SOURCE  # no restic stats while the projection passes
    assert m["full_size_bytes"] == m["bytes_restored"]
    assert m["compared_with_primary"] == 6  # unchanged primary: every file held against it
    assert m["restic_verify"] is False  # so restic's second read of the restored files is not needed
    assert m["sample_coverage_ratio"] == 1.0
    assert m["snapshot"] and "restic" not in m["snapshot"]
    assert m.get("listing") == ("alongside the restore" if mode == "full" else None)
    assert m["scratch_sized_by"] == ("the primary's size" if mode == "full" else "the backup's listing")
    assert leftover_scratch(sandbox) == []
    assert oct((sandbox.root / "scratch").stat().st_mode & 0o777) == "0o700"
    assert PASSWORD not in restore.detail
    labels = '{dataset="platform-db",process="lithera-platform",target="nas"}'
    text = render(run).decode()
    assert f"backup_agent_restore_throughput_bytes_per_second{labels} " in text
    assert f"backup_agent_restore_projected_seconds{labels} " in text


def test_schedule_runs_the_restore_test_when_due_and_rotates_a_bounded_sample(sandbox, restic_template, make_repo):
    restic_layout(sandbox, restic_template, make_repo())
    sandbox.datasets[DATASET]["restore_test"] = {"every": "7d", "sample_files": 2, "sample_bytes": "1MiB"}

    first = restore_test(sandbox, DATASET, "nas", None)
    assert first.status == Status.PASS, first.detail
    assert "never restore-tested" not in first.detail and first.measured["files_restored"] == 2
    # The newest file is always in the sample; coverage is 2 of 6 files.
    assert first.measured["sample_coverage_ratio"] == pytest.approx(2 / 6, abs=1e-3)

    second = restore_test(sandbox, DATASET, "nas", None)
    assert second.status == Status.SKIP and "not due" in second.detail

    # Asked for explicitly, it runs anyway and rotates to files not tested yet.
    third = restore_test(sandbox, DATASET, "nas", "sample")
    assert third.status == Status.PASS, third.detail
    assert third.measured["sample_coverage_ratio"] > first.measured["sample_coverage_ratio"]
    state = json.loads((sandbox.root / "state" / "state.json").read_text())
    (entry,) = state["restore-test"].values()
    assert entry["last_status"] == "pass" and len(entry["tested"]) >= 3


@BOTH_MODES
def test_corrupted_pack_inside_the_sample_fails(sandbox, restic_template, make_repo, mode):
    repo = make_repo()
    flip_bytes(pack_files(repo)[0])
    restic_layout(sandbox, restic_template, repo)
    run = restore_verify(sandbox, mode)

    restore = check_result(copy_result(run, DATASET, "nas"), "restore-test")
    assert restore.status == Status.FAIL, restore.detail
    assert "data errors" in restore.detail
    assert leftover_scratch(sandbox) == []


def test_file_altered_in_a_plain_copy_fails_naming_it(files_sandbox, sample_tree):
    sandbox = files_sandbox
    copy = mirror(sample_tree, sandbox.root / "hdd" / "db-copy")
    target = copy / "docs" / "readme.txt"
    target.write_text("finance records, edited on the copy\n")
    files_layout(sandbox, sample_tree, copy)
    run = restore_verify(sandbox)

    restore = check_result(copy_result(run, DATASET, "hdd"), "restore-test")
    assert restore.status == Status.FAIL, restore.detail
    assert "docs/readme.txt" in restore.detail
    assert leftover_scratch(sandbox) == []


def test_healthy_plain_copy_restores_through_the_handle(files_sandbox, sample_tree):
    sandbox = files_sandbox
    copy = mirror(sample_tree, sandbox.root / "hdd" / "db-copy")
    files_layout(sandbox, sample_tree, copy)
    restore = restore_test(sandbox, DATASET, "hdd")
    assert restore.status == Status.PASS, restore.detail
    assert restore.measured["files"] == 6 and restore.measured["compared_with_primary"] == 6
    assert restore.measured["projected_restore_seconds"] is not None


def test_a_restore_test_records_whether_its_content_was_proven(files_sandbox, sample_tree):
    """`content_proven` in the restore test's measured values (what the monthly report's RTO
    achievement reads): true when every restored file was proven, false when one differs."""
    sandbox = files_sandbox
    copy = mirror(sample_tree, sandbox.root / "hdd" / "db-copy")
    files_layout(sandbox, sample_tree, copy)
    assert restore_test(sandbox, DATASET, "hdd", "full").measured["content_proven"] is True
    (copy / "docs" / "readme.txt").write_text("finance records, edited on the copy\n")
    failed = restore_test(sandbox, DATASET, "hdd", "full")
    assert failed.status == Status.FAIL and failed.measured["content_proven"] is False, failed.detail


@BOTH_MODES
def test_primary_silently_altered_is_suspected_source_corruption(sandbox, restic_template, make_repo, mode):
    primary = primary_tree(sandbox, restic_template)
    victim = primary / BIG
    before = victim.stat()
    data = bytearray(victim.read_bytes())
    data[1000:1008] = bytes(b ^ 0xFF for b in data[1000:1008])
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime
    restic_layout(sandbox, restic_template, make_repo(), primary)
    run = restore_verify(sandbox, mode)

    restore = check_result(copy_result(run, DATASET, "nas"), "restore-test")
    assert restore.status == Status.FAIL, restore.detail
    assert "suspected corruption at the source" in restore.detail and BIG in restore.detail
    # The verdict rests on restic's own check of the backed-up bytes, not only on the mismatch.
    assert restore.measured["confirmed_with_restic_verify"] == 1


@BOTH_MODES
def test_primary_changed_since_the_backup_is_held_against_restic_verify(sandbox, restic_template, make_repo, mode):
    primary = primary_tree(sandbox, restic_template)
    (primary / "docs" / "readme.txt").write_text("finance records, edited after the backup\n")
    restic_layout(sandbox, restic_template, make_repo(), primary)
    restore = restore_test(sandbox, DATASET, "nas", mode)
    assert restore.status == Status.PASS, restore.detail
    assert restore.measured["compared_with_primary"] == 5 and restore.measured["compared_with_backup_record"] == 1
    if mode == "sample":
        assert restore.measured["restic_verify"] is True  # the listing said so before the restore
    else:
        # Started before the listing: the one changed file (a small share of the bytes) is
        # restored a second time with --verify instead of re-reading everything.
        assert restore.measured["restic_verify"] is False
        assert restore.measured["confirmed_with_restic_verify"] == 1


def test_full_restore_of_files_the_primary_lost_since_holds_them_against_restic_verify(
        sandbox, restic_template, make_repo):
    primary = primary_tree(sandbox, restic_template)
    lost = primary / "docs" / "readme.txt"
    lost.unlink()
    restic_layout(sandbox, restic_template, make_repo(), primary)
    restore = restore_test(sandbox, DATASET, "nas", "full")
    assert restore.status == Status.PASS, restore.detail
    m = restore.measured
    assert m["files"] == 6 and m["compared_with_primary"] == 5 and m["compared_with_backup_record"] == 1
    assert m["confirmed_with_restic_verify"] == 1


def test_full_restore_after_the_primary_shrank_sizes_scratch_by_the_last_listed_restore_size(
        sandbox, restic_template, make_repo):
    primary = primary_tree(sandbox, restic_template)
    restic_layout(sandbox, restic_template, make_repo(), primary)
    first = restore_test(sandbox, DATASET, "nas", "full")
    assert first.status == Status.PASS and first.measured["scratch_sized_by"] == "the primary's size"
    (primary / BIG).unlink()  # the primary shrank (say, wiped): the backup still holds the big file
    second = restore_test(sandbox, DATASET, "nas", "full")
    assert second.status == Status.PASS, second.detail
    assert second.measured["scratch_sized_by"] == "this copy's restore size when last listed"
    assert second.measured["full_size_bytes"] == first.measured["full_size_bytes"]


def test_full_restore_from_an_empty_primary_lists_the_backup_first(sandbox, restic_template, make_repo):
    empty = sandbox.root / "primary" / "empty"
    empty.mkdir(parents=True)
    restic_layout(sandbox, restic_template, make_repo(), empty)
    restore = restore_test(sandbox, DATASET, "nas", "full")
    # Nothing to size the scratch check by before the listing: it comes first, as for a sample.
    assert restore.measured["scratch_sized_by"] == "the backup's listing" and "listing" not in restore.measured
    assert restore.status == Status.PASS, restore.detail
    assert restore.measured["compared_with_backup_record"] == 6 and restore.measured["restic_verify"] is True


@BOTH_MODES
@pytest.mark.parametrize("breakage", ["wrong-password", "missing-repository", "unplugged-disk", "stale"])
def test_a_broken_backup_never_passes_under_a_restore_test(sandbox, restic_template, make_repo, root_fs_dir, mode,
                                                           breakage):
    repo = make_repo()
    copy_options: dict = {"snapshot_filter": {"tags": ["platform-db"]}}
    if breakage == "wrong-password":
        wrong = sandbox.root / "wrong.pass"
        wrong.write_text("not-the-password\n")
        copy_options["password_file"] = str(wrong)
    elif breakage == "missing-repository":
        shutil.rmtree(repo)
    elif breakage == "stale":
        copy_options["snapshot_filter"] = {"tags": [STALE_TAG]}  # its only snapshot is 10 days old
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    if breakage == "unplugged-disk":
        # The disk is away: its empty mountpoint and a leftover repository sit on the root filesystem.
        repo = Path(shutil.copytree(repo, root_fs_dir / "backup-ssd" / "repo"))
        sandbox.target("nas", "ssd", "office", require_mount=True)
    else:
        sandbox.target("nas", "nas", "office")
    sandbox.dataset(DATASET, primary=sandbox.files_copy("droplet", restic_template.data, stamp=None),
                    copies=[sandbox.restic_copy("nas", repo, **copy_options)],
                    policy={"copies": 2, "media": 2, "offsite": 1})
    run = restore_verify(sandbox, mode)

    copy = copy_result(run, DATASET, "nas")
    restore = check_result(copy, "restore-test")
    if breakage == "stale":
        # The 10-day-old snapshot does restore (restore-test judges restorability, not age); the
        # copy fails on its age all the same.
        assert copy.status == Status.FAIL and check_result(copy, "freshness").status == Status.FAIL, statuses(copy)
        assert restore.measured["snapshot"] in check_result(copy, "freshness").detail
    else:
        assert copy.status == Status.ERROR, statuses(copy)
        assert restore.status in (Status.ERROR, Status.SKIP), restore.detail
        # restic-packs needs no password: files hashing to their names is true even with the wrong key.
        assert not any(c.status == Status.PASS for c in copy.checks if c.name not in ("reachable", "restic-packs")), \
            statuses(copy)
    assert leftover_scratch(sandbox) == []


@BOTH_MODES
def test_rto_below_projected_restore_time_fails_with_both_numbers(sandbox, restic_template, make_repo, mode):
    sandbox.processes["lithera-platform"]["rto"] = "0.2s"
    restic_layout(sandbox, restic_template, make_repo())
    run = restore_verify(sandbox, mode)

    restore = check_result(copy_result(run, DATASET, "nas"), "restore-test")
    assert restore.status == Status.FAIL, restore.detail
    projected = restore.measured["projected_restore_seconds"]
    assert projected > 0.2 and restore.measured["rto_seconds"] == 0.2
    # Before failing the RTO, the projection is recomputed from restic's own restore size.
    assert restore.measured["full_size_source"] == STATS_SIZE_SOURCE
    assert f"{projected:.1f}s" in restore.detail and "RTO 0.2s" in restore.detail


@pytest.fixture
def tiny_scratch(tmp_path: Path):
    """A 1 MiB tmpfs as the scratch area (the sample fits, the margin does not). Needs root."""
    mountpoint = tmp_path / "tiny-scratch"
    mountpoint.mkdir()
    with mounted_tmpfs(mountpoint, "size=1m,mode=0700"):
        yield mountpoint


@BOTH_MODES
def test_scratch_too_small_is_an_error_before_any_byte_is_restored(sandbox, restic_template, make_repo, tiny_scratch,
                                                                   mode):
    sandbox.agent["scratch_dir"] = str(tiny_scratch)
    restic_layout(sandbox, restic_template, make_repo())
    run = restore_verify(sandbox, mode)

    restore = check_result(copy_result(run, DATASET, "nas"), "restore-test")
    assert restore.status == Status.ERROR, restore.detail
    assert "nothing restored" in restore.detail and "free" in restore.detail
    assert list(tiny_scratch.iterdir()) == []
    assert "bytes_restored" not in restore.measured


def cli(sandbox: Sandbox, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "RESTIC_CACHE_DIR": str(sandbox.root / "restic-cache")}
    return subprocess.Popen([sys.executable, "-c", "from agent.cli import main; main()", "--config", str(sandbox.root / "targets.yaml"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def slow_restore_layout(sandbox: Sandbox, template: ResticTemplate, repo: Path) -> Path:
    """A copy whose password command stalls only when restic runs `restore`, and says so with a
    marker file: a signal sent then lands while the restore holds its scratch directory."""
    marker = sandbox.root / "restoring"
    script = sandbox.root / "slow-password.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"if tr '\\0' ' ' < /proc/$PPID/cmdline | grep -q ' restore '; then touch {marker}; sleep 60; fi\n"
        f"cat {template.password_file}\n")
    script.chmod(0o700)
    restic_layout(sandbox, template, repo, password_command=str(script))
    sandbox.config()
    return marker


def terminate_during_restore(sandbox: Sandbox, marker: Path, *args: str) -> tuple[int, str, str]:
    process = cli(sandbox, *args)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the restore never started"
            time.sleep(0.05)
        assert [p.name.startswith("restore-") for p in leftover_scratch(sandbox)] == [True]
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, stdout, stderr


def test_sigterm_during_a_restore_test_removes_scratch_and_records_an_interrupted_run(
        sandbox, restic_template, make_repo):
    marker = slow_restore_layout(sandbox, restic_template, make_repo())
    returncode, stdout, stderr = terminate_during_restore(sandbox, marker, "verify", "--restore-test", "--json")
    assert returncode == 3, stderr
    assert "interrupted" in stderr
    assert leftover_scratch(sandbox) == []
    with RecordStore(sandbox.root / "state" / "records.sqlite") as store:
        runs = list(store.rows(kind="run"))
        checks = [r for r in store.rows(kind="check") if r["check_name"] == "restore-test"]
        assert store.verify_chain().ok
    assert [r["result"] for r in runs] == ["interrupted"]
    assert checks and checks[0]["result"] == "error"
    done = cli(sandbox, "records", "verify")
    assert done.wait(timeout=60) == 0, done.communicate()


def test_drill_writes_a_qef_19_03_record_with_actual_against_target(sandbox, restic_template, make_repo):
    restic_layout(sandbox, restic_template, make_repo(), primary_tree(sandbox, restic_template))
    sandbox.config()
    process = cli(sandbox, "drill", DATASET)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr + stdout
    assert "QEF-19-03" in stdout and "RTO" in stdout and "RPO" in stdout

    with RecordStore(sandbox.root / "state" / "records.sqlite") as store:
        (row,) = list(store.rows(kind="drill"))
        assert store.verify_chain().ok
    assert row["form"] == FORM_DRILL and row["result"] == "pass" and row["target"] == "nas"
    measured = json.loads(row["measured"])
    assert measured["rto_target_seconds"] == 4 * 3600 and 0 < measured["rto_actual_seconds"] < 4 * 3600
    assert measured["rpo_target_seconds"] == 86400 and 0 <= measured["rpo_actual_seconds"] < 3600
    assert measured["files"] == 6 and measured["bytes_restored"] > 0
    assert measured["errors"] == []
    assert measured["content_proven"] is True and measured["rto_met"] is True
    assert leftover_scratch(sandbox) == []


def test_drill_missing_the_rto_fails_and_an_unknown_copy_is_a_usage_error(sandbox, restic_template, make_repo):
    sandbox.processes["lithera-platform"]["rto"] = "0.2s"
    restic_layout(sandbox, restic_template, make_repo())
    sandbox.config()
    process = cli(sandbox, "drill", DATASET, "--from", "nas")
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr + stdout
    assert "未达标 / MISSED" in stdout and "RTO missed" in stdout

    with RecordStore(sandbox.root / "state" / "records.sqlite") as store:
        (row,) = list(store.rows(kind="drill"))
    assert row["result"] == "fail" and row["rto_seconds"] == 0.2 and row["restore_seconds"] > 0.2

    unknown = cli(sandbox, "drill", DATASET, "--from", "droplet")
    _, stderr = unknown.communicate(timeout=60)
    assert unknown.returncode == 2 and "no backup copy on target 'droplet'" in stderr


def test_sigterm_during_a_drill_removes_scratch_and_records_the_drill_as_interrupted(
        sandbox, restic_template, make_repo):
    marker = slow_restore_layout(sandbox, restic_template, make_repo())
    returncode, stdout, stderr = terminate_during_restore(sandbox, marker, "drill", DATASET, "--from", "nas")
    assert returncode == 3, stderr
    assert leftover_scratch(sandbox) == []
    assert "INTERRUPTED" in stdout
    with RecordStore(sandbox.root / "state" / "records.sqlite") as store:
        (row,) = list(store.rows(kind="drill"))
        assert store.verify_chain().ok
    assert row["result"] == "interrupted" and row["form"] == FORM_DRILL
    # An interrupted drill showed no recovery: no RTO verdict, in the output and on the record.
    measured = json.loads(row["measured"])
    assert measured["rto_met"] is None and measured["content_proven"] is False
    assert measured["rto_actual_seconds"] is None and measured["elapsed_seconds"] > 0
    assert "not established" in stdout and "达标 / met" not in stdout
    assert "RTO not established" in row["detail"]


def test_restore_size_without_stats_is_the_listing_sum_and_never_below_restics(tmp_path, restic_template, make_repo):
    # The full restore size the projection uses unless it would fail the RTO: the sum of the
    # listing's file sizes. Without hard links it is restic's restore size exactly; with one it
    # counts the link once per name, so it can only make the projection longer.
    from types import SimpleNamespace

    from agent.config import SecretRef
    from agent.restic import ResticRepository, select_snapshots
    from agent.restore.listing import restic_listing
    from agent.targets.base import ResticLocation

    repo = make_repo()
    tree = tmp_path / "linked"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.bin").write_bytes(os.urandom(100_000))
    os.link(tree / "a.bin", tree / "sub" / "b.bin")
    (tree / "c.txt").write_text("c" * 5000)
    (tree / "empty").write_bytes(b"")
    (tree / "to-a").symlink_to("a.bin")
    restic_template.restic(repo, "backup", "--tag", "linked", str(tree))
    repository = ResticRepository(ResticLocation(str(repo)), SecretRef(file=str(restic_template.password_file)),
                                  tmp_path / "cache", 120)
    snapshots = repository.snapshots()
    for tag, expected_extra in (("platform-db", 0), ("linked", 100_000)):
        snapshot = select_snapshots(snapshots, {"tags": [tag]})[-1]
        listing = restic_listing(SimpleNamespace(restic=repository), snapshot)
        restic_size = repository.stats(snapshot.id, "restore-size")["total_size"]
        assert listing.size_source == LISTING_SIZE_SOURCE
        assert listing.full_size == restic_size + expected_extra
        assert listing.full_size == sum(e.size for e in listing.entries.values())
