"""Restore tests and drills: bring back a sample (or all) of a copy's newest backup into a private
scratch directory, prove the content with SHA-256, time it, and project the full restore time.

- listing.py: what the backup holds (the newest snapshot's files, or a plain copy's);
- plan.py: which files are restored and how (the sample, what the primary can vouch for);
- restoring.py: the restore into scratch and the hashes of what came back;
- judge.py: the content verdict, in small steps (primary, restic --verify, the copy's own hash);
- project.py: the full restore time projected from the measured one, against the RTO;
- run.py: restore_and_verify, the order of it all.

restic's own `--verify` (a second read of everything restored) runs only when some restored file
cannot be held against the primary; a mismatch about to be blamed on the source is first
confirmed by restoring that file again with `--verify`.

The restic and target adapters are the only doors out; checks/restore_test.py and agent/drill.py
are the two callers.
"""

from agent.restore.listing import LISTING_SIZE_SOURCE, list_backup
from agent.restore.model import BackupListing, NothingToRestore, RestoreOutcome
from agent.restore.plan import RECENT_SHARE, choose_sample
from agent.restore.project import STATS_SIZE_SOURCE
from agent.restore.run import restore_and_verify

__all__ = [
    "LISTING_SIZE_SOURCE",
    "RECENT_SHARE",
    "STATS_SIZE_SOURCE",
    "BackupListing",
    "NothingToRestore",
    "RestoreOutcome",
    "choose_sample",
    "list_backup",
    "restore_and_verify",
]
