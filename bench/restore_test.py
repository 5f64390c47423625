"""Benchmark: the agent's restore test against a bare `restic restore` of the same files, same run.

Builds a tree of random files (incompressible, so restic does real work), backs it up once with
restic into a local repository, then alternates, `--rounds` times:
  - the restore-test check (checks/restore_test.py through agent.restore: snapshot listing and
    its restore size, restore into a private scratch directory, SHA-256 of every restored file,
    comparison with the primary, projection against the RTO, scratch removal);
  - `restic restore SNAP --target DIR --include …` of exactly the files the check restored,
    nothing else (then the directory is removed, outside the timing).
Both read the same repository with the same cache directory and password file. The medians and
their ratio are printed (goal: ratio ≤ 1.10); numbers measured on the build machine are in
bench/README.md.

`--limit-download KIB` puts the repository behind a link of that speed for both sides: every
restic command (the check's and the bare one) runs with restic's own `--limit-download`, as a
NAS on the office LAN or the offsite bucket over the internet would be reached in production.

    .venv/bin/python bench/restore_test.py [--size-mb 512] [--files 128] [--mode full|sample] [--rounds 3]
                                           [--limit-download KIB] [--listing-first]

`--listing-first` makes a full restore list the snapshot before restoring, as a sample must (the
order before the listing ran alongside the restore), to measure what that order costs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import agent.restic  # noqa: E402
import agent.restic.commands  # noqa: E402
import agent.restore.run  # noqa: E402
import checks  # noqa: E402
from agent.checking import CopyContext, RunOptions  # noqa: E402
from agent.config import load_config  # noqa: E402
from agent.run import Session  # noqa: E402


def write_tree(root: Path, size_mb: int, files: int) -> None:
    each = size_mb * 2**20 // files
    for index in range(files):
        directory = root / f"d{index % 8}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{index:04d}.bin").write_bytes(os.urandom(each))


def restic(repo: Path, password: Path, cache: Path, *args: str) -> float:
    env = {**os.environ, "RESTIC_PASSWORD_FILE": str(password), "RESTIC_CACHE_DIR": str(cache)}
    started = time.monotonic()
    subprocess.run([agent.restic.RESTIC, "--repo", str(repo), *args], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--files", type=int, default=128)
    parser.add_argument("--mode", choices=("full", "sample"), default="full")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit-download", type=int, metavar="KIB", help="restic --limit-download for both sides")
    parser.add_argument("--listing-first", action="store_true", help="full restores list the snapshot first")
    arguments = parser.parse_args()
    if arguments.listing_first:
        agent.restore.run.plan_alongside = lambda *args, **kwargs: None  # "nothing to size it by": list first

    with tempfile.TemporaryDirectory(prefix="bench-restore-", dir="/var/tmp") as temporary:
        base = Path(temporary)
        data, repo, cache, password = base / "data", base / "repo", base / "cache", base / "restic.pass"
        password.write_text("bench password\n")
        write_tree(data, arguments.size_mb, arguments.files)
        restic(repo, password, cache, "init")
        took = restic(repo, password, cache, "backup", "--tag", "bench", str(data))
        print(f"tree: {arguments.files} files, {arguments.size_mb} MiB; backup took {took:.1f}s")
        if arguments.limit_download:
            # The agent finds restic through agent.restic.commands.RESTIC (BACKUP_AGENT_RESTIC): one
            # wrapper puts the same link in front of the check's restic commands and the bare restore.
            wrapper = base / "restic-limited"
            wrapper.write_text(f"#!/bin/sh\nexec {shutil.which('restic')} --limit-download "
                               f"{arguments.limit_download} \"$@\"\n")
            wrapper.chmod(0o755)
            agent.restic.RESTIC = agent.restic.commands.RESTIC = str(wrapper)
            print(f"link: restic --limit-download {arguments.limit_download} KiB/s "
                  f"({arguments.limit_download * 1024 * 8 / 1e6:.0f} Mbit/s) on every restic command")
        document = {
            "agent": {"state_dir": str(base / "state"), "metrics_file": str(base / "m.prom"),
                      "scratch_dir": str(base / "scratch"), "operator": "bench"},
            "processes": {"p": {"rpo": "1d", "rto": "4h"}},
            "targets": {"primary": {"kind": "local", "medium": "cloud-vm", "location": "a", "require_mount": False},
                        "nas": {"kind": "local", "medium": "nas", "location": "b", "require_mount": False}},
            "datasets": {"bench": {
                "process": "p",
                "primary": {"target": "primary", "form": "files", "path": str(data)},
                "copies": [{"target": "nas", "form": "restic", "path": str(repo), "password_file": str(password),
                            "snapshot_filter": {"tags": ["bench"]}}],
                "restore_test": {"sample_files": max(1, arguments.files // 4), "sample_bytes": "100GiB"},
            }},
        }
        (base / "targets.yaml").write_text(yaml.safe_dump(document))
        config = load_config(base / "targets.yaml")
        os.environ["RESTIC_CACHE_DIR"] = str(cache)
        dataset = config.datasets["bench"]
        spec = dataset.copies[0]

        def run_check() -> tuple[float, object, CopyContext]:
            session = Session(config)
            try:
                context = session.copy_context(dataset, spec, RunOptions(restore_test=arguments.mode))
                for module in (checks.get("reachable"), checks.get("freshness")):
                    module.run(context)  # what a verify run has done before the restore test
                subprocess.run(["sync"], check=True)
                started = time.monotonic()
                result = checks.get("restore-test").run(context)
                took = time.monotonic() - started
            finally:
                session.close()
            if result.status != "pass":
                raise SystemExit(f"restore test did not pass: {result.detail}")
            return took, result, context

        def run_bare(context: CopyContext, round_number: int) -> float:
            snapshot = context.dataset_snapshots()[-1]
            # The same files the check restored: all of them (full) or the sample it recorded as tested.
            includes: list[str] = []
            if arguments.mode == "sample":
                tested = context.state.get("restore-test", spec.key)["tested"]
                for relpath in (p for p, t in tested.items() if t == context.now.timestamp()):
                    includes += ["--include", f"{data}/{relpath}"]
            target = base / f"bare-{round_number}"
            subprocess.run(["sync"], check=True)
            took = restic(repo, password, cache, "restore", snapshot.id, "--target", str(target), *includes)
            shutil.rmtree(target)
            return took

        # A first, untimed restore test warms what a nightly run has warm: restic's cache directory
        # and the agent's hash cache of the primary (both kept between runs in STATE_DIR).
        _, warm, context = run_check()
        print(f"warm-up (cold caches): {warm.measured['restore_seconds']:.2f}s restore, "
              f"primary hashed in {warm.measured.get('primary_hash_seconds', 0):.2f}s")
        check_times, bare_times = [], []
        for round_number in range(1, arguments.rounds + 1):
            # Alternate which goes first, so neither always inherits the other's page-cache state.
            if round_number % 2:
                took, result, context = run_check()
                check_times.append(took)
                bare_times.append(run_bare(context, round_number))
            else:
                bare_times.append(run_bare(context, round_number))
                took, result, context = run_check()
                check_times.append(took)
            m = result.measured
            print(f"round {round_number}: restore test {check_times[-1]:.2f}s = before restore "
                  f"{m['before_restore_seconds']:.2f}s (listing {m['listing_seconds']:.2f}s"
                  f"{', alongside the restore' if m.get('listing') else ''}) "
                  f"+ restore {m['restore_seconds']:.2f}s + verify {m['verify_seconds']:.2f}s "
                  f"(primary hash {m.get('primary_hash_seconds', 0):.2f}s alongside; {m['files']} files, "
                  f"{m['bytes_restored'] / 2**20:.0f} MiB, restic --verify {m['restic_verify']}); "
                  f"bare restic restore {bare_times[-1]:.2f}s")
        check_median, bare_median = statistics.median(check_times), statistics.median(bare_times)
        print(f"median: restore test {check_median:.2f}s, bare restic restore {bare_median:.2f}s, "
              f"ratio {check_median / bare_median:.3f} (goal <= 1.10)")


if __name__ == "__main__":
    main()
