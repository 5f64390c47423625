"""restic-packs on a restic copy reached over SSH (issue 18): the host's `sha256sum` hashes the
repository's files where they lie, so only digests cross the network. A flipped bit in a data
pack, an index or a snapshot file is found in the first run after, named; verifying a ≥ 100 MB
repository moves ≤ 1 % of its size over the agent's SSH connection, measured by a counting TCP
relay between the agent and the real sshd (tests/support/counting_proxy.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from agent.models import Status
from tests.integration.ssh.test_ssh_verify import restic, restic_base, sandbox, verify  # noqa: F401 - a fixture
from tests.support.counting_proxy import counting_proxy

pytestmark = pytest.mark.integration

BIG_BYTES = 105 * 2**20


@pytest.fixture(scope="session")
def big_restic(tmp_path_factory, restic_base) -> tuple[Path, Path, None]:  # noqa: F811 - the fixture imported above
    """A repository of ≥ 100 MB of incompressible data (tag ds), built once."""
    base = tmp_path_factory.mktemp("restic-big")
    source = base / "source"
    source.mkdir()
    for index in range(21):
        (source / f"part-{index:02d}.bin").write_bytes(os.urandom(BIG_BYTES // 21))
    repo = base / "repo"
    password_file = restic_base[1]
    restic(repo, password_file, "init")
    restic(repo, password_file, "backup", "--tag", "ds", "--host", "droplet-b", str(source))
    shutil.rmtree(source)
    return repo, password_file, None


def repository_size(repo: Path) -> int:
    return sum(p.stat().st_size for d in ("data", "index", "snapshots", "keys") for p in (repo / d).rglob("*")
               if p.is_file())


def flip_one_bit(path: Path) -> None:
    path.chmod(0o600)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("pick, holds", [
    (lambda repo, base: repo / base[2], "a pack"),
    (lambda repo, base: next((repo / "index").iterdir()), "an index"),
    (lambda repo, base: sorted((repo / "snapshots").iterdir())[0], "a snapshot"),
])
def test_a_flipped_bit_over_ssh_is_found_in_the_first_run_after_and_named(tmp_path, sshd, restic_base, pick,  # noqa: F811
                                                                          holds):
    config = sandbox(tmp_path, sshd, restic_base=restic_base)
    first = verify(config)[("nas", "restic")]["restic-packs"]
    assert first.status == Status.PASS, first.detail
    repo = tmp_path / "nas" / "restic"
    victim = pick(repo, restic_base)
    flip_one_bit(victim)

    packs = verify(config)[("nas", "restic")]["restic-packs"]

    assert packs.status == Status.FAIL, packs.detail
    assert f"{victim.relative_to(repo)} ({holds})" in packs.detail


def test_verifying_a_100_mb_repository_over_ssh_moves_under_1_percent(tmp_path, sshd, big_restic):
    size = repository_size(big_restic[0])
    assert size >= 100 * 10**6
    with counting_proxy(sshd.port) as proxy:
        known_hosts = tmp_path / "known_hosts.proxy"
        known_hosts.write_text(f"[127.0.0.1]:{proxy.port} {sshd.host_public_key}\n")
        config = sandbox(tmp_path, sshd, restic_base=big_restic, nas={"port": proxy.port, "kh": known_hosts})
        packs = verify(config)[("nas", "restic")]["restic-packs"]
        agent_bytes = proxy.bytes_of(b"SSH-2.0-paramiko")
        restic_bytes = proxy.bytes_of(b"SSH-2.0-OpenSSH")
    print(f"repository {size} B; agent's ssh connection {agent_bytes} B; restic's {restic_bytes} B")

    assert packs.status == Status.PASS, packs.detail
    assert packs.measured["bytes_read"] == packs.measured["bytes"] == size  # every byte hashed on the host
    assert packs.measured["pack_coverage_bytes_ratio"] == 1.0
    # The agent's own connection (listing, sha256sum's digests, and the small mirror's) moves ≤ 1 %;
    # restic's `check --read-data-subset=1/1` over SFTP, for contrast, moves every pack.
    assert 0 < agent_bytes <= size // 100, (agent_bytes, size)
    assert restic_bytes >= size * 0.9, (restic_bytes, size)
