"""A poisoned targets.yaml through the real CLI: `config check` and `verify` exit 2 at once, in
bounded memory, name the file and the key path, and write nothing (no state directory, records,
metrics or scratch). The child's CPU time and peak RSS come from wait4; an address-space limit
keeps a regression from taking the machine down with it (it then fails here instead)."""

from __future__ import annotations

import os
import resource
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.support.cli import CLI, agent_env
from tests.support.configs import minimal

MEMORY_LIMIT = 2 * 2**30
MAX_RSS_BYTES = 200 * 2**20


def _bomb(levels: int = 12, width: int = 10) -> str:
    lines = [f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines)


VALID = yaml.safe_dump(minimal(), allow_unicode=True, sort_keys=False)
POISONS = {
    # 10**12 strings once expanded: PyYAML alone builds it lazily and dies walking it.
    "alias-bomb": ("x-lol:\n" + _bomb() + "\n" + VALID.replace("    copies:\n", "    copies: *l11\n    x:\n", 1),
                   "x-lol.l"),
    "deep-nesting": (VALID.replace("operator: 王婧", "operator: " + "[" * 1000 + "]" * 1000), "agent.operator[0]"),
    "integer-5000-digits": (VALID.replace("concurrency: 2", "concurrency: " + "9" * 5000), "agent.concurrency"),
    "nan-rpo": (VALID.replace("rpo: 1h", "rpo: .nan"), "processes.p.rpo"),
    "nul-in-a-path": (VALID.replace("path: copy", "path: \"copy\\0/x\""), "datasets.d.copies[0].path"),
}


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _run(args: list[str], env: dict[str, str], cwd: Path, errors: Path) -> tuple[int, str, float, int]:
    """Run the CLI; return (exit code, stderr, CPU seconds, peak RSS bytes) of that one child."""
    with open(errors, "wb") as stderr:
        child = subprocess.Popen([CLI, *args], stdout=subprocess.DEVNULL, stderr=stderr, env=env, cwd=cwd,
                                 preexec_fn=_limit_memory)
        deadline = time.monotonic() + 60
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                child.kill()
                pid, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.02)
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    return child.returncode, errors.read_text(encoding="utf-8", errors="replace"), usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


@pytest.mark.parametrize("command", [["config", "check"], ["verify"]], ids=" ".join)
@pytest.mark.parametrize("case", sorted(POISONS))
def test_poisoned_config_exits_2_fast_in_bounded_memory(tmp_path: Path, tmp_path_factory, case: str,
                                                        command: list[str]) -> None:
    text, key = POISONS[case]
    config = tmp_path / "targets.yaml"
    config.write_text(text, encoding="utf-8")
    home = tmp_path_factory.mktemp("home")
    code, stderr, cpu_seconds, peak_rss = _run(["--config", str(config), *command], agent_env(home), tmp_path,
                                               home / "stderr")
    assert code == 2, stderr[-2000:]
    assert f"{config}: " in stderr and key in stderr, stderr[-2000:]
    assert "Traceback" not in stderr
    assert cpu_seconds < 1.0, f"{cpu_seconds:.2f}s of CPU"
    assert peak_rss < MAX_RSS_BYTES, f"peak RSS {peak_rss / 2**20:.0f} MiB"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["targets.yaml"], "a config error writes nothing"
