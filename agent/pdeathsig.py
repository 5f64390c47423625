"""Exec a command that dies with the agent. Run by agent.execute, never imported:

    python -I -S pdeathsig.py PARENT_PID SIGNAL EXECUTABLE ARGV0 ARGS...

The agent's commands run in their own session (so a timeout can kill a whole process group), which
also means nothing ends them when the agent itself is killed: a SIGKILLed agent used to leave
`restic check` running, holding its lock. Here the kernel is asked (prctl PR_SET_PDEATHSIG) to send
SIGNAL to this process when the agent's thread that started it dies — by SIGKILL too — and then the
command replaces this process (exec keeps the request). SIGINT is what restic 0.14 answers by
removing its lock before it exits.

Why a separate tiny program rather than Popen(preexec_fn=...): the agent runs commands from worker
threads, and Python documents preexec_fn as unsafe in a process with threads (the forked child may
deadlock before exec). This script runs single-threaded, uses only the standard library (-I -S:
no site-packages, no environment) and costs about 10 ms per command.
"""

import ctypes
import os
import sys

PR_SET_PDEATHSIG = 1
# Exit codes when the command never started (the shell's conventions: 126 cannot run, 127 not found).
CANNOT_RUN = 126
NOT_FOUND = 127


def main(argv: list[str]) -> int:
    parent, signum, executable, command = int(argv[1]), int(argv[2]), argv[3], argv[4:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        sys.stderr.write(f"backup-agent: cannot tie {command[0]} to the agent's life (prctl: {os.strerror(error)})\n")
        return CANNOT_RUN
    if os.getppid() != parent:
        # The agent died before the request above was in place: nobody would ever stop the command.
        return CANNOT_RUN
    try:
        os.execv(executable, command)
    except FileNotFoundError:
        sys.stderr.write(f"backup-agent: {command[0]}: not found\n")
        return NOT_FOUND
    except OSError as error:
        sys.stderr.write(f"backup-agent: cannot run {command[0]}: {error.strerror}\n")
        return CANNOT_RUN
    return CANNOT_RUN  # not reached: execv returns only by raising


if __name__ == "__main__":
    sys.exit(main(sys.argv))
