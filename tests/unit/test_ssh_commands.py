"""agent.targets.ssh_commands: the remote commands of an ssh target and the parsers of their
output, as tables (the real sshd runs in tests/integration/ssh)."""

from __future__ import annotations

import pytest

from agent.errors import TargetUnavailable
from agent.hashing import FileEntry
from agent.identity import StorageIdentity
from agent.names import from_bytes
from agent.targets import ssh_commands as remote

DIGEST = "a" * 64
OTHER = "b" * 64


def find_record(name: bytes, size: int = 3, mtime: bytes = b"1700000000.5", inode: int = 42,
                ctime: bytes = b"1700000000.25", device: int = 2049) -> bytes:
    return b"\0".join([name, str(size).encode(), mtime, str(inode).encode(), ctime, str(device).encode()]) + b"\0"


@pytest.mark.parametrize("text, ns", [
    ("1700000000", 1_700_000_000_000_000_000),
    ("1700000000.5", 1_700_000_000_500_000_000),
    ("1700000000.1234567890", 1_700_000_000_123_456_789),  # find prints ten digits; nanoseconds keep nine
    ("0.000000001", 1),
])
def test_decimal_ns(text, ns):
    assert remote.decimal_ns(text) == ns


@pytest.mark.parametrize("output, expected", [
    (b"", {}),
    (find_record(b"a.txt"), {"a.txt": FileEntry("a.txt", 3, 1700000000.5, 42, 1_700_000_000_250_000_000, 2049)}),
    (find_record(b"dir/b c", size=0), {"dir/b c": FileEntry("dir/b c", 0, 1700000000.5, 42, 1_700_000_000_250_000_000,
                                                            2049)}),
    (find_record(b"new\nline") + find_record(b"\xff"), {
        "new\nline": FileEntry("new\nline", 3, 1700000000.5, 42, 1_700_000_000_250_000_000, 2049),
        from_bytes(b"\xff"): FileEntry(from_bytes(b"\xff"), 3, 1700000000.5, 42, 1_700_000_000_250_000_000, 2049)}),
])
def test_parse_find(output, expected):
    assert remote.parse_find(output) == expected


def test_parse_find_refuses_a_torn_record():
    with pytest.raises(TargetUnavailable, match="7 fields is not a multiple of 6"):
        remote.parse_find(find_record(b"a") + b"b\0")


@pytest.mark.parametrize("output, expected", [
    (b"5\x001700000000.5\x007\x001700000000\x00100\x00", FileEntry("stamp", 5, 1700000000.5, 7, 1_700_000_000 * 10**9,
                                                                  100)),
    (b"5\x001700000000.5\x00", None),
    (b"", None),
])
def test_parse_stat(output, expected):
    assert remote.parse_stat("/srv/copy/stamp", output) == expected


@pytest.mark.parametrize("output, expected", [
    (b"", {}),
    (f"{DIGEST}  ./a\0".encode(), {"a": DIGEST}),
    (f"{DIGEST} *./binary\0".encode(), {"binary": DIGEST}),
    (f"{DIGEST}  ./a\0{OTHER}  ./dir/b c\0".encode(), {"a": DIGEST, "dir/b c": OTHER}),
    (f"{DIGEST}  -\0".encode(), {}),  # standard input: never sent, never a file
    (f"{DIGEST}  a\0".encode(), {}),  # not sent as ./NAME
    (f"\\{DIGEST}  ./a\\nb\\\\c\0".encode(), {"a\nb\\c": DIGEST}),  # an escaped record is unescaped
    (f"{DIGEST}  ./a\\nb\0".encode(), {"a\\nb": DIGEST}),  # an unescaped record is taken as it is
    (b"not a digest  ./a\0", {}),
    (DIGEST.encode() + b"  ./\xff\xfe\0", {from_bytes(b"\xff\xfe"): DIGEST}),
])
def test_parse_sha256sum(output, expected):
    assert remote.parse_sha256sum(output) == expected


@pytest.mark.parametrize("stderr, expected", [
    (b"", {}),
    (b"sha256sum: ./secret: Permission denied\n", {"secret": "Permission denied"}),
    (b"sha256sum: ./a: b: No such file or directory\n", {"a: b": "No such file or directory"}),
    (b"xargs: sha256sum: terminated by signal 9\n", {}),
    (b"sha256sum: 'quoted name': Is a directory\n", {}),
])
def test_sha256sum_errors(stderr, expected):
    assert remote.sha256sum_errors(stderr) == expected


@pytest.mark.parametrize("stderr, lacks", [
    (b"sha256sum: invalid option -- 'z'\n", True),
    (b"sha256sum: unrecognized option '--zero'\n", True),
    (b"sha256sum: ./a: Permission denied\n", False),
])
def test_lacks_sha256sum_z(stderr, lacks):
    assert remote.lacks_sha256sum_z(stderr) is lacks


@pytest.mark.parametrize("output, expected", [
    (b"boot-id\0/srv/copy\x002049 100\x002049 2\x00", StorageIdentity(host="boot-id", real_path="/srv/copy",
                                                                  root=(2049, 100), ancestors=frozenset({(2049, 2)}))),
    (b"boot-id\0/\x002049 2\x00", StorageIdentity(host="boot-id", real_path="/", root=(2049, 2),
                                                   ancestors=frozenset())),
    (b"boot-id\0/srv\0", None),
])
def test_parse_identity(output, expected):
    assert remote.parse_identity(output, "u@h:22", "/srv/copy") == expected


@pytest.mark.parametrize("output, message", [
    (b"id\0/srv\0x y\0", "unexpected stat output on u@h:22: invalid literal"),
    (b"id\0/srv\x001 2 3\0", "unexpected stat output on u@h:22 for /srv"),
])
def test_parse_identity_refuses_what_is_not_device_and_inode(output, message):
    with pytest.raises(TargetUnavailable, match=message):
        remote.parse_identity(output, "u@h:22", "/srv")


@pytest.mark.parametrize("path, quoted", [
    ("/srv/copy", "/srv/copy"),
    ("/with space", "'/with space'"),
    ("relative", "./relative"),
    ("-rf", "./-rf"),  # never read as an option
    ("/it's", "'/it'\"'\"'s'"),
])
def test_quoted(path, quoted):
    assert remote.quoted(path) == quoted


def test_probe_script_asks_for_a_tree_only_when_needed():
    assert "test -d" in remote.probe_script("/srv", require_tree=True)
    assert "test -d" not in remote.probe_script("/srv", require_tree=False)


def test_hash_input_sends_every_name_as_dot_slash():
    entries = [FileEntry("-", 1, 0.0), FileEntry(from_bytes(b"\xff"), 1, 0.0)]
    assert remote.hash_input(entries) == b"./-\0./\xff\0"


@pytest.mark.parametrize("sizes, count, loads", [
    ([], 4, []),
    ([5], 4, [5]),
    ([5, 3, 3], 2, [5, 6]),
    ([10, 1, 1, 1, 1], 2, [10, 4]),
    ([4, 4, 4, 4], 4, [4, 4, 4, 4]),
])
def test_balance(sizes, count, loads):
    items = [(FileEntry(str(i), size, 0.0), None) for i, size in enumerate(sizes)]
    batches = remote.balance(items, count)
    assert sorted(sum(entry.size for entry, _ in batch) for batch in batches) == sorted(loads)
    assert sorted(entry.relpath for batch in batches for entry, _ in batch) == sorted(e.relpath for e, _ in items)


@pytest.mark.parametrize("stderr, shown", [
    (b"", "no error output"),
    (b"first\n\nlast line\n  \n", "last line"),
    (b"x" * 400, "x" * 300),
])
def test_tail(stderr, shown):
    assert remote.tail(stderr) == shown
