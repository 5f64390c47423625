"""agent.restore.judge without restic or a target: restored files in tmp_path, the primary's hashes
and a plain copy's own hashes given as values, the verdict and its figures checked. Restores from
real restic, SSH and S3 copies, broken for real, are in tests/integration/test_restore.py and
ssh/, s3/."""

from __future__ import annotations

import hashlib
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.errors import TargetUnavailable
from agent.hashing import FileEntry, HashOutcome
from agent.models import Status
from agent.restore.judge import Comparison, Held, PrimaryHashes, hold, judge
from agent.restore.model import BackupListing

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
CONTENT = {"a": b"alpha", "b": b"bravo!", "sub/c": b"charlie"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def outcome(digests: dict[str, str], unreadable: dict[str, str] | None = None) -> HashOutcome:
    return HashOutcome(digests, unreadable or {}, [], 0, 0)


def done(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


class Copy:
    """A plain copy's target as judge() sees it: its own hash of each file, or unreachable."""

    def __init__(self, digests: dict[str, str] | None = None, error: str | None = None):
        self.digests, self.error, self.asked = digests or {}, error, []

    def hash(self, path: str, entries: list[FileEntry]) -> HashOutcome:
        self.asked += [e.relpath for e in entries]
        if self.error:
            raise TargetUnavailable(self.error)
        return outcome({e.relpath: self.digests[e.relpath] for e in entries if e.relpath in self.digests})


def context(form: str = "files", rto: float = 3600.0, copy: Copy | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        spec=SimpleNamespace(form=form, path="/copy", target=SimpleNamespace(name="nas")),
        dataset=SimpleNamespace(name="ds", process=SimpleNamespace(rto_seconds=rto)),
        options=SimpleNamespace(progress=None),
        settings=SimpleNamespace(hash_workers=2, command_timeout_seconds=60.0),
        handle=copy or Copy(), restic=None, now=NOW, last_backup_at=None)


def entries(mtime: float = 100.0, **sizes: int) -> dict[str, FileEntry]:
    return {p: FileEntry(p, size, mtime) for p, size in sizes.items()}


BACKUP = {p: FileEntry(p, len(data), 100.0) for p, data in CONTENT.items()}


def restored_tree(root: Path, content: dict[str, bytes] = CONTENT) -> Path:
    for relpath, data in content.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_bytes(data)
    return root


def comparison(scratch: Path, comparable=(), primary: PrimaryHashes | None = None, notes=()) -> Comparison:
    return Comparison(dict(BACKUP), list(comparable), done(primary) if primary else None, True, tuple(notes), scratch)


def listing(full_size: int | None = None) -> BackupListing:
    return BackupListing(dict(BACKUP), sum(e.size for e in BACKUP.values()) if full_size is None else full_size,
                         0.01, "files copy")


# --- which side vouches for each file --------------------------------------------------------------


PRIMARY_SAME = PrimaryHashes(outcome({p: sha(d) for p, d in CONTENT.items()}), None, 0.1)
PRIMARY_CHANGED = PrimaryHashes(outcome({"a": sha(b"ALPHA"), "b": sha(CONTENT["b"])}), None, 0.1)


@pytest.mark.parametrize("comparable, primary_entries, primary, expected", [
    # nothing chosen: all against the backup's record, the primary never waited for
    ((), BACKUP, None, Held([], ["a", "b"])),
    (("a", "b"), BACKUP, PRIMARY_SAME, Held(["a", "b"], [])),
    (("a",), BACKUP, PRIMARY_SAME, Held(["a"], ["b"])),
    # the primary differs: changed since (other mtime) or, same size and mtime, suspected at the source
    (("a", "b"), entries(mtime=999.0, a=5, b=6), PRIMARY_CHANGED, Held(["a", "b"], [], differs=["a"])),
    (("a", "b"), BACKUP, PRIMARY_CHANGED, Held(["a", "b"], [], source_suspect=["a"])),
    # the primary cannot be read: held against the record, and said so
    (("a", "b"), BACKUP, PrimaryHashes(None, TargetUnavailable("ssh: timeout"), 0.1),
     Held([], ["a", "b"], notes=("primary unreadable (ssh: timeout)",))),
    (("a", "b"), BACKUP, PrimaryHashes(outcome({"b": sha(CONTENT["b"])}, {"a": "Permission denied"}), None, 0.1),
     Held(["b"], ["a"], notes=("1 primary files unreadable (a); held against the backup's record",))),
])
def test_hold(tmp_path, comparable, primary_entries, primary, expected):
    prepared = Comparison(primary_entries, list(comparable), done(primary) if primary else None, True, (), tmp_path)
    digests = {p: sha(CONTENT[p]) for p in ("a", "b")}
    assert hold(context(), BACKUP, ["a", "b"], digests, prepared) == expected


# --- the verdict -----------------------------------------------------------------------------------


def test_every_file_matching_the_primary_passes_with_its_figures(tmp_path):
    root = restored_tree(tmp_path / "files")
    result = judge(context(), listing(), sorted(CONTENT), root, 1.0,
                   comparison(tmp_path, CONTENT, PRIMARY_SAME, ["a note"]))
    assert result.status == Status.PASS and result.content_ok, result.detail
    assert result.verified == ["a", "b", "sub/c"]
    assert result.detail.startswith("restored 3 of 3 files from files copy, 18 B in 1.00s")
    assert "all 3 match (3 the primary, 0 the backup's own record)" in result.detail
    assert result.detail.endswith("; a note")
    m = result.measured
    assert (m["files"], m["files_restored"], m["bytes_restored"], m["compared_with_primary"]) == (3, 3, 18, 3)
    assert m["sample_bytes_share"] == 1.0 and m["rto_seconds"] == 3600.0 and m["primary_files_future_dated"] == 0


def test_files_the_primary_cannot_vouch_for_are_held_against_the_copys_own_hash(tmp_path):
    root = restored_tree(tmp_path / "files")
    copy = Copy({p: sha(d) for p, d in CONTENT.items()} | {"b": sha(b"other")})
    result = judge(context(copy=copy), listing(), sorted(CONTENT), root, 1.0, comparison(tmp_path))
    assert copy.asked == ["a", "b", "sub/c"]
    assert result.status == Status.FAIL and not result.content_ok
    assert result.detail.startswith("1 restored files differ from the copy itself (b) — restored 3 of 3")
    assert result.verified == ["a", "sub/c"]


@pytest.mark.parametrize("content, status, words", [
    ({"a": CONTENT["a"], "sub/c": CONTENT["sub/c"]}, Status.FAIL, "1 not restored (b)"),
    ({**CONTENT, "b": b"bravo"}, Status.FAIL, "1 restored with the wrong size (b)"),
    ({}, Status.ERROR, "nothing was restored from files copy (3 files asked for)"),
])
def test_what_did_not_come_back_as_backed_up(tmp_path, content, status, words):
    root = restored_tree(tmp_path / "files", content)
    (tmp_path / "files").mkdir(exist_ok=True)
    copy = Copy({p: sha(d) for p, d in CONTENT.items()})
    result = judge(context(copy=copy), listing(), sorted(CONTENT), root, 1.0, comparison(tmp_path))
    assert result.status == status and words in result.detail and not result.content_ok


def test_a_copy_that_cannot_hash_is_an_error(tmp_path):
    root = restored_tree(tmp_path / "files")
    result = judge(context(copy=Copy(error="sftp: connection lost")), listing(), sorted(CONTENT), root, 1.0,
                   comparison(tmp_path))
    assert result.status == Status.ERROR and result.detail == "cannot hash the copy to compare: sftp: connection lost"


def test_a_copy_without_its_hash_is_unproven_never_a_pass(tmp_path):
    root = restored_tree(tmp_path / "files")
    copy = Copy({"a": sha(CONTENT["a"]), "b": sha(CONTENT["b"])})
    result = judge(context(copy=copy), listing(), sorted(CONTENT), root, 1.0, comparison(tmp_path))
    assert result.status == Status.ERROR and result.detail.startswith("1 files could not be compared (sub/c)")


def test_content_proven_but_a_projection_over_the_rto_fails(tmp_path):
    root = restored_tree(tmp_path / "files")
    result = judge(context(rto=10.0), listing(full_size=10**9), sorted(CONTENT), root, 1.0,
                   comparison(tmp_path, CONTENT, PRIMARY_SAME))
    assert result.status == Status.FAIL and result.content_ok
    assert result.detail.startswith("projected full restore ") and "exceeds the RTO 10s" in result.detail
