"""What every row of bench/table.py shares: timing a whole command the way `/usr/bin/time -v`
does (wall clock from outside, user + sys and peak RSS from the kernel's wait4 accounting of the
finished process), two commands alternated in one sitting with the ratio taken pair by pair,
medians, and evicting a workload from the page cache so a "cold cache" run reads the disk.

Only the standard library: anyone can rerun these on their own machine."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    """One finished process: wall seconds, CPU seconds (user + sys, children included), peak RSS."""

    wall: float
    cpu: float
    rss_mb: float
    returncode: int
    load: float  # 1-minute load average when the run started


def timed(argv: Sequence[str], *, env: dict[str, str] | None = None, output: Path | None = None,
          cwd: Path | None = None) -> Run:
    """Run argv to completion and return its figures. Its output goes to `output` (appended) or nowhere.

    Peak RSS is the largest single process of the command (ru_maxrss of the waited-for children),
    as `/usr/bin/time -v` reports "Maximum resident set size"."""
    sink = open(output, "ab") if output else open(os.devnull, "wb")  # noqa: SIM115 - closed below
    load = os.getloadavg()[0]
    started = time.monotonic()
    try:
        process = subprocess.Popen(list(argv), stdout=sink, stderr=subprocess.STDOUT if output else sink,
                                   env={**os.environ, **(env or {})}, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
    finally:
        sink.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode, load)


def alternate(a: Callable[[], Run], b: Callable[[], Run] | None, rounds: int,
              before: Callable[[], None] | None = None) -> tuple[list[Run], list[Run]]:
    """Run a and b in turn `rounds` times (A B, then B A, …, so neither always goes first), calling
    `before` ahead of every run (cache eviction, a fresh state directory). Return both lists."""
    runs_a: list[Run] = []
    runs_b: list[Run] = []
    for index in range(rounds):
        order = [(a, runs_a), (b, runs_b)] if index % 2 == 0 else [(b, runs_b), (a, runs_a)]
        for command, runs in order:
            if command is None:
                continue
            if before:
                before()
            runs.append(command())
    return runs_a, runs_b


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float], unit: str = "s", digits: int = 2) -> str:
    """'4.21 s (3.98–4.60)': the median and the range, as a row quotes it."""
    if not values:
        return "—"
    low, mid, high = min(values), median(values), max(values)
    return f"{mid:.{digits}f} {unit} ({low:.{digits}f}–{high:.{digits}f})"


def ratios(runs_a: Sequence[Run], runs_b: Sequence[Run], figure: str = "wall") -> list[float]:
    """A/B pair by pair (the i-th A with the i-th B, run next to each other)."""
    return [getattr(x, figure) / getattr(y, figure) for x, y in zip(runs_a, runs_b, strict=False)]


def loads(*runs: Sequence[Run]) -> str:
    values = [run.load for group in runs for run in group]
    return f"{min(values):.1f}–{max(values):.1f}" if values else "—"


def evict(*roots: Path) -> None:
    """Drop the files under roots from the page cache (posix_fadvise DONTNEED after a sync), so the
    next read comes from the disk — only this workload's pages, not the whole machine's."""
    os.sync()
    for root in roots:
        for directory, _, files in os.walk(root):
            for name in files:
                try:
                    descriptor = os.open(os.path.join(directory, name), os.O_RDONLY | os.O_NOFOLLOW)
                except OSError:
                    continue
                try:
                    os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(descriptor)


def fresh_directory(path: Path) -> None:
    """Remove path and create it empty (a first night: no hash cache, no rotation state)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def machine() -> str:
    """One line: CPU model, cores, memory, OS, restic version."""
    model = cores = "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    cores = str(os.cpu_count())
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    debian = Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() else "?"
    restic = subprocess.run(["restic", "version"], capture_output=True, text=True, check=False).stdout.split()[1:2]
    return (f"{model}, {cores} cores, {memory:.0f} GiB RAM, Debian {debian}, "
            f"restic {restic[0] if restic else '?'}, load {os.getloadavg()[0]:.1f}")


def sha256_limit_bytes_per_second() -> float:
    """OpenSSL's SHA-256 speed on one core with 1 MiB blocks (`openssl speed -evp sha256`), bytes/s."""
    output = subprocess.run(["openssl", "speed", "-seconds", "3", "-bytes", "1048576", "-evp", "sha256"],
                            capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.lower().startswith("sha256"))
    kilobytes = float(line.split()[-1].rstrip("k"))  # "1000s of bytes per second"
    return kilobytes * 1000
