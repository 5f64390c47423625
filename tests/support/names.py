"""What the tests of hostile file names share (local, SSH, restic): the names, how the agent shows
each one, a tree holding them, and the two ways of corrupting exactly one file on a copy."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.support.restic import flip_bytes

NOT_UTF8 = os.fsdecode(b"\xff\xfe")
# name -> how the agent shows it in a detail (agent.names.show: one printable, unambiguous form)
HOSTILE = {
    "-": "-",
    "-rf": "-rf",
    "--help": "--help",
    "a\nb\\c": "a\\nb\\\\c",
    NOT_UTF8: "\\xff\\xfe",
}
HOSTILE_IDS = ["dash", "dash-rf", "dash-help", "newline-backslash", "not-utf8"]
OLD = 1_700_000_000  # mtimes long before any sync stamp
TAG = "names"


def write_hostile_tree(root: Path) -> Path:
    """Every hostile name at the top of the tree (where `-` is exactly what sha256sum reads as stdin),
    `-` once more in a subdirectory, and an ordinary file; distinct contents, so each file has its
    own restic blob. Return root."""
    (root / "sub").mkdir(parents=True)
    for index, name in enumerate([*HOSTILE, "sub/-", "ordinary.txt"]):
        path = root / name
        path.write_bytes(f"{index}: contents of {name!r}\n".encode("utf-8", "surrogateescape") * (50 + index))
        os.utime(path, (OLD, OLD))
    return root


TREE_FILES = len(HOSTILE) + 2


def corrupt_in_place(path: Path) -> None:
    """Flip one byte in the middle; size unchanged, atime and mtime put back (only ctime moves)."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def flip_blob_of(template, repo: Path, content: bytes) -> None:
    """Flip a byte inside the restic blob holding `content` (a small file is one data blob whose ID
    is the SHA-256 of its bytes), in whichever pack the index says holds it."""
    blob_id = hashlib.sha256(content).hexdigest()
    for index_id in template.restic(repo, "list", "index").split():
        for pack in json.loads(template.restic(repo, "cat", "index", index_id))["packs"]:
            for blob in pack["blobs"]:
                if blob["id"] == blob_id:
                    flip_bytes(repo / "data" / pack["id"][:2] / pack["id"], blob["offset"] + blob["length"] // 2, 1)
                    return
    raise AssertionError(f"no blob {blob_id} in {repo}")


def make_hostile_repo(tmp_path_factory: pytest.TempPathFactory, restic_template) -> tuple[Path, Path]:
    """A restic repository holding one backup (tagged TAG) of the hostile tree: its own, since the
    shared template's tree has ordinary names. Return (repository, backed-up tree). For a
    session fixture of the module that needs it."""
    root = tmp_path_factory.mktemp("hostile-restic")
    data = write_hostile_tree(root / "data")
    repo = root / "repo"
    restic_template.restic(repo, "init")
    restic_template.restic(repo, "backup", "--tag", TAG, str(data))
    return repo, data
