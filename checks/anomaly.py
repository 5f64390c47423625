"""anomaly: the newest backup of a copy against its last clean one — does it look like a mass
change (ransomware encrypting the primary, a runaway sync) rather than a normal day?

Compared: restic copies snapshot to snapshot (`restic diff`; the sampled files and their previous
versions restored into scratch), plain copies against the agent's own manifest of the copy at the
last clean run. Signals (thresholds under `anomaly:`, top level or per dataset): change rate
(files changed or removed) against a baseline of the copy's last clean runs (median + spread,
never below change_rate); entropy of a sample of changed files (first 64 KiB; formats compressed
anyway, told by magic bytes, left out) against their previous versions; files renamed to one new
extension; known ransom-note names; `canaries` that must never change.

pass: a normal change (the numbers are recorded; the backup becomes the last clean one). fail: a
suspect backup, with the numbers and the last known clean backup (snapshot id or sync time) to
restore from; it stays failed until a clean backup follows or `backup-agent anomaly accept
DATASET --reason TEXT` records that the change was legitimate. error: the backups could not be
compared or sampled. skip: the first backup a copy shows (nothing before it), or disabled."""

from __future__ import annotations

from agent.anomaly.gate import evaluate
from agent.checking import CopyContext
from agent.models import CheckResult

ID = "anomaly"
FORMS = ("files", "restic", "objects")
ROLES = ("backup",)


def run(context: CopyContext) -> CheckResult:
    return evaluate(context)
