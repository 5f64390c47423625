"""A tree's file list held compactly: a million files in about 60 MB, where a dict of FileEntry
objects takes 300.

A Manifest is a read-only mapping relpath -> FileEntry whose files are kept sorted by the bytes of
their names (agent.names) in columns — the names packed into one buffer, sizes, mtimes, inodes,
ctimes and devices in typed arrays — and each FileEntry is made when asked for. Two manifests are
compared by walking both in order (merge_join), never by looking every name up.

scan() lists a local directory straight into a Manifest, in order, without sorting afterwards:
each directory's children are visited in the order of their names, a subdirectory's name counted
with a trailing "/", which is exactly the byte order of the full relative paths.
"""

from __future__ import annotations

import bisect
import os
from array import array
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from agent import names
from agent.hashing import FileEntry


class Manifest(Mapping[str, FileEntry]):
    """Files sorted by name, in columns. Build with append() in order, or from_entries()."""

    def __init__(self) -> None:
        self._names = bytearray()
        self._ends = array("I")  # where each name ends in _names (8 bytes each past 4 GiB of names)
        self._size = array("q")
        self._mtime = array("d")  # st_mtime as the float FileEntry keeps
        self._inode = array("Q")
        self._ctime = array("q")
        self._device = array("H")  # index into _devices: a tree sits on one or a few filesystems
        self._devices: list[int] = []
        self._hidden = -1  # one index left out (a copy's sync stamp), see hiding()

    # --- building -----------------------------------------------------------------------------------

    def append(self, name: bytes, size: int, mtime: float, inode: int, ctime_ns: int, device: int) -> None:
        """Add a file whose name sorts after every name added before (not checked: scan and
        from_entries guarantee it)."""
        self._names += name
        if len(self._names) >= 1 << 32 and self._ends.typecode == "I":
            self._ends = array("Q", self._ends)
        self._ends.append(len(self._names))
        self._size.append(size)
        self._mtime.append(mtime)
        self._inode.append(inode)
        self._ctime.append(ctime_ns)
        try:
            self._device.append(self._devices.index(device))
        except ValueError:
            self._devices.append(device)
            self._device.append(len(self._devices) - 1)

    @classmethod
    def from_entries(cls, entries: Iterable[FileEntry]) -> Manifest:
        manifest = cls()
        for entry in sorted(entries, key=lambda e: names.to_bytes(e.relpath)):
            manifest.append(names.to_bytes(entry.relpath), entry.size, entry.mtime, entry.inode, entry.ctime_ns,
                            entry.device)
        return manifest

    def hiding(self, relpath: str) -> Manifest:
        """The same files without relpath (sharing the columns, nothing copied); itself when absent."""
        index = self._index(relpath)
        if index < 0:
            return self
        view = object.__new__(Manifest)
        view.__dict__.update(self.__dict__)
        view._hidden = index
        return view

    # --- reading ------------------------------------------------------------------------------------

    def name_bytes(self, index: int) -> bytes:
        start = self._ends[index - 1] if index else 0
        return bytes(self._names[start:self._ends[index]])

    def name(self, index: int) -> str:
        return names.from_bytes(self.name_bytes(index))

    def size(self, index: int) -> int:
        return self._size[index]

    def mtime(self, index: int) -> float:
        return self._mtime[index]

    def entry(self, index: int) -> FileEntry:
        return FileEntry(self.name(index), self._size[index], self._mtime[index], self._inode[index],
                         self._ctime[index], self._devices[self._device[index]])

    def indexes(self) -> Iterator[int]:
        """The positions of the files, in name order (the hidden one left out)."""
        return (i for i in range(len(self._size)) if i != self._hidden)

    def _index(self, relpath: str) -> int:
        """The position of relpath, or -1."""
        wanted = names.to_bytes(relpath)
        count = len(self._size)
        index = bisect.bisect_left(range(count), wanted, key=self.name_bytes)
        if index < count and index != self._hidden and self.name_bytes(index) == wanted:
            return index
        return -1

    def __getitem__(self, relpath: str) -> FileEntry:
        index = self._index(relpath) if isinstance(relpath, str) else -1
        if index < 0:
            raise KeyError(relpath)
        return self.entry(index)

    def __contains__(self, relpath: object) -> bool:
        return isinstance(relpath, str) and self._index(relpath) >= 0

    def __len__(self) -> int:
        return len(self._size) - (self._hidden >= 0)

    def __iter__(self) -> Iterator[str]:
        return (self.name(i) for i in self.indexes())

    def values(self) -> _Values:  # type: ignore[override]
        return _Values(self)

    def items(self) -> _Items:  # type: ignore[override]
        return _Items(self)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return len(self) == len(other) and all(other.get(e.relpath) == e for e in self.values())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Manifest of {len(self)} files>"


class _Values:
    """The entries in name order, made one at a time."""

    def __init__(self, manifest: Manifest):
        self._manifest = manifest

    def __iter__(self) -> Iterator[FileEntry]:
        return (self._manifest.entry(i) for i in self._manifest.indexes())

    def __len__(self) -> int:
        return len(self._manifest)


class _Items(_Values):
    def __iter__(self) -> Iterator[tuple[str, FileEntry]]:  # type: ignore[override]
        for entry in super().__iter__():
            yield entry.relpath, entry


def as_manifest(entries: Mapping[str, FileEntry]) -> Manifest:
    """A scan's result as a Manifest (kinds that list into a dict are sorted once here)."""
    return entries if isinstance(entries, Manifest) else Manifest.from_entries(entries.values())


def merge_join(left: Manifest, right: Manifest) -> Iterator[tuple[int, int]]:
    """Walk two manifests in name order: yield (i, j) for a name in both, (i, -1) for one only on
    the left, (-1, j) for one only on the right."""
    lefts, rights = left.indexes(), right.indexes()
    i, j = next(lefts, -1), next(rights, -1)
    while i >= 0 or j >= 0:
        if j < 0:
            yield i, -1
            i = next(lefts, -1)
            continue
        if i < 0:
            yield -1, j
            j = next(rights, -1)
            continue
        a, b = left.name_bytes(i), right.name_bytes(j)
        if a == b:
            yield i, j
            i, j = next(lefts, -1), next(rights, -1)
        elif a < b:
            yield i, -1
            i = next(lefts, -1)
        else:
            yield -1, j
            j = next(rights, -1)


def scan(root: str) -> Manifest:
    """Given a directory, return its regular files (symlinks not followed), in name order. Raise OSError."""
    manifest = Manifest()
    top = os.fsencode(os.path.abspath(root))
    # A stack of iterators over sorted children: (sort key, relative name, is a directory, stat).
    stack = [iter(_children(top, b""))]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            continue
        _, relpath, st = child
        if st is None:
            stack.append(iter(_children(top + b"/" + relpath, relpath + b"/")))
        else:
            manifest.append(relpath, st.st_size, st.st_mtime, st.st_ino, st.st_ctime_ns, st.st_dev)
    return manifest


def _children(directory: bytes, prefix: bytes) -> list[tuple[bytes, bytes, os.stat_result | None]]:
    """A directory's subdirectories (stat None) and regular files, sorted as full paths sort."""
    children = []
    with os.scandir(directory) as iterator:
        for item in iterator:
            if item.is_dir(follow_symlinks=False):
                children.append((item.name + b"/", prefix + item.name, None))
            elif item.is_file(follow_symlinks=False):
                children.append((item.name, prefix + item.name, item.stat(follow_symlinks=False)))
    children.sort(key=lambda child: child[0])
    return children
