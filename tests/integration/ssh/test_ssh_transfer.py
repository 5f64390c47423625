"""Remote hashing moves digests, not data: inventory + SHA-256 of a ≥ 100 MB remote tree must move
at most 1 % of its size over SSH, counted on the connection's own socket (every byte the
transport sent or received, handshake included)."""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.support.sshd import make_context

pytestmark = pytest.mark.integration

FILES = 200
FILE_SIZE = 512 * 1024  # 200 × 512 KiB = 100 MiB ≈ 104.9 MB


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("big-tree")
    digests = {}
    for index in range(FILES):
        relpath = f"batch-{index % 10}/file {index:03d}.bin"
        data = os.urandom(FILE_SIZE)
        (root / relpath).parent.mkdir(exist_ok=True)
        (root / relpath).write_bytes(data)
        digests[relpath] = hashlib.sha256(data).hexdigest()
    return root, digests


def test_remote_hashing_of_100_mb_moves_under_one_percent(ssh_target, big_tree):
    root, expected = big_tree
    total = FILES * FILE_SIZE
    assert total >= 100_000_000
    handle = ssh_target(context=make_context(hash_workers=2))
    entries = handle.scan(str(root))
    outcome = handle.hash(str(root), list(entries.values()))
    assert outcome.digests == expected
    assert outcome.bytes_read == total
    sent, received = handle.wire_bytes()
    moved = sent + received
    print(f"\nremote hashing of {total / 1e6:.1f} MB moved {moved} bytes over SSH "
          f"({sent} sent, {received} received) = {moved / total:.4%}")
    assert moved <= 0.01 * total

    # The counter does see file data: reading one file over SFTP on the same connection moves its bytes.
    sftp = handle._client.open_sftp()
    try:
        with sftp.open(str(root / "batch-0" / "file 000.bin"), "rb") as remote_file:
            remote_file.prefetch()
            assert len(remote_file.read()) == FILE_SIZE
    finally:
        sftp.close()
    assert handle.wire_bytes()[1] - received >= FILE_SIZE
