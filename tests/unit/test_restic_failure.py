"""agent.restic.failure as a table: restic 0.14's stderr → the failure it is classified as, and the
words a failed command's error carries. The real failures (a damaged pack, a wrong password, a full
disk, a dead S3 server) are in tests/integration/test_checks_restic.py, test_full_disk.py and
s3/test_s3_dead_server.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.restic import ResticFailure, classify
from agent.restic.failure import failure_detail, last_meaningful_line, naming_lines, no_space_detail

F = ResticFailure


@pytest.mark.parametrize("stderr, kind", [
    # the repository's data
    ("Pack ID does not match, want 5d8ee6f0, got 3b4a0ae1\nFatal: repository contains errors", F.DATA_ERROR),
    ("check snapshots, trees and blobs\nerror for tree 4f1a9b2c:\n  tree 4f1a9b2c: file \"a\" blob 0 size "
     "could not be found\nFatal: repository contains errors", F.DATA_ERROR),
    ("ignoring error for /data/a.bin: pack 9f8e7d6c not found in index", F.DATA_ERROR),
    ("Load(<data/9f8e7d6c5b>, 0, 0) returned error, retrying after 720ms: open /r/data/9f/9f8e: "
     "no such file or directory", F.DATA_ERROR),
    ("ignoring error for /data/a.bin: ciphertext verification failed", F.DATA_ERROR),
    ("ReadFull(<data/0a1b2c3d>): unexpected EOF", F.DATA_ERROR),
    ("pack 0a1b2c3d4e5f does not exist", F.DATA_ERROR),
    # the password
    ("Fatal: wrong password or no key found", F.WRONG_PASSWORD),
    ("Resolving password failed: open /etc/backup-agent/nas.pass: no such file or directory",
     F.PASSWORD_UNAVAILABLE),
    ("Fatal: reading password from command: exit status 1", F.PASSWORD_UNAVAILABLE),
    # where the repository is
    ("Fatal: unable to open config file: stat /srv/nas/restic/config: no such file or directory\n"
     "Is there a repository at the following location?\n/srv/nas/restic", F.NO_REPOSITORY),
    ("Fatal: unable to open config file: Stat: The specified bucket does not exist.", F.NO_REPOSITORY),
    ("Fatal: repository does not exist: unable to open repository at s3:http://127.0.0.1:8333/b", F.NO_REPOSITORY),
    # unreachable wins over "no repository": restic says both when the endpoint is down
    ("Fatal: unable to open config file: Stat: Get \"http://127.0.0.1:8333/b/?location=\": dial tcp "
     "127.0.0.1:8333: connect: connection refused\nIs there a repository at the following location?",
     F.UNREACHABLE),
    ("subprocess ssh: ssh: connect to host 127.0.0.1 port 2222: Connection refused\n"
     "Fatal: unable to open repository at sftp:backup@127.0.0.1:/r: unable to start the sftp session, "
     "error: EOF", F.UNREACHABLE),
    ("subprocess ssh: Host key verification failed.", F.UNREACHABLE),
    ("Fatal: unable to open config file: open /srv/nas/restic/config: permission denied\n"
     "Is there a repository at the following location?", F.UNREACHABLE),
    ("dial tcp: lookup nas.office.lan: no such host", F.UNREACHABLE),
    # a lock
    ("unable to create lock in backend: repository is already locked exclusively by PID 2473 on vm by root "
     "(UID 0, GID 0)\nlock was created at 2026-11-29 18:27:30 (3m0s ago)", F.LOCKED),
    # a full disk: its write stops restic; restic's own "cannot open cache" warning does not
    ("Fatal: unable to save snapshot: write /var/lib/backup-agent/restic-cache/x.tmp: no space left on device",
     F.NO_SPACE),
    ("unable to open cache: mkdir /var/lib/backup-agent/restic-cache: no space left on device\n"
     "Fatal: wrong password or no key found", F.WRONG_PASSWORD),
    ("unable to open cache: mkdir /c: no space left on device", F.OTHER),
    # anything else
    ("Fatal: invalid id \"zz\": no matching ID found for prefix \"zz\"", F.OTHER),
    ("", F.OTHER),
])
def test_classify(stderr, kind):
    assert classify(stderr) is kind


@pytest.mark.parametrize("stderr, line", [
    ("repository 0a1b2c3d opened\nFatal: wrong password or no key found\n", "Fatal: wrong password or no key found"),
    ("Fatal: first\nsome error here\ntrailing words\n", "some error here"),
    ("just words\nlast words\n", "last words"),
    ("\n  \n", "no output"),
    ("Fatal: " + "x" * 400, "Fatal: " + "x" * 293),
])
def test_last_meaningful_line(stderr, line):
    assert last_meaningful_line(stderr) == line


CACHE = Path("/var/lib/backup-agent/restic-cache")


@pytest.mark.parametrize("stderr, detail", [
    ("Save(<lock/1a2b>) returned error: write /var/lib/backup-agent/restic-cache/0a1b/x.tmp: "
     "no space left on device",
     f"restic's cache directory {CACHE} is full (writing /var/lib/backup-agent/restic-cache/0a1b/x.tmp); "
     "restic was stopped instead of retrying until its timeout"),
    ("write /var/tmp/backup-agent/restore-ds/f.bin: no space left on device",
     "writing /var/tmp/backup-agent/restore-ds/f.bin; restic was stopped instead of retrying until its timeout"),
    ("no space left on device", "writing ?; restic was stopped instead of retrying until its timeout"),
])
def test_no_space_detail_says_which_write_found_the_disk_full(stderr, detail):
    assert no_space_detail(stderr, CACHE) == detail
    assert failure_detail(F.NO_SPACE, stderr, CACHE) == detail


def test_failure_detail_is_restics_last_meaningful_line_otherwise():
    assert failure_detail(F.WRONG_PASSWORD, "Fatal: wrong password or no key found\n", CACHE) == (
        "Fatal: wrong password or no key found")


CHECK_STDERR = """using temporary cache in /tmp/restic-check-cache-1459492882
create exclusive lock for repository
load indexes
error for tree d1e8393a:
  decrypting blob d1e8393a678ed404d6fc47c61b85708c803693afaacbaf8853ae9ccce4f8982c failed: ciphertext verification failed
Pack ID does not match, want e3218c54d8dd9f3dcb005f7293944df2473fe4cfc807070488157edc0f4303e3, got e7c9962a
Pack ID does not match, want d87b84ea7a6ca40949686243de3d427871a1d747a85e2da1768e764ac1065550, got 9401da8a
Fatal: repository contains errors
"""


def test_failure_detail_keeps_the_lines_naming_packs_blobs_and_trees_then_counts_the_rest():
    detail = failure_detail(F.DATA_ERROR, CHECK_STDERR, CACHE)
    assert detail.startswith("error for tree d1e8393a:; decrypting blob d1e8393a678e")
    assert "Pack ID does not match, want e3218c54" in detail
    assert "d87b84ea" not in detail  # the fourth line naming something is counted, not shown
    assert "and 1 more line(s) naming packs, blobs, trees or snapshots" in detail
    assert detail.endswith("; Fatal: repository contains errors")
    assert "restic-check-cache" not in detail  # digits alone do not name a pack


def test_naming_lines_are_each_kept_once_in_order():
    stderr = "pack 0a1b2c3d4e: does not exist\npack 0a1b2c3d4e: does not exist\nsnapshot 1670a3b2 broken\n"
    assert naming_lines(stderr) == ["pack 0a1b2c3d4e: does not exist", "snapshot 1670a3b2 broken"]
