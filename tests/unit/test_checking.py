"""The copy context: one place builds it (Session.copy_context), and what its checks share is read
once per copy through typed accessors — the copy's files, the repository's snapshots and the
dataset's — with a failed listing remembered rather than repeated. Local targets on tmp_path are
real; the restic repository is a stand-in object because unit tests start no process (the real
listing is tested in tests/integration/test_checks_restic.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.checking import CopyContext, RunOptions
from agent.config import parse_config
from agent.errors import TargetUnavailable
from agent.restic import Snapshot
from agent.run import Session


def session(tmp_path: Path, copy_form: str = "files", snapshot_filter: dict | None = None) -> Session:
    copy = {"target": "nas", "form": copy_form, "path": str(tmp_path / "copy"), "stamp": ".last-sync"}
    if copy_form == "restic":
        copy = {"target": "nas", "form": "restic", "path": str(tmp_path / "repo"),
                "password_file": str(tmp_path / "pass"), "snapshot_filter": snapshot_filter or {}}
    document = {
        "agent": {"state_dir": str(tmp_path / "state")},
        "processes": {"p": {"rpo": "1d", "rto": "4h"}},
        "targets": {"droplet": {"kind": "local", "medium": "cloud-vm", "location": "sgp", "require_mount": False},
                    "nas": {"kind": "local", "medium": "nas", "location": "office", "require_mount": False}},
        "datasets": {"d": {"process": "p", "primary": {"target": "droplet", "form": "files",
                                                       "path": str(tmp_path / "primary")},
                           "copies": [copy]}},
    }
    return Session(parse_config(document, tmp_path / "targets.yaml"))


def context(tmp_path: Path, **kwargs) -> CopyContext:
    run = session(tmp_path, **kwargs)
    dataset = run.config.datasets["d"]
    return run.copy_context(dataset, dataset.copies[0], RunOptions())


def test_one_place_builds_a_copys_context(tmp_path: Path) -> None:
    built = context(tmp_path)
    assert built.spec.target.name == "nas" and built.handle.target.name == "nas"
    assert built.primary.handle.target.name == "droplet" and built.restic is None
    restic = context(tmp_path / "r", copy_form="restic")
    assert restic.restic is not None and restic.restic.location.repository == str(tmp_path / "r" / "repo")


def test_the_copys_files_are_listed_once_and_the_stamp_can_be_left_out(tmp_path: Path) -> None:
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "a.txt").write_text("a")
    (tmp_path / "copy" / ".last-sync").write_text("synced")
    built = context(tmp_path)
    first = built.copy_entries()
    (tmp_path / "copy" / "b.txt").write_text("b")  # after the listing: the checks share the first one
    assert sorted(built.copy_entries()) == sorted(first) == [".last-sync", "a.txt"]
    assert sorted(built.copy_entries(without_stamp=True)) == ["a.txt"]


def test_a_failed_listing_is_remembered_not_repeated(tmp_path: Path) -> None:
    built = context(tmp_path)  # no copy directory yet
    with pytest.raises(TargetUnavailable) as first:
        built.copy_entries()
    (tmp_path / "copy").mkdir()
    with pytest.raises(TargetUnavailable) as second:
        built.copy_entries()
    assert second.value is first.value


class CountingRepository:
    """Stands in for ResticRepository.snapshots (no process in a unit test); counts the listings."""

    def __init__(self, snapshots: list[Snapshot]):
        self.listed = 0
        self._snapshots = snapshots

    def snapshots(self) -> list[Snapshot]:
        self.listed += 1
        return self._snapshots


def snapshot(short: str, tags: tuple[str, ...], day: int) -> Snapshot:
    return Snapshot(short * 8, short, datetime(2026, 11, day, tzinfo=UTC), "host", ("/srv",), tags)


def test_repository_and_dataset_snapshots_are_two_lists_read_once(tmp_path: Path) -> None:
    built = context(tmp_path, copy_form="restic", snapshot_filter={"tags": ["db"]})
    repository = CountingRepository([snapshot("b", ("db",), 3), snapshot("c", ("docs",), 2), snapshot("a", ("db",), 1)])
    built.restic = repository
    assert [s.short_id for s in built.dataset_snapshots()] == ["a", "b"]  # the dataset's, oldest first
    assert len(built.repository_snapshots()) == 3  # all of them, whoever asked first
    assert built.dataset_snapshots() is built.dataset_snapshots() and repository.listed == 1


def test_snapshots_of_a_copy_that_is_not_restic_are_a_callers_mistake(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a restic copy"):
        context(tmp_path).dataset_snapshots()
