"""One run at a time (agent/lock.py), end to end: the real CLI as subprocesses, real restic.

The "slow config" is a real restic copy whose password_command waits for a gate file before
printing the password: a verify run holds the lock until the test opens the gate, so "the
second run was turned away while the first was running" holds however loaded the machine is,
without any fake in the agent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.lock import LockBusy, RunLock

pytestmark = pytest.mark.e2e

AGENT = str(Path(sys.executable).with_name("backup-agent"))
EXIT_LOCKED = 75


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Primary tree + a restic repository of it (one snapshot tagged d), built once."""
    root = tmp_path_factory.mktemp("lock")
    data = root / "primary"
    data.mkdir()
    for index in range(5):
        (data / f"file-{index}.txt").write_text(f"record {index}\n" * 50)
    password = root / "restic.pass"
    password.write_text("lock-test-password\n")
    env = {**os.environ, "RESTIC_PASSWORD_FILE": str(password), "RESTIC_CACHE_DIR": str(root / "cache")}
    subprocess.run(["restic", "-r", str(root / "repo"), "init"], env=env, check=True, capture_output=True, timeout=60)
    subprocess.run(["restic", "-r", str(root / "repo"), "backup", "--tag", "d", str(data)], env=env, check=True,
                   capture_output=True, timeout=60)
    return root


def _config(sandbox: Path, directory: Path) -> Path:
    """A targets.yaml with its own state dir: restic's password_command waits for directory/GATE."""
    directory.mkdir()
    config = directory / "targets.yaml"
    command = f"sh -c 'while [ ! -e {directory / 'GATE'} ]; do sleep 0.05; done; cat {sandbox / 'restic.pass'}'"
    config.write_text(f"""\
agent: {{state_dir: state, metrics_file: metrics/backup_agent.prom, scratch_dir: scratch, operator: lock-test}}
processes: {{p: {{rpo: 1d, rto: 4h}}}}
targets:
  disk: {{kind: local, medium: ssd, location: office, require_mount: false}}
  usb: {{kind: local, medium: hdd, location: home, require_mount: false}}
datasets:
  d:
    process: p
    policy: {{copies: 2, media: 2, offsite: 1}}
    primary: {{target: disk, form: files, path: {sandbox / 'primary'}}}
    copies:
      - {{target: usb, form: restic, path: {sandbox / 'repo'}, password_command: "{command}",
         snapshot_filter: {{tags: [d]}}}}
""")
    return config


def _agent(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([AGENT, "--config", str(config), *args], capture_output=True, text=True, timeout=timeout)


def _start(config: Path) -> subprocess.Popen:
    # Own session, so the test can stop this run and its children (the sleeping password command) by group id.
    return subprocess.Popen([AGENT, "--config", str(config), "verify"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_lock(process: subprocess.Popen, lock_file: Path, timeout: float = 30) -> None:
    """Wait until `process` has written its pid into the lock file (it writes only once it holds the lock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lock_file.exists() and lock_file.read_text().startswith(f"pid {process.pid},"):
            return
        assert process.poll() is None, f"run ended before taking the lock: {process.communicate()}"
        time.sleep(0.05)
    raise AssertionError("the first run never took the lock")


def _run_ids(config: Path) -> set[str]:
    exported = _agent(config, "records", "export", "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    return {json.loads(line)["run_id"] for line in exported.stdout.splitlines() if line.strip()}


def test_second_concurrent_run_exits_75_and_records_nothing(sandbox: Path, tmp_path: Path) -> None:
    config = _config(sandbox, tmp_path / "site")
    first = _start(config)
    try:
        _wait_for_lock(first, tmp_path / "site" / "state" / "run.lock")
        second = _agent(config, "verify", timeout=60)
        assert first.poll() is None, "the first run is still held at the gate"
        (tmp_path / "site" / "GATE").touch()
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    assert second.returncode == EXIT_LOCKED, (second.stdout, second.stderr)
    assert "another run is in progress" in second.stderr and f"pid {first.pid}" in second.stderr
    assert "recorded nothing" in second.stderr
    assert second.stdout == ""
    assert first.returncode == 0, (out, err)

    assert len(_run_ids(config)) == 1, "only the run that held the lock may write records"
    chain = _agent(config, "records", "verify")
    assert chain.returncode == 0 and "chain intact" in chain.stdout, chain.stdout + chain.stderr


def test_lock_of_a_killed_run_does_not_block(sandbox: Path, tmp_path: Path) -> None:
    config = _config(sandbox, tmp_path / "site")
    lock_file = tmp_path / "site" / "state" / "run.lock"
    killed = _start(config)
    _wait_for_lock(killed, lock_file)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    assert lock_file.exists(), "the killed run's lock file stays behind"

    (tmp_path / "site" / "GATE").touch()
    after = _agent(config, "verify")
    assert after.returncode == 0, (after.stdout, after.stderr)
    assert len(_run_ids(config)) == 1, "the killed run recorded nothing; the next one recorded its run"
    assert _agent(config, "records", "verify").returncode == 0


def test_lock_in_process(tmp_path: Path) -> None:
    """The lock module alone: busy while held (with the holder's hint), free once released, and
    not inherited by children (a leftover restic must not keep a dead agent's lock)."""
    holder = RunLock(tmp_path, note="first")
    holder.acquire()
    child = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(LockBusy) as busy:
            RunLock(tmp_path).acquire()
        assert busy.value.holder == f"pid {os.getpid()}, first"
        holder.release()
        with RunLock(tmp_path, note="second"):
            assert (tmp_path / "run.lock").read_text() == f"pid {os.getpid()}, second\n"
    finally:
        child.kill()
        child.wait()
    with RunLock(tmp_path):
        pass
