"""File names as bytes end to end: the one display of names, paths that cannot be read as options,
sha256sum's and restic's listings parsed back to the real bytes, the hash cache and the rotation
state holding names that are not UTF-8, and check details that never carry a lone surrogate."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from agent.hash_cache import HashCache
from agent.models import CheckResult, Status
from agent.names import from_bytes, operand, scrub, show, to_bytes
from agent.output import name_paths
from agent.restic import REPLACEMENT, parse_ls, restore_arguments, with_raw_paths
from agent.state import StateStore
from agent.targets.ssh import _sha256sum_errors, parse_find, parse_sha256sum

NOT_UTF8 = from_bytes(b"\xff\xfe")
DIGEST = "a" * 64


@pytest.mark.parametrize("name, shown", [
    ("plain.txt", "plain.txt"),
    ("with space/中文 提单.pdf", "with space/中文 提单.pdf"),
    ("-", "-"),
    ("--help", "--help"),
    ("a\nb\\c", "a\\nb\\\\c"),
    ("a\\nb", "a\\\\nb"),  # a literal backslash-n is not the newline
    (NOT_UTF8, "\\xff\\xfe"),
    ("\\xff", "\\\\xff"),  # nor is a literal backslash-x-f-f the byte
    ("tab\tcr\r", "tab\\tcr\\r"),
    ("esc\x1b[31m", "esc\\x1b[31m"),  # no terminal escape sequence reaches the screen
    ("zero\u200bwidth", "zero\\u200bwidth"),
    (from_bytes("é".encode() + b"\xc3"), "é\\xc3"),  # a truncated sequence: the byte, not U+FFFD
])
def test_show_is_printable_and_unambiguous(name, shown):
    assert show(name) == shown
    assert show(name).isprintable()


def test_names_round_trip_as_bytes():
    for raw in (b"\xff\xfe", b"a\nb\\c", "中文".encode(), b"\xed\xa0\x80"):
        assert to_bytes(from_bytes(raw)) == raw


def test_name_paths_shows_each_name():
    assert name_paths(["b", NOT_UTF8, "a\nb"]) == "a\\nb, b, \\xff\\xfe"


def test_a_check_detail_never_carries_a_lone_surrogate():
    result = CheckResult("files-checksum", Status.FAIL, f"tool said: cannot read {NOT_UTF8}")
    assert result.detail == "tool said: cannot read \\xff\\xfe"
    result.detail.encode("utf-8")
    assert scrub("ordinary 中文 text\\n") == "ordinary 中文 text\\n"


@pytest.mark.parametrize("path, expected", [
    ("/srv/mirror", "/srv/mirror"), ("-rf", "./-rf"), ("-", "./-"), ("mirror/data", "./mirror/data"),
])
def test_operand_cannot_be_read_as_an_option(path, expected):
    assert operand(path) == expected


# --- SSH: find and sha256sum ------------------------------------------------------------------


def test_parse_find_keeps_the_bytes_of_names():
    output = b"".join(name + b"\0" + b"3\x001700000000.5\x0042\x001700000000.25\x002049\x00"
                      for name in (b"-", b"a\nb\\c", b"\xff\xfe"))
    assert set(parse_find(output)) == {"-", "a\nb\\c", NOT_UTF8}


def test_parse_sha256sum_takes_names_sent_as_dot_slash():
    output = (f"{DIGEST}  ./-\0".encode() + f"{DIGEST}  ./a\nb\\c\0".encode() + DIGEST.encode() + b"  ./\xff\xfe\0"
              + f"{DIGEST}  -\0".encode())  # standard input (never sent): not a file
    assert parse_sha256sum(output) == {"-": DIGEST, "a\nb\\c": DIGEST, NOT_UTF8: DIGEST}


def test_parse_sha256sum_unescapes_an_escaped_record():
    # What sha256sum prints without -z for a name with a newline and a backslash.
    output = f"\\{DIGEST}  ./a\\nb\\\\c\0".encode()
    assert parse_sha256sum(output) == {"a\nb\\c": DIGEST}


def test_sha256sum_errors_are_matched_by_the_name_sent():
    stderr = b"sha256sum: ./secret: Permission denied\nsha256sum: ./\xff: No such file or directory\n"
    assert _sha256sum_errors(stderr) == {"secret": "Permission denied", from_bytes(b"\xff"): "No such file or directory"}


# --- restic listings --------------------------------------------------------------------------


def node(path: str, kind: str = "file") -> dict:
    return {"name": path.rsplit("/", 1)[-1], "type": kind, "path": path, "size": 1, "struct_type": "node"}


def test_raw_paths_are_read_off_the_text_listing():
    lossy = [node("/data", "dir"), node("/data/-"), node("/data/a\nb\\c"), node(f"/data/{REPLACEMENT * 2}"),
             node(f"/data/{REPLACEMENT}"), node(f"/data/{REPLACEMENT}x")]
    text = from_bytes(b"/data\n/data/-\n/data/a\nb\\c\n/data/\xff\xfe\n/data/\xfe\n/data/\xefx\n")
    exact = with_raw_paths(lossy, text)
    assert [n["path"] for n in exact] == ["/data", "/data/-", "/data/a\nb\\c", "/data/" + NOT_UTF8,
                                          "/data/" + from_bytes(b"\xfe"), "/data/" + from_bytes(b"\xefx")]
    assert exact[3]["name"] == NOT_UTF8 and exact[3]["size"] == 1


def test_a_literal_replacement_character_in_a_name_stays():
    assert with_raw_paths([node(f"/d/{REPLACEMENT}")], f"/d/{REPLACEMENT}\n")[0]["path"] == f"/d/{REPLACEMENT}"


@pytest.mark.parametrize("text", ["/data/x\n", "/data/\n", "/data/ab\n", ""])
def test_listings_that_disagree_are_an_error_never_a_guess(text):
    with pytest.raises(ValueError, match="does not match"):
        with_raw_paths([node(f"/data/{REPLACEMENT}"), node("/data/b")], text)


def test_parse_ls_keeps_nodes_in_order():
    output = "\n".join(json.dumps(item) for item in ({"struct_type": "snapshot", "id": "x"}, node("/d", "dir"),
                                                     node("/d/-")))
    assert [n["path"] for n in parse_ls(output)] == ["/d", "/d/-"]


def test_restore_arguments_cannot_be_read_as_options():
    assert restore_arguments("abc123", "/scratch/x", ["/data/-rf", "/data/--help"], verify=True) == [
        "restore", "--target=/scratch/x", "--verify", "--include=/data/-rf", "--include=/data/--help", "--", "abc123"]


# --- the hash cache and the state ---------------------------------------------------------------


def test_hash_cache_stores_names_that_are_not_utf8(tmp_path):
    cache = HashCache(tmp_path / "cache.sqlite")
    key = "/srv/data/" + NOT_UTF8
    cache.store_many([(key, 1, 2, 3, 4, DIGEST, 5.0), ("/srv/data/\\xff\\xfe", 1, 2, 3, 4, "b" * 64, 5.0)])
    assert cache.lookup(key)[4] == DIGEST
    assert cache.lookup("/srv/data/\\xff\\xfe")[4] == "b" * 64  # the literal text is another name
    cache.close()


def test_hash_cache_keeps_entries_written_with_text_keys(tmp_path):
    """A cache written before keys were bytes keeps its digests (and the silent-corruption history)."""
    path = tmp_path / "cache.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, inode INTEGER,"
                   " ctime_ns INTEGER, sha256 TEXT, hashed_at REAL)")
        db.execute("INSERT INTO hashes VALUES ('/srv/中文.txt', 1, 2, 3, 4, ?, 5.0)", (DIGEST,))
    db.close()
    cache = HashCache(path)
    assert cache.lookup("/srv/中文.txt")[4] == DIGEST
    cache.store_many([("/srv/中文.txt", 1, 2, 3, 4, "c" * 64, 6.0)])
    cache.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*), typeof(path) FROM hashes").fetchone() == (1, "blob")
    db.close()


def test_state_keeps_names_that_are_not_utf8(tmp_path):
    path = tmp_path / "state.json"
    state = StateStore(path)
    state.put("restore-test", "names/backup0/hdd", {"tested": {NOT_UTF8: 1.0, "中文": 2.0}})
    state.save()
    path.read_bytes().decode("utf-8")  # valid UTF-8 on disk
    assert StateStore(path).get("restore-test", "names/backup0/hdd") == {"tested": {NOT_UTF8: 1.0, "中文": 2.0}}
    assert os.path.getsize(path) > 0
