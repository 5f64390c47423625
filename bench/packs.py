"""Benchmark: restic-packs' pack hashing (every repository file's SHA-256 against its name, where
it lies) against `restic check --read-data` on the same repository, locally and over SSH.

Builds a repository of incompressible data (default 2 GiB, restic 0.14: no compression), then per
round and in alternating order, each run after evicting the repository from the page cache:
- local: the agent's parallel hashing (agent.hashing.hash_tree, a cold hash cache: every file
  read, as on the night a repository is first seen) vs `restic check --read-data`;
- SSH: an OpenSSH server on 127.0.0.1 (tests/support/sshd.running_sshd, the tests' recipe),
  SshTarget.hash (`sha256sum` on the host, only digests on the wire) vs `restic -r sftp:…
  check --read-data` (every pack downloaded over the same loopback).
Bytes on the wire of the agent's connection come from its own transport counters (wire_bytes).

    .venv/bin/python bench/packs.py [--size-mb 2048] [--rounds 2] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import harness as h  # noqa: E402
import workloads  # noqa: E402

from agent.hash_cache import HashCache  # noqa: E402
from agent.hashing import hash_tree, scan_tree  # noqa: E402
from agent.restic.layout import expected_digest, sort_files  # noqa: E402
from agent.targets.ssh import SshTarget  # noqa: E402
from tests.support.sshd import Sshd, make_context, make_target, running_sshd  # noqa: E402


def build(work: Path, size_mb: int) -> tuple[Path, Path, Path]:
    source, repo, cache = work / "source", work / "repo", work / "cache"
    files = max(1, size_mb // 32)
    workloads.random_tree(source, size_mb * 2**20, files)
    password = workloads.password_file(work)
    workloads.restic_repository(repo, source, password, cache)
    shutil.rmtree(source)
    return repo, password, cache


def agent_local(repo: Path) -> h.Run:
    load = os.getloadavg()[0]
    named = sort_files(scan_tree(str(repo))).named
    started, cpu = time.monotonic(), time.process_time()
    outcome = hash_tree(str(repo), named, cache=HashCache(None), now=time.time(), rehash_every=30 * 86400,
                        workers=os.cpu_count() or 2)
    run = h.Run(time.monotonic() - started, time.process_time() - cpu, 0, 0, load)
    assert all(d == expected_digest(p) for p, d in outcome.digests.items()) and not outcome.unreadable
    return run


def agent_ssh(sshd: Sshd, repo: Path, wire: list[int]) -> h.Run:
    load = os.getloadavg()[0]
    context = make_context(command_timeout=3600, hash_workers=os.cpu_count() or 2)
    target = SshTarget(make_target("bench", **sshd.options(connect_timeout=10)), context)
    try:
        target.probe(str(repo), require_tree=True)  # connect first: time only the work
        before = sum(target.wire_bytes())
        started = time.monotonic()
        named = sort_files(target.scan(str(repo))).named
        outcome = target.hash(str(repo), named)
        run = h.Run(time.monotonic() - started, 0, 0, 0, load)
        wire.append(sum(target.wire_bytes()) - before)
    finally:
        target.close()
    assert all(d == expected_digest(p) for p, d in outcome.digests.items()) and not outcome.unreadable
    return run


def restic_check(repository: str, password: Path, cache: Path, *options: str) -> h.Run:
    run = h.timed(["restic", "--repo", repository, "--password-file", str(password), "--cache-dir", str(cache),
                   *options, "check", "--read-data"])
    assert run.returncode == 0, "restic check --read-data failed"
    return run


def sftp_option(sshd: Sshd) -> str:
    return (f"sftp.command=ssh -p {sshd.port} -i {sshd.client_key} -o UserKnownHostsFile={sshd.known_hosts} "
            "-o StrictHostKeyChecking=yes -o BatchMode=yes root@127.0.0.1 -s sftp")


def report(title: str, agent: list[h.Run], restic: list[h.Run], size: int, wire: list[int] | None = None) -> None:
    note = f"; agent's wire {max(wire) / 1e3:.0f} KB ({max(wire) / size:.4%} of the repository)" if wire else ""
    ratio = h.ratios(agent, restic)
    print(f"| {title} | {h.spread([r.wall for r in agent])} | {h.spread([r.wall for r in restic])} | "
          f"{h.spread(ratio, unit='×')} | {h.loads(agent, restic)}{note} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="packs-bench-", dir=args.work) as temporary:
        work = Path(temporary)
        repo, password, cache = build(work, args.size_mb)
        size = sum(e.size for e in sort_files(scan_tree(str(repo))).named)
        print(f"{h.machine()}; repository {size / 1e9:.2f} GB, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        print("| where | pack hashing (agent) | restic check --read-data | ratio | load, notes |")
        print("|---|---|---|---|---|")
        evict = lambda: h.evict(repo)  # noqa: E731
        agent, restic = h.alternate(lambda: agent_local(repo), lambda: restic_check(str(repo), password, cache),
                                    args.rounds, evict)
        report("local", agent, restic, size)
        (work / "sshd").mkdir()
        with running_sshd(work / "sshd") as sshd:
            wire: list[int] = []
            url = f"sftp:root@127.0.0.1:{repo}"
            agent, restic = h.alternate(lambda: agent_ssh(sshd, repo, wire),
                                        lambda: restic_check(url, password, cache, "-o", sftp_option(sshd)),
                                        args.rounds, evict)
            report("SSH (127.0.0.1)", agent, restic, size, wire)


if __name__ == "__main__":
    main()
