"""`backup-agent anomaly accept`: an operator says a suspect backup's mass change was legitimate
(a reorganisation, an import, a format conversion). One QEF-19-05 record per accepted copy (kind
`acceptance`, check `anomaly`, result `accepted`) names who accepted it, why, which backup and the
numbers it was suspected for; only then does the state file make that backup the copy's last
clean one, so the next run passes and later runs compare with it. Its change rate stays out of
the baseline. The caller holds the run lock (a run in progress would write the state file over).
"""

from __future__ import annotations

import getpass
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

from agent import recording
from agent.anomaly.state import Backup, CopyState
from agent.clock import iso, now
from agent.config import Config, CopySpec, Dataset
from agent.names import scrub
from agent.records import FORM_VERIFICATION
from agent.state import StateStore

MAX_REASON_CHARS = 1000


class NothingToAccept(Exception):
    """No copy of the dataset holds a suspect backup (or the reason is empty)."""


@dataclass(frozen=True)
class Accepted:
    spec: CopySpec
    backup: Backup
    record_no: int


def who() -> str:
    """The login that ran the command (the sudo caller when run through sudo)."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def accept(config: Config, dataset: Dataset, reason: str, targets: tuple[str, ...] = ()) -> list[Accepted]:
    """Record the acceptance of every suspect backup of the dataset (on the given targets), then make
    each the copy's last clean backup. Raise NothingToAccept, or what recording raises (nothing
    accepted then)."""
    reason = scrub(" ".join(reason.split()))[:MAX_REASON_CHARS]
    if not reason:
        raise NothingToAccept("--reason must say why the change is legitimate")
    store = StateStore(config.agent.state_dir / "state.json")
    pending = [(spec, state) for spec in dataset.copies
               if (not targets or spec.target.name in targets)
               and (state := CopyState.load(store, spec.key)).suspect]
    if not pending:
        where = f" on {', '.join(targets)}" if targets else ""
        raise NothingToAccept(f"no backup of {dataset.name}{where} is suspect; nothing to accept (nothing recorded)")
    by, at = who(), iso(now())
    rows = [_row(config, dataset, spec, state, by, reason, at) for spec, state in pending]
    first = recording.record_rows(config, rows).first
    accepted = []
    for number, (spec, state) in enumerate(pending, first):
        accepted.append(Accepted(spec, state.accept(by, reason, at, number), number))
        state.save(store, spec.key)
    store.save()
    return accepted


def _row(config: Config, dataset: Dataset, spec: CopySpec, state: CopyState, by: str, reason: str,
         at: str) -> dict[str, Any]:
    suspect = state.suspect or {}
    backup = Backup.from_json(suspect.get("backup"))
    measured = {"accepted_by": by, "reason": reason, "backup": backup.label, "backup_id": backup.id,
                "backup_at": backup.time, "findings": suspect.get("findings", []),
                "score": (suspect.get("measured") or {}).get("score"), "suspect_since": suspect.get("since"),
                "previous_clean_backup": state.clean.label if state.clean else None}
    return {
        "form": FORM_VERIFICATION, "run_id": str(uuid.uuid4()), "recorded_at": at, "kind": "acceptance",
        "dataset": dataset.name, "process": dataset.process.name, "target": spec.target.name, "role": spec.role,
        "form_of_copy": spec.form, "medium": spec.target.medium, "location": spec.target.location,
        "check_name": "anomaly", "result": "accepted",
        "detail": f"mass change in {backup.label} accepted by {by}: {reason} (suspect for: "
                  f"{'; '.join(suspect.get('findings', []))})",
        "last_backup_at": backup.time, "rpo_seconds": dataset.process.rpo_seconds,
        "rto_seconds": dataset.process.rto_seconds,
        "measured": json.dumps(measured, ensure_ascii=False, sort_keys=True),
        "tool_versions": json.dumps({"backup-agent": _version()}, sort_keys=True),
        "agent_host": config.agent.host, "operator": config.agent.operator,
    }


def _version() -> str:
    from agent import __version__

    return __version__
