"""agent.restic.parse as a table: what restic 0.14 prints → what the agent reads from it. Names that
are not UTF-8 are str with surrogate escapes (agent.names); restic's JSON has U+FFFD for each such
byte. The real listings of hostile names are in tests/integration/test_hostile_names.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from agent.hashing import FileEntry
from agent.names import from_bytes
from agent.restic import parse

R = parse.REPLACEMENT
Snapshot = parse.Snapshot


# --- times and snapshots ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("2026-11-24T03:01:02.123456789+00:00", datetime(2026, 11, 24, 3, 1, 2, 123456, UTC)),
    ("2026-11-24T03:01:02.123456789Z", datetime(2026, 11, 24, 3, 1, 2, 123456, UTC)),
    ("2026-11-24T03:01:02Z", datetime(2026, 11, 24, 3, 1, 2, tzinfo=UTC)),
    ("2026-11-24T03:01:02.5+08:00", datetime(2026, 11, 24, 3, 1, 2, 500000, timezone(timedelta(hours=8)))),
    ("2026-11-24T03:01:02.000000999-05:30", datetime(2026, 11, 24, 3, 1, 2, 0, timezone(-timedelta(hours=5, minutes=30)))),
    ("2026-11-24T03:01:02", datetime(2026, 11, 24, 3, 1, 2)),  # no zone: as Python reads it
])
def test_parse_time(text, expected):
    assert parse.parse_time(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-24T25:01:02Z"])
def test_parse_time_refuses_what_is_not_a_time(text):
    with pytest.raises(ValueError):
        parse.parse_time(text)


WHEN = datetime(2026, 11, 24, 3, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize("output, expected", [
    ("", []),
    ("[]", []),
    (json.dumps([{"id": "a" * 64, "short_id": "aaaaaaaa", "time": "2026-11-24T03:01:02Z", "hostname": "vm",
                  "paths": ["/data"], "tags": ["db", "nightly"]}]),
     [Snapshot("a" * 64, "aaaaaaaa", WHEN, "vm", ("/data",), ("db", "nightly"))]),
    # restic leaves out what is empty (and an older one short_id): defaults, never a KeyError
    (json.dumps([{"id": "b" * 64, "time": "2026-11-24T03:01:02Z", "tags": None}]),
     [Snapshot("b" * 64, "bbbbbbbb", WHEN, "", (), ())]),
])
def test_parse_snapshots(output, expected):
    assert parse.parse_snapshots(output) == expected


def snap(name: str, hour: int, host: str = "vm", paths: tuple[str, ...] = ("/data",), tags=("db",)) -> Snapshot:
    return Snapshot(name * 64, name * 8, WHEN + timedelta(hours=hour), host, paths, tags)


SNAPSHOTS = [snap("c", 3), snap("a", 1), snap("b", 2, host="nas"), snap("d", 0, paths=("/data/",), tags=("db", "x")),
             snap("e", 4, tags=())]


@pytest.mark.parametrize("snapshot_filter, expected", [
    ({}, "dabce"),  # oldest first
    ({"tags": ["db"]}, "dabc"),
    ({"tags": ["db", "x"]}, "d"),
    ({"host": "vm"}, "dace"),
    ({"path": "/data"}, "dabce"),  # a trailing slash on either side does not matter
    ({"path": "/data/", "host": "nas"}, "b"),
    ({"tags": ["nope"]}, ""),
])
def test_select_snapshots(snapshot_filter, expected):
    assert "".join(s.short_id[0] for s in parse.select_snapshots(SNAPSHOTS, snapshot_filter)) == expected


@pytest.mark.parametrize("output, expected", [
    ('{"version":2,"id":"5b2a1c","chunker_polynomial":"3b0f"}', "5b2a1c"),
    ("", ValueError("did not print a repository id")),
    ("not json", ValueError("did not print a repository id")),
    ('{"version":2}', ValueError("did not print a repository id")),
    ('["id"]', ValueError("did not print a repository id")),
    ('{"id":""}', ValueError("printed an empty repository id")),
    ('{"id":42}', ValueError("printed an empty repository id")),
])
def test_parse_repository_id(output, expected):
    if isinstance(expected, Exception):
        with pytest.raises(type(expected), match=str(expected)):
            parse.parse_repository_id(output)
    else:
        assert parse.parse_repository_id(output) == expected


@pytest.mark.parametrize("output, version", [
    ("restic 0.14.0 compiled with go1.19.8 on linux/amd64\n", "0.14.0"),
    ("restic 0.17.3 (v0.17.3-0) compiled with go1.23.3 on linux/arm64", "0.17.3"),
    ("something else\n", "something else"),
])
def test_parse_version(output, version):
    assert parse.parse_version(output) == version


# --- listings --------------------------------------------------------------------------------------


def node(path: str, kind: str = "file", **extra) -> dict:
    return {"name": path.rsplit("/", 1)[-1], "type": kind, "path": path, "struct_type": "node", **extra}


SNAPSHOT_LINE = {"time": "2026-11-24T03:01:02Z", "paths": ["/data"], "id": "a" * 64, "struct_type": "snapshot"}


@pytest.mark.parametrize("lines, paths", [
    ([], []),
    ([SNAPSHOT_LINE], []),
    ([SNAPSHOT_LINE, node("/data", "dir"), node("/data/a"), node("/data/-rf")], ["/data", "/data/a", "/data/-rf"]),
    ([node("/data/a\nb"), node(f"/data/{R}")], ["/data/a\nb", f"/data/{R}"]),  # JSON escapes the newline
])
def test_parse_ls(lines, paths):
    output = "".join(json.dumps(line) + "\n" for line in lines) + "\n"
    assert [n["path"] for n in parse.parse_ls(output)] == paths


@pytest.mark.parametrize("paths, lossy", [
    ([], False),
    (["/data/a", "/data/ü"], False),
    (["/data/a", f"/data/{R}"], True),
])
def test_has_lossy_paths(paths, lossy):
    assert parse.has_lossy_paths([node(p) for p in paths]) is lossy


@pytest.mark.parametrize("json_paths, text, raw_paths", [
    # a byte that is not UTF-8: one U+FFFD in the JSON, the byte in the text
    (["/d", f"/d/{R}.bin"], b"/d\n/d/\xff.bin\n", ["/d", "/d/" + from_bytes(b"\xff") + ".bin"]),
    # a truncated UTF-8 sequence is one U+FFFD per byte
    ([f"/d/{R}{R}"], b"/d/\xe2\x82\n", ["/d/" + from_bytes(b"\xe2\x82")]),
    # valid UTF-8 around an invalid byte stays as it is
    ([f"/d/ü{R}€"], "/d/ü".encode() + b"\xfe" + "€".encode() + b"\n", ["/d/ü" + from_bytes(b"\xfe") + "€"]),
    # a newline in a name, next to a byte that is not UTF-8: the JSON's length says where the name ends
    ([f"/d/a\n{R}", "/d/b"], b"/d/a\n\xff\n/d/b\n", ["/d/a\n" + from_bytes(b"\xff"), "/d/b"]),
    # a literal U+FFFD in a name is a name like any other
    ([f"/d/{R}", f"/d/{R}x"], f"/d/{R}\n".encode() + b"/d/\xffx\n", [f"/d/{R}", "/d/" + from_bytes(b"\xff") + "x"]),
])
def test_with_raw_paths(json_paths, text, raw_paths):
    exact = parse.with_raw_paths([node(p, size=1) for p in json_paths], from_bytes(text))
    assert [n["path"] for n in exact] == raw_paths
    assert [n["name"] for n in exact] == [p.rsplit("/", 1)[-1] for p in raw_paths]
    assert all(n["size"] == 1 for n in exact)


@pytest.mark.parametrize("json_paths, text", [
    ([f"/d/{R}"], b"/d/xy\n"),  # longer
    ([f"/d/{R}"], b"/d/x\n"),  # not a replaced byte where the JSON says U+FFFD
    (["/d/a", "/d/b"], b"/d/a\n/d/c\n"),  # a listing that changed in between
    (["/d/a"], b"/d/a"),  # no newline after the last path
])
def test_with_raw_paths_refuses_listings_that_disagree(json_paths, text):
    with pytest.raises(ValueError, match="does not match"):
        parse.with_raw_paths([node(p) for p in json_paths], from_bytes(text))


@pytest.mark.parametrize("files, paths, root", [
    (["/data/a", "/data/sub/b"], ("/data",), "/data/"),
    (["/data/a"], ("/data/",), "/data/"),
    # restic given a relative path stores only its last component
    (["/data/a"], ("/srv/lithera/data",), "/data/"),
    (["/srv/data/a", "/data/b"], ("/srv/data",), "/srv/data/"),
    (["/a/x", "/b/y"], ("/a", "/b"), "/"),  # several paths: the snapshot's root
    ([], ("/data",), "/"),
])
def test_snapshot_root(files, paths, root):
    assert parse.snapshot_root([node(p) for p in files], paths) == root


def test_file_entries_are_the_files_under_the_root_with_what_the_backup_recorded():
    files = [node("/data/a", size=10, mtime="2026-11-24T03:01:02.5Z"), node("/data/sub/b", size=0),
             node("/elsewhere/c", size=5, mtime="2026-11-24T03:01:02Z")]
    assert parse.file_entries(files, "/data/") == {
        "a": FileEntry("a", 10, WHEN.timestamp() + 0.5),
        "sub/b": FileEntry("sub/b", 0, 0.0),  # no mtime recorded: 0, never "now"
    }


@pytest.mark.parametrize("stderr, prefix, known, failed", [
    ("", "/data/", ["a"], []),
    ("Fatal: There were 2 errors\n", "/data/", ["a"], []),
    ("ignoring error for /data/a.bin: pack 9f8e7d6c not found in index\n"
     "ignoring error for /data/sub/c.bin: ciphertext verification failed\nFatal: There were 2 errors\n",
     "/data/", ["a.bin", "b.bin", "sub/c.bin"], ["a.bin", "sub/c.bin"]),
    # a name holding ": " or a newline is found whole among the backup's files, not cut at either
    ("ignoring error for /data/x: y: pack 9f8e not found\n", "/data/", ["x: y", "z"], ["x: y"]),
    # …and when the backup holds both "x" and "x: y", which one failed cannot be told: both are named
    ("ignoring error for /data/x: y: pack 9f8e not found\n", "/data/", ["x", "x: y"], ["x", "x: y"]),
    ("ignoring error for /data/a\nb: pack 9f8e not found\n", "/data/", ["a", "a\nb"], ["a\nb"]),
    # a file the listing does not know (or no listing): read up to ": "
    ("ignoring error for /data/new.txt: pack 9f8e not found\n", "/data/", [], ["new.txt"]),
    ("ignoring error for /other/z: pack 9f8e not found\n", "/data/", [], ["other/z"]),
    # a name that is not UTF-8
    ("ignoring error for /data/\udcff.bin: pack 9f8e not found\n", "/data/", ["\udcff.bin"], ["\udcff.bin"]),
])
def test_failed_files(stderr, prefix, known, failed):
    assert parse.failed_files(stderr, prefix, known) == failed


# --- snapshot files restic could not load (issue 18: no silent fall-back) ---------------------------


@pytest.mark.parametrize("stderr, found", [
    ("", []),
    ("could not load snapshot 1670a3b2: load <snapshot/1670a3b297>: invalid data returned\n",
     [("1670a3b2", "load <snapshot/1670a3b297>: invalid data returned")]),
    ("repository 0a1b opened\ncould not load snapshot aaaaaaaa: x\ncould not load snapshot bbbbbbbb: y\n",
     [("aaaaaaaa", "x"), ("bbbbbbbb", "y")]),
])
def test_unreadable_snapshots(stderr, found):
    assert parse.unreadable_snapshots(stderr) == found


def test_unreadable_message_names_the_first_three_and_counts_the_rest():
    message = parse.unreadable_message([(f"{i:08x}", "invalid data returned") for i in range(5)])
    assert "snapshot 00000000 (invalid data returned)" in message and "00000003" not in message
    assert "and 2 more" in message and "newest backup is not known" in message
