"""agent.execute with real processes: a command dies with the agent (SIGKILL included), and
whenever the agent stops one itself (timeout, a stop request from another thread) it asks with
SIGINT first and kills the whole group only after the grace period.

Plain `sh` stands in for restic here (a trap shows whether SIGINT came first);
tests/integration/test_restic_locks.py does the same with restic and its lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from agent import execute
from agent.errors import CommandFailed, CommandTimeout, ToolMissing

pytestmark = pytest.mark.integration

# A command that answers SIGINT the way restic does: cleans up (writes a file), then exits 130.
CLEANS_UP = 'trap "echo cleaned > {marker}; exit 130" INT; echo $$ > {pidfile}; sleep 300 & wait'
IGNORES = 'trap "" INT; echo $$ > {pidfile}; sleep 300 & wait; sleep 300 & wait'


def wait_for(path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return path.read_text().strip()


def gone(pid: int, timeout: float = 10) -> bool:
    """Whether the process ends within timeout (a zombie nobody reaps counts as ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def kill_group_if_running(pid: int) -> None:
    """The test's own cleanup: the shell leads its session, its background sleep is in its group."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.mark.parametrize("in_thread", [False, True], ids=["main-thread", "worker-thread"])
def test_a_command_dies_with_a_sigkilled_agent_and_is_asked_with_sigint(tmp_path, in_thread):
    """The agent runs restic from worker threads; PR_SET_PDEATHSIG follows the thread that started
    the command, which waits in execute() as long as the command runs."""
    pidfile, marker = tmp_path / "pid", tmp_path / "cleaned"
    command = CLEANS_UP.format(marker=marker, pidfile=pidfile)
    call = f"execute.execute(['sh', '-c', {command!r}], timeout=600)"
    script = textwrap.dedent(f"""
        import threading
        from agent import execute
        if {in_thread}:
            worker = threading.Thread(target=lambda: {call})
            worker.start()
            worker.join()
        else:
            {call}
    """)
    agent = subprocess.Popen([sys.executable, "-c", script])
    try:
        child = int(wait_for(pidfile))
        agent.kill()
        agent.wait(timeout=30)
        assert gone(child), "the command outlived the SIGKILLed agent"
        assert wait_for(marker, timeout=5) == "cleaned", "the command was not asked with SIGINT"
    finally:
        agent.kill()
        agent.wait()
        if pidfile.exists() and pidfile.read_text().strip():
            kill_group_if_running(int(pidfile.read_text()))


def test_a_timeout_asks_with_sigint_first(tmp_path):
    pidfile, marker = tmp_path / "pid", tmp_path / "cleaned"
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match="timed out after 1s"):
        execute.execute(["sh", "-c", CLEANS_UP.format(marker=marker, pidfile=pidfile)], timeout=1)
    assert marker.read_text().strip() == "cleaned"
    assert time.monotonic() - started < execute.STOP_GRACE_SECONDS  # it ended on the request, no grace wasted
    assert gone(int(pidfile.read_text()), timeout=1)


def test_a_timeout_kills_the_group_of_a_command_that_ignores_sigint(tmp_path, monkeypatch):
    monkeypatch.setattr(execute, "STOP_GRACE_SECONDS", 1.0)
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(CommandTimeout):
        execute.execute(["sh", "-c", IGNORES.format(pidfile=pidfile)], timeout=1)
    assert 2 <= time.monotonic() - started < 10
    shell = int(pidfile.read_text())
    assert gone(shell, timeout=2)
    # SIGKILL to the group is delivered at once, but a loaded machine may take a moment to end them.
    assert all(gone(pid, timeout=5) for pid in group_members(shell)), "the command's own children must die with its group"


def group_members(pgid: int) -> list[int]:
    """The live processes of a process group (a zombie nobody reaps yet has ended)."""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def test_stop_running_asks_every_command_then_kills_what_stays(tmp_path):
    """A stop request (SIGTERM to the agent, the run budget) comes from the main thread while the
    commands run in workers: the one that cleans up ends by itself, the one that ignores SIGINT is
    killed after the grace period."""
    outcomes: dict[str, BaseException] = {}
    files = {name: (tmp_path / f"{name}.pid", tmp_path / f"{name}.cleaned") for name in ("polite", "stubborn")}

    def run(name: str, template: str) -> None:
        pidfile, marker = files[name]
        try:
            execute.execute(["sh", "-c", template.format(pidfile=pidfile, marker=marker)], timeout=600)
        except BaseException as error:  # noqa: BLE001 - the test inspects it
            outcomes[name] = error

    workers = [threading.Thread(target=run, args=("polite", CLEANS_UP)),
               threading.Thread(target=run, args=("stubborn", IGNORES))]
    for worker in workers:
        worker.start()
    for pidfile, _ in files.values():
        wait_for(pidfile)
    started = time.monotonic()
    assert execute.stop_running(grace=1.5) == 2
    assert 1.5 <= time.monotonic() - started < 10
    for worker in workers:
        worker.join(timeout=30)
        assert not worker.is_alive()
    assert files["polite"][1].read_text().strip() == "cleaned"
    for pidfile, _ in files.values():  # their groups went with them (each left a sleep running)
        assert group_members(int(pidfile.read_text())) == []
    assert isinstance(outcomes["polite"], CommandFailed) and outcomes["polite"].returncode == 130
    assert isinstance(outcomes["stubborn"], CommandFailed) and outcomes["stubborn"].returncode == -signal.SIGKILL


def test_a_missing_tool_is_still_tool_missing():
    with pytest.raises(ToolMissing, match="no-such-tool-here is not installed"):
        execute.execute(["no-such-tool-here", "--version"], timeout=10)


def test_output_exit_code_and_arguments_pass_through_unchanged():
    done = execute.execute([sys.executable, "-c", "import sys; print(sys.argv[1:]); sys.exit(3)", "--", "-", "a b"],
                           timeout=30, check=False)
    assert done.returncode == 3
    assert done.stdout.strip() == "['--', '-', 'a b']"
    assert done.argv[0] == sys.executable
