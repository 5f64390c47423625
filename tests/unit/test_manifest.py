"""agent.manifest: a tree's file list held in columns, in the byte order of the names, and two of
them walked side by side. The order must be exactly the sorted order of the full relative paths
(a directory "a" sorts as "a/", after "a-b" and before "a0"), whatever the names hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent import names
from agent.hashing import FileEntry, scan_tree
from agent.manifest import Manifest, as_manifest, merge_join, scan

NOT_UTF8 = names.from_bytes(b"caf\xe9.txt")
TREE = ["a.txt", "a-b", "a/b", "a/c/d", "a0", "b.txt", "z", "出货单 11月.txt", "dir with space/x", NOT_UTF8,
        "x/" + NOT_UTF8, "line\nbreak", "empty"]


def write_tree(root: Path, relpaths: list[str]) -> None:
    for index, relpath in enumerate(relpaths):
        path = os.path.join(os.fsencode(root), names.to_bytes(relpath))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(b"x" * index)


def test_scan_lists_every_file_in_the_byte_order_of_the_full_paths(tmp_path: Path) -> None:
    write_tree(tmp_path, TREE)
    (tmp_path / "a" / "link").symlink_to(tmp_path / "b.txt")  # not followed, not listed
    manifest = scan(str(tmp_path))
    assert list(manifest) == sorted(TREE, key=names.to_bytes)
    assert manifest == scan_tree(str(tmp_path)), "the same files and stats as the dict form"
    for relpath in TREE:
        st = os.stat(os.path.join(os.fsencode(tmp_path), names.to_bytes(relpath)))
        assert manifest[relpath] == FileEntry(relpath, st.st_size, st.st_mtime, st.st_ino, st.st_ctime_ns, st.st_dev)


def test_a_manifest_reads_as_a_mapping(tmp_path: Path) -> None:
    write_tree(tmp_path, TREE)
    manifest = scan(str(tmp_path))
    assert len(manifest) == len(manifest.values()) == len(TREE)
    assert "a/b" in manifest and "a/" not in manifest and "nope" not in manifest and 3 not in manifest
    with pytest.raises(KeyError):
        manifest["a/c"]  # a directory is not a file
    assert manifest.get("nope") is None
    assert dict(manifest.items()) == {e.relpath: e for e in manifest.values()}
    assert max(manifest.values(), key=lambda e: e.size).relpath == TREE[-1]


def test_hiding_leaves_one_file_out_without_copying(tmp_path: Path) -> None:
    write_tree(tmp_path, ["a", ".last-sync", "b"])
    manifest = scan(str(tmp_path))
    hidden = manifest.hiding(".last-sync")
    assert list(hidden) == ["a", "b"] and len(hidden) == 2 and ".last-sync" not in hidden
    assert ".last-sync" in manifest, "the original is untouched"
    assert manifest.hiding("absent") is manifest


def test_from_entries_sorts_any_listing() -> None:
    entries = [FileEntry(p, i, float(i), i, i, 7) for i, p in enumerate(reversed(TREE))]
    manifest = Manifest.from_entries(entries)
    assert list(manifest) == sorted(TREE, key=names.to_bytes)
    assert manifest == {e.relpath: e for e in entries}
    assert as_manifest(manifest) is manifest and as_manifest({e.relpath: e for e in entries}) == manifest


@pytest.mark.parametrize(("left", "right", "pairs"), [
    ([], [], []),
    (["a"], [], [("a", None)]),
    ([], ["a"], [(None, "a")]),
    (["a", "b", "c"], ["b"], [("a", None), ("b", "b"), ("c", None)]),
    (["a-b", "a/b"], ["a/b", "a0"], [("a-b", None), ("a/b", "a/b"), (None, "a0")]),
    (["b", "d"], ["a", "c", "e"], [(None, "a"), ("b", None), (None, "c"), ("d", None), (None, "e")]),
])
def test_merge_join(left: list[str], right: list[str], pairs: list[tuple]) -> None:
    a = Manifest.from_entries(FileEntry(p, 1, 0.0) for p in left)
    b = Manifest.from_entries(FileEntry(p, 1, 0.0) for p in right)
    got = [(a.name(i) if i >= 0 else None, b.name(j) if j >= 0 else None) for i, j in merge_join(a, b)]
    assert got == pairs
