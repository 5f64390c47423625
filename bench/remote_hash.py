"""Benchmark: SHA-256 of a remote tree by `sha256sum` on the host (what SshTarget.hash does) versus
downloading every file over SFTP and hashing it here.

Starts its own OpenSSH server on 127.0.0.1 (a free port, its own host and client keys, key-only,
tests/support/sshd.running_sshd, the tests' own recipe), writes a tree of random files, measures both
ways over the same kind of paramiko connection, and stops the server by its PID.

    .venv/bin/python bench/remote_hash.py [--size-mb 256] [--files 256]

Measured on the 2-core build machine, two runs (loopback, so the network is as fast as it ever
gets; over a real link the download grows with the link, the remote way does not):

    tree: 256 files, 268.4 MB
    remote sha256sum : 1.32-1.40 s, 49 KB on the wire (0.018 % of the tree)
    SFTP + hashlib   : 10.5-12.0 s, 278-279 MB on the wire (104 % of the tree)

coreutils sha256sum has no SHA-NI here (≈ 0.27 GB/s per core against hashlib's 1.4 GB/s), yet
the remote way is ≈ 8× faster even on loopback, where the download is bounded by paramiko's
SFTP; on a 100 Mbit/s uplink the transfer alone would take ≈ 21 s.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.targets.ssh import SshTarget  # noqa: E402
from tests.support.sshd import Sshd, make_context, make_target, running_sshd  # noqa: E402


def open_target(sshd: Sshd) -> SshTarget:
    return SshTarget(make_target("bench", **sshd.options(connect_timeout=10)), make_context(command_timeout=600))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--files", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="remote-hash-bench-") as temporary:
        directory = Path(temporary)
        tree = directory / "tree"
        per_file = args.size_mb * 1024 * 1024 // args.files
        for index in range(args.files):
            path = tree / f"d{index % 16:02d}" / f"file-{index:04d}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(per_file))
        total = per_file * args.files
        with running_sshd(directory) as sshd:
            remote = open_target(sshd)
            remote.probe(str(tree), require_tree=True)  # connect first: time only the work
            before = sum(remote.wire_bytes())
            started = time.perf_counter()
            entries = remote.scan(str(tree))
            outcome = remote.hash(str(tree), list(entries.values()))
            remote_seconds = time.perf_counter() - started
            remote_bytes = sum(remote.wire_bytes()) - before

            download = open_target(sshd)
            download.probe(str(tree), require_tree=True)
            before = sum(download.wire_bytes())
            started = time.perf_counter()
            sftp = download._client.open_sftp()
            downloaded = {}
            for relpath in download.scan(str(tree)):
                digest = hashlib.sha256()
                with sftp.open(str(tree / relpath), "rb") as remote_file:
                    remote_file.prefetch()
                    while chunk := remote_file.read(1 << 20):
                        digest.update(chunk)
                downloaded[relpath] = digest.hexdigest()
            sftp.close()
            download_seconds = time.perf_counter() - started
            download_bytes = sum(download.wire_bytes()) - before
            assert downloaded == outcome.digests, "the two ways disagree"
            remote.close()
            download.close()
    print(f"tree: {args.files} files, {total / 1e6:.1f} MB")
    print(f"remote sha256sum : {remote_seconds:.2f} s, {remote_bytes / 1e3:.0f} KB on the wire "
          f"({remote_bytes / total:.3%} of the tree)")
    print(f"SFTP + hashlib   : {download_seconds:.2f} s, {download_bytes / 1e6:.1f} MB on the wire "
          f"({download_bytes / total:.1%} of the tree)")


if __name__ == "__main__":
    main()
