"""What the parts of a restore test hand each other: the backup's listing and the outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.hashing import FileEntry
from agent.models import Status
from agent.names import scrub
from agent.restic import Snapshot
from agent.validate.model import Validation


class NothingToRestore(Exception):
    """The copy has no backup of this dataset to restore (fail), or which one is unknown (error)."""

    def __init__(self, message: str, status: Status):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class BackupListing:
    """What the backup itself says it holds: files with the size and mtime it recorded."""

    entries: dict[str, FileEntry]
    full_size: int
    overhead_seconds: float
    source: str
    snapshot: Snapshot | None = None
    # Where the backed-up directory sits inside the snapshot: restic stores the absolute path it was
    # given, or only its last component when it was given a relative one ("/data/"); restores land
    # at DIR + this prefix.
    root_prefix: str = "/"
    size_source: str = "listing"


@dataclass
class RestoreOutcome:
    status: Status
    detail: str
    measured: dict[str, Any] = field(default_factory=dict)
    verified: list[str] = field(default_factory=list)  # relpaths whose content was proven
    # Every restored file proven, whatever the projection said (a drill judges its actual time instead).
    content_ok: bool = False
    backup_files: frozenset[str] = frozenset()  # every file the backup holds (for rotation state)
    # The dataset's validators on the restored tree (agent.validate): None when the dataset has none;
    # a string says why they did not run although it has some (the restore did not bring the data back).
    validation: Validation | str | None = None

    def __post_init__(self) -> None:
        # A drill records this detail as it is: a name in a tool's message is shown as CheckResult does.
        self.detail = scrub(self.detail)
