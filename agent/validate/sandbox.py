"""Who a validator's commands run as, and with what environment.

Environment: nothing of the agent's own, so no secret (restic passwords, S3 keys, PG* variables,
a notification URL) can reach a command that reads restored data — only PATH, a C.UTF-8 locale,
UTC and a private HOME/TMPDIR.

User: the PostgreSQL server refuses to run as root, and restored data is not to be trusted with
root anyway. As root, the validators that need it run their commands through `setpriv` as
`run_as` (default: the service user `backup-agent` of the systemd units, when it exists), with
no supplementary groups and no new privileges; as any other user they run as that user, and a
`run_as` naming someone else cannot be honoured (an error, never a silent root run).
"""

from __future__ import annotations

import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

SERVICE_USER = "backup-agent"
SETPRIV = "setpriv"


class CannotRun(Exception):
    """A validator could not run (tool missing, no unprivileged user, a directory out of reach):
    its verdict is error, never pass."""


@dataclass(frozen=True)
class Identity:
    """The user a validator's commands run as; `switch` when that means leaving root."""

    name: str
    uid: int
    gid: int
    switch: bool

    def wrap(self, argv: list[str]) -> list[str]:
        """The command line that runs argv as this user (setpriv when switching away from root)."""
        if not self.switch:
            return argv
        # --pdeathsig keep: changing the uid clears the parent-death signal agent.execute set up.
        return [SETPRIV, f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--no-new-privs",
                "--pdeathsig", "keep", "--", *argv]

    def give(self, path: Path) -> None:
        """Make path (a directory the agent just created) this user's."""
        if self.switch:
            os.chown(path, self.uid, self.gid)


def identity(run_as: str | None, *, needs_unprivileged: bool) -> Identity:
    """Given a validator's run_as, return who its commands run as. Raise CannotRun."""
    me = pwd.getpwuid(os.geteuid())
    if os.geteuid() != 0:
        if run_as not in (None, me.pw_name):
            raise CannotRun(f"run_as {run_as!r} cannot be honoured: the agent runs as {me.pw_name}, not root "
                            "(leave run_as out to run as the agent's own user)")
        return Identity(me.pw_name, me.pw_uid, me.pw_gid, False)
    name = run_as
    if name is None and needs_unprivileged:
        name = SERVICE_USER
    if name is None:
        return Identity(me.pw_name, 0, me.pw_gid, False)
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        hint = (" (the service user of the systemd units; create it, or set run_as to an unprivileged user "
                "that owns nothing else)") if run_as is None else ""
        raise CannotRun(f"the agent runs as root and this validator needs an unprivileged user, but user "
                        f"{name!r} does not exist{hint}") from None
    if user.pw_uid == 0:
        raise CannotRun(f"run_as {name!r} is root; name an unprivileged user")
    return Identity(name, user.pw_uid, user.pw_gid, True)


def environment(home: Path) -> tuple[dict[str, str], list[str]]:
    """The environment of a validator's commands: (variables to set, the agent's variables to drop)."""
    env = {"PATH": os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "TZ": "UTC", "HOME": str(home), "TMPDIR": str(home)}
    return env, [name for name in os.environ if name not in env]


def unreachable_parent(path: Path, who: Identity) -> Path | None:
    """The first directory above path (path included) that `who` cannot search, or None."""
    if not who.switch:
        return None
    groups = {who.gid}  # setpriv --clear-groups: the primary group only
    for directory in [*reversed(path.parents), path]:
        info = directory.stat()
        if info.st_uid == who.uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return directory
    return None
