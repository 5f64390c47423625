"""The latest verification of every copy, read from the records store, and the copies a run credits
from them (agent.credit decides what each counts for).

Read from the shared store when there is one (every agent's records) and from this agent's local
store (its own records, delivered or still waiting in the outbox); the newer wins. Only `copy`
records count as verifications: a credited copy is recorded as `credit`, so a credit is never
taken for a verification and can never extend itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agent import credit
from agent.config import Config, CopySpec, Dataset
from agent.models import CheckResult, CopyResult, Status

log = logging.getLogger(__name__)
# How far back beyond the longest credit a verification is looked for: enough to say "not seen for 40 days".
LOOKBACK_BEYOND_CREDIT = timedelta(days=30)
CopyKey = tuple[str, str, str, str]  # dataset, target, role, copy form


def copy_key(spec: CopySpec) -> CopyKey:
    return (spec.dataset, spec.target.name, spec.role, spec.form)


@dataclass
class Verifications:
    """The latest verification per copy; `unreadable` says why other agents' records could not be read."""

    latest: dict[CopyKey, credit.Verification] = field(default_factory=dict)
    by_copy: dict[str, credit.Verification] = field(default_factory=dict)  # by CopySpec.key
    unreadable: str | None = None
    # Each agent's latest run (fleet status): a Verification of the `run` record.
    runs: dict[str, credit.Verification] = field(default_factory=dict)
    source: str = ""  # the stores read, for messages

    def take(self, rows) -> None:
        for row in rows:
            verification = _verification(row)
            if verification is None:
                continue
            if row.get("kind") == "run":
                _keep_newer(self.runs, verification.agent, verification)
            elif row.get("target") and row.get("dataset"):
                _keep_newer(self.latest, (row["dataset"], row["target"], row["role"], row["form_of_copy"]),
                            verification)
                named = _copy_named(row.get("measured"))
                if named:
                    _keep_newer(self.by_copy, named, verification)

    def latest_of(self, dataset: Dataset, spec: CopySpec) -> credit.Verification | None:
        """The copy's latest verification: by its key (dataset, role and position, target); a record
        that names no copy (written before it did) only when no other copy of the dataset shares the
        copy's target, role and form — never another copy's verdict."""
        if spec.key in self.by_copy:
            return self.by_copy[spec.key]
        alike = [c for c in dataset.all_copies if copy_key(c) == copy_key(spec)]
        return self.latest.get(copy_key(spec)) if len(alike) == 1 else None


def _copy_named(measured: Any) -> str | None:
    """The copy key a `copy` record names in its measured values, if any."""
    import json

    if not isinstance(measured, str) or '"copy"' not in measured:
        return None
    try:
        named = json.loads(measured).get("copy")
    except (ValueError, AttributeError):
        return None
    return named if isinstance(named, str) else None


def _keep_newer(held: dict, key: Any, verification: credit.Verification) -> None:
    old = held.get(key)
    if old is None or (verification.recorded_at, verification.seq or 0) > (old.recorded_at, old.seq or 0):
        held[key] = verification


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _verification(row: dict[str, Any]) -> credit.Verification | None:
    recorded = _time(row.get("recorded_at"))
    if recorded is None:
        return None
    return credit.Verification(row.get("agent") or "", row.get("seq"), recorded, str(row.get("result")),
                               _time(row.get("last_backup_at")), row.get("run_id"))


def read(config: Config, now: datetime, *, kinds: tuple[str, ...] = ("copy",), strict: bool = False) -> Verifications:
    """Every copy's latest verification (and with kinds including "run", every agent's latest run)
    in the stores this agent reads. A shared store that cannot be read is kept as `unreadable` (its
    copies are then errors), or raised with strict (AgentError)."""
    from agent import recording
    from agent.errors import AgentError
    from agent.records_url import display_url

    longest = max([config.credit_seconds(t) for t in config.targets.values()] or [0.0])
    since = now - timedelta(seconds=longest) - LOOKBACK_BEYOND_CREDIT
    found = Verifications()
    sources = []
    if config.agent.records_url:
        sources.append(display_url(config.agent.records_url))
        try:
            with recording.shared_store(config) as shared:
                for kind in kinds:
                    found.take(shared.rows(since=since, kind=kind))
        except AgentError as error:
            if strict:
                raise
            log.warning("cannot read other agents' verifications: %s", error)
            found.unreadable = str(error)
    if Path(config.agent.records_db).exists():
        sources.append(str(config.agent.records_db))
        with recording.local_store(config, readonly=True) as store:
            for kind in kinds:
                found.take(store.rows(since=since, kind=kind))
    found.source = " and ".join(sources) or "no records store yet"
    return found


def needs_credit(config: Config, spec: CopySpec, verified: CopyResult | None) -> bool:
    """Whether a copy counts from its last verification: another agent's, or a removable disk of
    this agent's found unplugged."""
    return not config.is_mine(spec.target) or (verified is not None and is_offline(spec, verified))


def is_offline(spec: CopySpec, copy: CopyResult) -> bool:
    """A removable disk whose path is on no mounted disk (not a missing path on a mounted one)."""
    if not spec.target.removable:
        return False
    reachable = next((c for c in copy.checks if c.name == "reachable"), None)
    return reachable is not None and reachable.status != Status.PASS and reachable.detail.startswith(credit.NOT_MOUNTED)


def credited_copy(config: Config, dataset: Dataset, spec: CopySpec, found: Verifications, now: datetime,
                  probe: CopyResult | None = None, fleet_view: bool = False) -> CopyResult:
    """Given a copy this run did not verify (probe: what this run saw of an unplugged disk), return
    its result from its latest verification. fleet_view: judged from the store alone (fleet status)."""
    owner = config.owner(spec.target)
    offline = probe is not None
    what = spec.target.name if spec.role == "backup" else f"{spec.target.name} ({spec.role})"
    if not offline:
        what += f" (agent {owner})"
    mine = owner == config.agent.name and not fleet_view
    decided = credit.judge(found.latest_of(dataset, spec), now=now, credit_seconds=config.credit_seconds(spec.target),
                           rpo_seconds=dataset.process.rpo_seconds, what=what, offline=offline,
                           unreadable=None if mine else found.unreadable,
                           live_source=spec.role == "primary" and not spec.stamp)
    status = Status.PASS if decided.counted else Status.ERROR
    detail = decided.detail
    if probe is not None:
        reachable = next(c for c in probe.checks if c.name == "reachable")
        detail = f"{reachable.detail}; {detail}"
    verification = decided.verification
    result = CopyResult(spec, [CheckResult("credit", status, detail, {"credit": decided.to_json()})])
    result.credit = decided
    if verification is not None:
        result.last_backup_at = verification.last_backup_at
        result.age_seconds = decided.age_seconds
    return result
