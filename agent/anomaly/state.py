"""What the anomaly check remembers per copy between runs, in STATE_DIR/state.json (section
"anomaly", agent.state: written with the run's records, never by a dry run):

- clean: the last backup judged clean (or accepted, or the first one seen: `judged` false), with
  its time; for a plain copy also its manifest (size, mtime and the measured head of each file)
  and the SHA-256 of its canaries;
- suspect: the newest backup found suspect, with the numbers, until a clean one follows or an
  operator accepts it (`backup-agent anomaly accept`), which makes it the clean one;
- history: the change rates of the last clean comparisons (the baseline).

Every run's numbers are also in its QEF-19-05 record (measured values of the `anomaly` check), so
the baseline can be rebuilt from the records; this file is the working copy, like the restore
test's rotation. Losing it costs one first look per copy (a `skip`) and the baseline's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.state import StateStore

SECTION = "anomaly"
HISTORY_KEPT = 1000


@dataclass(frozen=True)
class Backup:
    """One backup as the anomaly check names it: a snapshot id, or a plain copy's manifest digest."""

    id: str
    label: str  # "snapshot 1a2b3c4d", "files copy synced 2026-11-22T02:00:00Z"
    time: str | None  # ISO time of the backup
    extra: dict[str, Any] = field(default_factory=dict)  # manifest, canaries, accepted, judged

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "time": self.time, **self.extra}

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> Backup | None:
        if not raw:
            return None
        extra = {k: v for k, v in raw.items() if k not in ("id", "label", "time")}
        return cls(raw["id"], raw.get("label") or raw["id"], raw.get("time"), extra)

    @property
    def timestamp(self) -> float | None:
        return datetime.fromisoformat(self.time).timestamp() if self.time else None

    def describe(self) -> str:
        """"snapshot 1a2b3c4d (2026-11-22T02:00:00Z)", saying when it was never judged or was accepted."""
        text = f"{self.label} ({self.time or 'time unknown'})"
        accepted = self.extra.get("accepted")
        if accepted:
            text += f", accepted by {accepted.get('by')}: {accepted.get('reason')}"
        elif not self.extra.get("judged", True):
            text += ", the first backup this check saw, not judged itself"
        return text


@dataclass
class CopyState:
    clean: Backup | None
    suspect: dict[str, Any] | None
    history: list[float]

    @classmethod
    def load(cls, store: StateStore, key: str) -> CopyState:
        raw = store.get(SECTION, key) or {}
        return cls(Backup.from_json(raw.get("clean")), raw.get("suspect"), list(raw.get("history") or []))

    def save(self, store: StateStore, key: str) -> None:
        store.put(SECTION, key, {"clean": self.clean.to_json() if self.clean else None, "suspect": self.suspect,
                                 "history": self.history[-HISTORY_KEPT:]})

    def judged_clean(self, newest: Backup, rate: float) -> None:
        self.clean = Backup(newest.id, newest.label, newest.time, {**newest.extra, "judged": True})
        self.suspect = None
        self.history.append(round(rate, 6))

    def accept(self, by: str, reason: str, at: str, record_no: int | None) -> Backup:
        """The suspect backup becomes the clean one (its change stays out of the baseline). Return it."""
        suspect = self.suspect or {}
        backup = Backup.from_json(suspect.get("backup"))
        if backup is None:
            raise ValueError("no suspect backup to accept")
        self.clean = Backup(backup.id, backup.label, backup.time,
                            {**backup.extra, "judged": True,
                             "accepted": {"by": by, "reason": reason, "at": at, "record_no": record_no}})
        self.suspect = None
        return self.clean
