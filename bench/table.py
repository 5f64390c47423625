"""Benchmark: every row of the performance table of bench/README.md, from scratch.

Each row generates its workload in a temporary directory (or reuses one under --work), then runs
the agent (`backup-agent verify --json`, a whole process) and its peer in turn, A B then B A, for
--rounds rounds in one sitting, and prints the medians, the per-pair ratio and the load average.
Peers: `rclone check --checksum --one-way` (Debian package rclone), `restic check --read-data`,
`restic restore` (bench/restore_test.py), OpenSSL's SHA-256 speed for the hashing limit.

    .venv/bin/python bench/table.py ROW [--rounds 5] [--work DIR] [--scale 1.0]

ROW: mirror (2 GB in 5,000 files, cold cache; also the share of the hashing limit), million
(1,000,000 files of 100 B), second-night, rereads (62 simulated nights), restic-verify (2 GB
repository), targets (2 mirrors + 3 restic repositories of 500 MB), restore (1 GiB full), all.
--scale multiplies the sizes (0.1 for a quick look; the README's figures are at 1.0).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h  # noqa: E402
import workloads as w  # noqa: E402

GB = 10**9


def _workload(work: Path, name: str, build) -> Path:
    """The directory of a generated workload, built once (a `ready` file says it is complete)."""
    root = work / name
    if not (root / "ready").exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        print(f"generating {name} in {root} …", flush=True)
        build(root)
        (root / "ready").touch()
    return root


def _mirror_pair(root: Path, total: int, files: int, per_directory: int = 100) -> None:
    w.random_tree(root / "primary", total, files, per_directory)
    w.mirror(root / "primary", root / "copy")


def _report(title: str, agent: list[h.Run], peer: list[h.Run], peer_name: str, goal: str, rss: bool = False) -> None:
    line = (f"| {title} | {h.spread([r.wall for r in agent])} | {peer_name} {h.spread([r.wall for r in peer])} | "
            f"{h.spread(h.ratios(agent, peer), unit='')} | {goal} | load {h.loads(agent, peer)} |")
    print(line)
    if rss:
        print(f"|   peak RSS | {h.spread([r.rss_mb for r in agent], 'MB', 0)} | "
              f"{h.spread([r.rss_mb for r in peer], 'MB', 0)} | "
              f"{h.spread(h.ratios(agent, peer, 'rss_mb'), unit='')} | | |")
    print(f"|   CPU s | {h.spread([r.cpu for r in agent])} | {h.spread([r.cpu for r in peer])} | | | |", flush=True)
    bad = [r.returncode for r in agent + peer if r.returncode not in (0, 1)]
    if bad:
        print(f"  warning: exit codes {bad}", flush=True)


def row_mirror(args, work: Path) -> None:
    total, files = int(2 * GB * args.scale), max(10, int(5000 * args.scale))
    root = _workload(work, f"mirror-{total}", lambda r: _mirror_pair(r, total, files))
    state = root / "state"
    config = w.config(root / "targets.yaml", state, root / "primary",
                      [{"target": "disk", "form": "files", "path": str(root / "copy"), "stamp": ".last-sync"}])

    def before() -> None:
        h.fresh_directory(state)
        h.evict(root / "primary", root / "copy")

    agent, peer = h.alternate(lambda: h.timed(w.agent_verify(config)),
                              lambda: h.timed(["rclone", "check", "--checksum", "--one-way",
                                               str(root / "primary"), str(root / "copy")]),
                              args.rounds, before)
    _report(f"plain mirror vs primary, {total / GB:.1f} GB in {files} files, cold cache", agent, peer,
            "rclone check --checksum --one-way", "≤ 0.40")
    limit = h.sha256_limit_bytes_per_second()
    shares = [2 * total / r.wall / (2 * limit) for r in agent]
    print(f"| share of the hashing limit ({2 * total / GB:.1f} GB ÷ 2 cores × {limit / GB:.2f} GB/s OpenSSL SHA-256) | "
          f"{h.spread([100 * s for s in shares], '%', 0)} | | | ≥ 85 % | |", flush=True)


def row_million(args, work: Path) -> None:
    files = max(1000, int(1_000_000 * args.scale))

    def build(root: Path) -> None:
        w.tiny_tree(root / "primary", files)
        w.mirror(root / "primary", root / "copy")

    root = _workload(work, f"million-{files}", build)
    state = root / "state"
    config = w.config(root / "targets.yaml", state, root / "primary",
                      [{"target": "disk", "form": "files", "path": str(root / "copy"), "stamp": ".last-sync"}])
    agent, peer = h.alternate(lambda: h.timed(w.agent_verify(config, "--no-records")),
                              lambda: h.timed(["rclone", "check", "--checksum", "--one-way",
                                               str(root / "primary"), str(root / "copy")]),
                              args.rounds, lambda: h.fresh_directory(state))
    _report(f"{files:,} files of 100 B, primary + mirror (first night)", agent, peer, "rclone check", "≤ 1.0× time, ≤ 200 MB",
            rss=True)


def row_second_night(args, work: Path) -> None:
    total, files = int(2 * GB * args.scale), max(10, int(5000 * args.scale))
    root = _workload(work, f"mirror-{total}", lambda r: _mirror_pair(r, total, files))
    copies = [{"target": "disk", "form": "files", "path": str(root / "copy"), "stamp": ".last-sync"}]
    second = w.config(root / "second.yaml", root / "state-second", root / "primary", copies)
    first = w.config(root / "first.yaml", root / "state-first", root / "primary", copies)
    h.fresh_directory(root / "state-second")
    h.timed(w.agent_verify(second))  # the first night of the "second night" side
    agent, peer = h.alternate(lambda: h.timed(w.agent_verify(second)),
                              lambda: (h.fresh_directory(root / "state-first"), h.timed(w.agent_verify(first)))[1],
                              args.rounds)
    _report("second night, nothing changed (warm page cache)", agent, peer, "first night", "≤ 3 %")
    floor = [h.timed([*w.AGENT, "--help"]) for _ in range(3)]
    print(f"|   the CLI's own start (`backup-agent --help`) | {h.spread([r.wall for r in floor])} | | | | |", flush=True)


def row_rereads(args, work: Path) -> None:
    """62 simulated nights (BACKUP_AGENT_NOW a day apart); each night's share of the unchanged
    bytes read again, on the copy and on the primary."""
    total = int(256 * 2**20 * args.scale)

    def build(root: Path) -> None:
        w.varied_tree(root / "primary", total, 400)
        w.mirror(root / "primary", root / "copy")

    root = _workload(work, f"rereads-{total}", build)
    state = root / "state"
    h.fresh_directory(state)
    config = w.config(root / "targets.yaml", state, root / "primary",
                      [{"target": "disk", "form": "files", "path": str(root / "copy"), "stamp": ".last-sync"}],
                      rehash_every="30d")
    size = sum(p.stat().st_size for p in (root / "primary").rglob("*") if p.is_file())
    import datetime as dt

    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1)
    shares = []
    for night in range(62):
        moment = (start + dt.timedelta(days=night)).isoformat().replace("+00:00", "Z")
        output = subprocess.run(w.agent_verify(config, "--no-records"), capture_output=True, text=True,
                                env={**os.environ, "BACKUP_AGENT_NOW": moment}).stdout
        copy = next(c for c in json.loads(output)["datasets"][0]["copies"] if c.get("role") == "backup")
        check = next(c for c in copy["checks"] if c["name"] == "files-checksum")
        copy_read = check.get("bytes_read", 0)
        primary_read = check.get("primary_bytes_read")
        shares.append((night, copy_read / size, None if primary_read is None else primary_read / size))
    print(f"| bit-rot re-reads (rehash_every 30d), 62 simulated nights, {size / 2**20:.0f} MiB in 400 files | "
          "night: copy share (primary share) |", flush=True)
    print("  " + " ".join(f"{n}:{c:.1%}" + (f"({p:.1%})" if p is not None else "") for n, c, p in shares), flush=True)
    later = [c for n, c, _ in shares if n >= 1]
    print(f"|   nights 1–61 | median {h.median(later):.1%}, max {max(later):.1%}, zero on {sum(1 for c in later if c == 0)} "
          f"nights | goal ≈ {1 / 30:.1%} each night, ≤ {2 / 30:.1%} |", flush=True)


def _restic_pair(root: Path, total: int, files: int, repositories: int = 1) -> None:
    w.random_tree(root / "primary", total, files)
    password = w.password_file(root)
    for index in range(repositories):
        w.restic_repository(root / f"repo{index}", root / "primary", password, root / "restic-cache")


def row_restic_verify(args, work: Path) -> None:
    total = int(2 * GB * args.scale)
    root = _workload(work, f"restic-{total}", lambda r: _restic_pair(r, total, 500))
    state = root / "state"
    h.fresh_directory(state)
    config = w.config(root / "targets.yaml", state, root / "primary",
                      [{"target": "repo", "form": "restic", "path": str(root / "repo0"),
                        "password_file": str(root / "restic.pass")}])
    env = {"RESTIC_PASSWORD_FILE": str(root / "restic.pass"), "RESTIC_CACHE_DIR": str(root / "restic-cache")}
    h.timed(w.agent_verify(config, "--target", "repo"))  # the restic cache warm, as every night after the first
    agent, peer = h.alternate(lambda: h.timed(w.agent_verify(config, "--target", "repo")),
                              lambda: h.timed(["restic", "--repo", str(root / "repo0"), "check", "--read-data"], env=env),
                              args.rounds)
    structure = [h.timed(["restic", "--repo", str(root / "repo0"), "check"], env=env) for _ in range(args.rounds)]
    _report(f"nightly restic verify of a {total / GB:.1f} GB repository", agent, peer, "restic check --read-data",
            "≤ full/30 + one structural check")
    goal = h.median([r.wall for r in peer]) / 30 + h.median([r.wall for r in structure])
    print(f"|   plain `restic check` | {h.spread([r.wall for r in structure])} | goal for the agent: "
          f"{goal:.2f} s | | | |", flush=True)


def row_targets(args, work: Path) -> None:
    total = int(500 * 10**6 * args.scale)

    def build(root: Path) -> None:
        _restic_pair(root, total, 250, repositories=3)
        for index in range(2):
            w.mirror(root / "primary", root / f"mirror{index}")

    root = _workload(work, f"targets-{total}", build)
    state = root / "state"
    password = str(root / "restic.pass")
    copies = [{"target": f"m{i}", "form": "files", "path": str(root / f"mirror{i}"), "stamp": ".last-sync"}
              for i in range(2)]
    copies += [{"target": f"r{i}", "form": "restic", "path": str(root / f"repo{i}"), "password_file": password}
               for i in range(3)]
    config = w.config(root / "targets.yaml", state, root / "primary", copies)
    alone = {}
    for name in ("m0", "r0"):
        runs, _ = h.alternate(lambda name=name: h.timed(w.agent_verify(config, "--no-records", "--target", name)),
                              None, args.rounds, lambda: h.fresh_directory(state))
        alone[name] = runs
    slowest = max(alone.values(), key=lambda runs: h.median([r.wall for r in runs]))
    slowest_name = next(n for n, runs in alone.items() if runs is slowest)
    agent, peer = h.alternate(lambda: h.timed(w.agent_verify(config, "--no-records")),
                              lambda: h.timed(w.agent_verify(config, "--no-records", "--target", slowest_name)),
                              args.rounds, lambda: h.fresh_directory(state))
    _report(f"5 targets (2 mirrors, 3 restic repos) of {total / GB:.1f} GB, first night", agent, peer,
            f"slowest target alone ({slowest_name})", "≤ 1.2")
    print("|   alone: " + ", ".join(f"{n} {h.spread([r.wall for r in runs])}" for n, runs in alone.items()) + " | | | | |",
          flush=True)


def row_restore(args, work: Path) -> None:
    size = max(16, int(1024 * args.scale))
    subprocess.run([sys.executable, str(Path(__file__).with_name("restore_test.py")), "--size-mb", str(size),
                    "--files", "128", "--mode", "full", "--rounds", str(args.rounds)], check=True)


ROWS = {"mirror": row_mirror, "million": row_million, "second-night": row_second_night, "rereads": row_rereads,
        "restic-verify": row_restic_verify, "targets": row_targets, "restore": row_restore}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("row", choices=[*ROWS, "all"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--work", type=Path, help="keep generated workloads here (reused by later runs)")
    args = parser.parse_args()
    # The agent measured is the one next to this script (a checkout of another commit run with
    # the same venv measures that commit).
    os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    print(h.machine(), flush=True)
    rows = list(ROWS) if args.row == "all" else [args.row]
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        for row in rows:
            ROWS[row](args, args.work)
        return
    with tempfile.TemporaryDirectory(prefix="bench-table-", dir="/var/tmp") as temporary:
        for row in rows:
            ROWS[row](args, Path(temporary))


if __name__ == "__main__":
    main()
