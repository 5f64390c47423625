"""What the restore tests against local, SSH and S3 copies share: running one restore test,
the scratch it must not leave behind, and what a passing one must have measured."""

from __future__ import annotations

from pathlib import Path

from agent.checking import RunOptions
from agent.models import Status
from agent.run import run_verification, select_datasets
from tests.support.sandbox import Sandbox, check_result, copy_result


def restore_verify(sandbox: Sandbox, mode: str | None = "sample"):
    """Run verify with --restore-test=MODE (None: only what the schedule makes due), keep its state
    as the CLI does (the rotation, the last listed restore size), and return the run."""
    config = sandbox.config()
    run = run_verification(config, select_datasets(config, (), ()), options=RunOptions(restore_test=mode))
    if run.state is not None:
        run.state.save()
    return run


def restore_test(sandbox: Sandbox, dataset: str, target: str, mode: str | None = "sample"):
    """Run verify --restore-test=MODE and return the restore-test result of one copy."""
    return check_result(copy_result(restore_verify(sandbox, mode), dataset, target), "restore-test")


def leftover_scratch(sandbox: Sandbox) -> list[Path]:
    scratch = sandbox.root / "scratch"
    return sorted(scratch.iterdir()) if scratch.exists() else []


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def assert_measured_pass(restore, files: int, size: int) -> None:
    assert restore.status == Status.PASS, restore.detail
    m = restore.measured
    assert m["files"] == files and m["files_restored"] == files
    assert m["bytes_restored"] == size
    assert m["throughput_bytes_per_second"] > 0
    assert m["projected_restore_seconds"] >= m["overhead_seconds"] > 0
    assert m["rto_seconds"] == 4 * 3600
    assert "projected full restore" in restore.detail
