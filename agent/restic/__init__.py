"""The restic adapter, the agent's one door to restic (run as a subprocess, never reimplemented).

- commands.py: the command lines, one pure builder per restic command;
- parse.py: restic's output read by pure functions (snapshots, times, listings, failed files);
- failure.py: a failure classified from stderr (restic 0.14 has no distinct exit codes);
- repository.py: ResticRepository, which runs them through agent.execute;
- locks.py: restic's repository locks, and which stale ones this agent may remove.
"""

from agent.restic.commands import AMBIENT_RESTIC_VARIABLES, RESTIC, include_pattern, restore_arguments
from agent.restic.failure import NO_SPACE_LINE, ResticError, ResticFailure, classify, only_pack_content_errors
from agent.restic.parse import (
    REPLACEMENT,
    Snapshot,
    failed_files,
    parse_ls,
    parse_time,
    select_snapshots,
    with_raw_paths,
)
from agent.restic.repository import ResticRepository, version

__all__ = [
    "AMBIENT_RESTIC_VARIABLES",
    "NO_SPACE_LINE",
    "REPLACEMENT",
    "RESTIC",
    "ResticError",
    "ResticFailure",
    "ResticRepository",
    "Snapshot",
    "classify",
    "failed_files",
    "include_pattern",
    "only_pack_content_errors",
    "parse_ls",
    "parse_time",
    "restore_arguments",
    "select_snapshots",
    "version",
    "with_raw_paths",
]
