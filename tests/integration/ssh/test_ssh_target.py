"""SshTarget against a real sshd: probe, one-command inventory, remote stat, remote sha256sum, the hash cache."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest

from agent.errors import TargetUnavailable
from agent.hash_cache import HashCache
from agent.hashing import FileEntry, scan_tree
from tests.support.sshd import make_context

pytestmark = pytest.mark.integration

ODD_NAMES = ["plain.txt", "with space.pdf", "new\nline.bin", "-leading-dash", "中文 文件.csv", "a/b/c/deep.dat",
             "quote'and\"double", "back\\slash", "star*and?mark", "tab\tname"]


def build_tree(root, names=ODD_NAMES) -> dict[str, bytes]:
    contents = {}
    for i, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = (f"{name}-{i}-".encode() * (i * 37 + 1))
        path.write_bytes(data)
        contents[name] = data
    return contents


def test_probe_reports_existing_missing_and_non_directory(ssh_target, tmp_path):
    (tmp_path / "file").write_text("x")
    handle = ssh_target()
    assert handle.probe(str(tmp_path), require_tree=True).ok
    missing = handle.probe(str(tmp_path / "nope"), require_tree=True)
    assert not missing.ok and "does not exist" in missing.detail
    not_dir = handle.probe(str(tmp_path / "file"), require_tree=True)
    assert not not_dir.ok and "not a directory" in not_dir.detail
    assert handle.probe(str(tmp_path / "file"), require_tree=False).ok


def test_scan_matches_local_scan_including_odd_names(ssh_target, tmp_path):
    build_tree(tmp_path)
    os.symlink(tmp_path / "plain.txt", tmp_path / "link-not-followed")
    remote = ssh_target().scan(str(tmp_path))
    local = scan_tree(str(tmp_path))
    assert set(remote) == set(ODD_NAMES) == set(local)
    for name, entry in local.items():
        assert remote[name].size == entry.size
        assert remote[name].inode == entry.inode
        assert remote[name].ctime_ns == entry.ctime_ns
        assert abs(remote[name].mtime - entry.mtime) < 1e-6


def test_scan_of_missing_tree_is_unavailable(ssh_target, tmp_path):
    with pytest.raises(TargetUnavailable, match="cannot list"):
        ssh_target().scan(str(tmp_path / "absent"))


def test_stat_reads_a_remote_stamp_and_none_when_missing(ssh_target, tmp_path):
    stamp = tmp_path / ".last-sync"
    stamp.write_text("")
    os.utime(stamp, (1_700_000_000.5, 1_700_000_000.5))
    handle = ssh_target()
    entry = handle.stat(str(stamp))
    assert entry.mtime == pytest.approx(1_700_000_000.5)
    assert entry.size == 0
    assert handle.stat(str(tmp_path / "no such stamp")) is None


def test_remote_sha256_matches_hashlib_and_uses_the_cache(ssh_target, tmp_path):
    contents = build_tree(tmp_path)
    cache = HashCache(None)
    handle = ssh_target(context=make_context(cache=cache, hash_workers=3))
    entries = handle.scan(str(tmp_path))
    first = handle.hash(str(tmp_path), list(entries.values()))
    assert first.unreadable == {}
    assert first.digests == {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}
    assert first.files_from_cache == 0 and first.bytes_read == sum(map(len, contents.values()))
    second = handle.hash(str(tmp_path), list(entries.values()))
    assert second.digests == first.digests and second.files_from_cache == len(contents) and second.bytes_read == 0
    assert cache.lookup(f"ssh://root@127.0.0.1:{handle.port}{tmp_path}/plain.txt") is not None


def test_silent_change_is_detected_through_the_cache(ssh_target, tmp_path):
    target_file = tmp_path / "data.bin"
    target_file.write_bytes(b"A" * 4096)
    cache = HashCache(None)
    handle = ssh_target(context=make_context(cache=cache))
    entry = handle.scan(str(tmp_path))["data.bin"]
    handle.hash(str(tmp_path), [entry])
    # Bit rot keeps size and mtime; ctime changes on a write through the kernel, as here.
    stat = target_file.stat()
    target_file.write_bytes(b"A" * 4095 + b"B")
    os.utime(target_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = handle.scan(str(tmp_path))["data.bin"]
    outcome = handle.hash(str(tmp_path), [again])
    assert outcome.silently_changed == ["data.bin"]


def test_unreadable_and_vanished_files_are_named(ssh_target, tmp_path):
    (tmp_path / "ok").write_text("fine")
    handle = ssh_target()
    outcome = handle.hash(str(tmp_path), [FileEntry("ok", 4, 0.0), FileEntry("gone", 4, 0.0)])
    assert "ok" in outcome.digests
    assert "No such file" in outcome.unreadable["gone"]


def test_command_timeout_stops_a_hung_remote_command(ssh_target, tmp_path):
    os.mkfifo(tmp_path / "pipe")  # sha256sum blocks reading a FIFO nobody writes
    handle = ssh_target(context=make_context(command_timeout=2))
    started = time.monotonic()
    with pytest.raises(TargetUnavailable, match="timed out after 2s"):
        handle.hash(str(tmp_path), [FileEntry("pipe", 0, 0.0)])
    assert time.monotonic() - started < 5
    assert handle.probe(str(tmp_path), require_tree=True).ok  # the connection survives


def test_one_connection_is_shared_by_concurrent_calls(ssh_target, tmp_path):
    build_tree(tmp_path)
    handle = ssh_target()
    handle.probe(str(tmp_path), require_tree=True)
    transport = handle._client.get_transport()
    errors = []

    def work():
        try:
            for _ in range(5):
                assert len(handle.scan(str(tmp_path))) == len(ODD_NAMES)
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert handle._client.get_transport() is transport
    handle.close()
    handle.close()  # safe twice


def test_restic_location_uses_sftp_with_the_same_key_and_strict_host_keys(ssh_target):
    handle = ssh_target()
    location = handle.restic_location("/srv/restic")
    assert location.repository == "sftp:root@127.0.0.1:/srv/restic"
    (option,) = location.options
    assert option.startswith("sftp.command=ssh -p ")
    for part in ("StrictHostKeyChecking=yes", "BatchMode=yes", f"UserKnownHostsFile={handle.known_hosts}",
                 f"-i {handle.key_file}", "root@127.0.0.1 -s sftp"):
        assert part in option


def test_fetch_copies_files_over_sftp_for_restore_tests(ssh_target, tmp_path):
    source = tmp_path / "source"
    contents = build_tree(source)
    handle = ssh_target()
    seen = []
    copied = handle.fetch(str(source), list(contents), str(tmp_path / "scratch"), seen.append)
    assert copied == sum(seen) == sum(map(len, contents.values()))
    for name, data in contents.items():
        assert (tmp_path / "scratch" / name).read_bytes() == data
    with pytest.raises(TargetUnavailable, match="vanished"):
        handle.fetch(str(source), ["not-there"], str(tmp_path / "scratch2"))
    with pytest.raises(TargetUnavailable, match="leaves the scratch directory"):
        handle.fetch(str(source), ["../escape"], str(tmp_path / "scratch3"))


def test_hashing_under_a_missing_tree_is_unavailable(ssh_target, tmp_path):
    with pytest.raises(TargetUnavailable, match="cannot hash files under"):
        ssh_target().hash(str(tmp_path / "absent"), [FileEntry("a", 1, 0.0)])
