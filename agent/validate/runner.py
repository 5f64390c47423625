"""Running a dataset's validators on a restored tree: which backed-up files they need (restored
with every sample, so a validator never looks at a file that was not restored), where each may
work (a private scratch directory of its own, beside the restore's), and each verdict.

A validator that cannot run is an error, never a pass; a validator that ran and found the data
wrong is a fail, naming what.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.errors import CommandTimeout
from agent.hashing import FileEntry
from agent.models import Status
from agent.scratch import ScratchDir, ScratchError
from agent.validate import archive, command, postgres_dump, sqlite
from agent.validate.model import Validation, ValidatorSpec, Verdict
from agent.validate.pg_cluster import Deadline
from agent.validate.sandbox import CannotRun, Identity, identity, unreachable_parent

log = logging.getLogger(__name__)
TYPES = (postgres_dump.ID, sqlite.ID, archive.ID, command.ID)
# Room a throwaway cluster takes beyond the restored database (initdb's files, WAL).
CLUSTER_BYTES = 64 * 2**20
CLUSTER_FACTOR = 3  # a restored database is larger than its (compressed) dump


@dataclass(frozen=True)
class Place:
    """Where validators may make their own directories: the scratch base, a label, and the paths
    no scratch directory may overlap (agent.scratch.ScratchDir)."""

    base: Path
    label: str
    protected: tuple[str, ...] = ()


def matching(spec: ValidatorSpec, entries: dict[str, FileEntry]) -> list[str]:
    """The backed-up files a validator reads: every match of its path glob (`*` crosses `/`), or
    for postgres-dump the newest match only (daily dumps pile up; the newest is the one restored)."""
    if not spec.path:
        return []
    found = sorted(p for p in entries if fnmatch.fnmatchcase(p, spec.path))
    if spec.type == postgres_dump.ID and found:
        return [max(found, key=lambda p: (entries[p].mtime, p))]
    return found


def needed_files(specs: Iterable[ValidatorSpec], entries: dict[str, FileEntry]) -> list[str]:
    """Every backed-up file some validator reads, for the restore sample."""
    return sorted({p for spec in specs for p in matching(spec, entries)})


def run_validators(specs: Iterable[ValidatorSpec], root: Path, entries: dict[str, FileEntry],
                   place: Place) -> Validation:
    """Run every validator on the tree restored at root (entries: what the backup holds)."""
    started = time.monotonic()
    verdicts = []
    for spec in specs:
        verdicts += _run(spec, root, entries, place)
    return Validation(verdicts, time.monotonic() - started)


def _run(spec: ValidatorSpec, root: Path, entries: dict[str, FileEntry], place: Place) -> list[Verdict]:
    deadline = Deadline(spec.timeout_seconds)
    if spec.type == command.ID:
        return [_guarded(spec, lambda: _command(spec, root, place, deadline))]
    files = matching(spec, entries)
    if not files:
        return [Verdict(spec.label, Status.FAIL, f"no file of the backup matches {spec.path}")]
    verdicts = []
    for relpath in files:
        path = root / relpath
        if not path.exists():
            verdicts.append(Verdict(spec.label, Status.FAIL, f"{relpath} was not restored"))
        elif spec.type == postgres_dump.ID:
            verdicts.append(_guarded(spec, lambda p=path: _postgres(spec, p, place, deadline)))
        elif spec.type == sqlite.ID:
            verdicts.append(_guarded(spec, lambda p=path: sqlite.validate(spec, p, deadline)))
        else:
            verdicts.append(_guarded(spec, lambda p=path: archive.validate(spec, p, deadline)))
    return verdicts


def _guarded(spec: ValidatorSpec, work) -> Verdict:
    """One validator's verdict; what kept it from deciding is an error, never a pass."""
    try:
        return work()
    except CannotRun as error:
        return Verdict(spec.label, Status.ERROR, str(error))
    except CommandTimeout:
        return Verdict(spec.label, Status.ERROR, f"timed out after {spec.timeout_seconds:g}s")
    except ScratchError as error:
        return Verdict(spec.label, Status.ERROR, f"no room to validate: {error}")
    except Exception as error:  # noqa: BLE001 - a validator that crashed decided nothing
        log.exception("validator %s crashed", spec.label)
        return Verdict(spec.label, Status.ERROR, f"crashed: {type(error).__name__}: {error}")


def _command(spec: ValidatorSpec, root: Path, place: Place, deadline: Deadline) -> Verdict:
    with ScratchDir(place.base, f"cmd-{place.label}", 0, place.protected) as home:
        return command.validate(spec, root, home, deadline)


def _postgres(spec: ValidatorSpec, dump: Path, place: Place, deadline: Deadline) -> Verdict:
    who = identity(spec.run_as, needs_unprivileged=os.geteuid() == 0)
    payload = CLUSTER_BYTES + CLUSTER_FACTOR * dump.stat().st_size
    with ScratchDir(place.base, f"pg-{place.label}", payload, place.protected) as work:
        cluster = work / "pg"
        cluster.mkdir(mode=0o700)
        who.give(cluster)
        _open_path(work, who)
        return postgres_dump.validate(spec, dump, cluster, who, deadline, spec.bin_dir)


def _open_path(work: Path, who: Identity) -> None:
    """Let the cluster's user reach its directory: the validator's own directory and the agent's
    scratch base get search permission for others (no listing: each restore directory in the base
    stays 0700). A directory above them that is closed is the operator's to open. Raise CannotRun."""
    if not who.switch:
        return
    for directory in (work, work.parent):
        info = directory.stat()
        if info.st_uid == os.geteuid() and not info.st_mode & stat.S_IXOTH:
            os.chmod(directory, stat.S_IMODE(info.st_mode) | stat.S_IXOTH)
            if directory == work.parent:
                log.info("gave others search permission on the scratch base %s (the PostgreSQL server runs as %s)",
                         directory, who.name)
    closed = unreachable_parent(work / "pg", who)
    if closed is not None:
        raise CannotRun(f"the PostgreSQL server runs as {who.name}, who cannot reach {closed}: give it search "
                        f"permission (chmod o+x {closed}) or choose an agent.scratch_dir below open directories")
