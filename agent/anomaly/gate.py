"""The anomaly gate on one copy: the newest backup against the last clean one, and the verdict.

Order: nothing new since the last clean backup → pass; the newest is the one already found
suspect → fail again (the numbers as found; no restic call); otherwise compare it with the last
clean backup (or, the first time, with the snapshot before it), measure a sample, judge
(agent.anomaly.signals). A clean newest backup becomes the last clean one and its change rate
joins the baseline; a suspect one is remembered until a clean backup follows or an operator
accepts it (`backup-agent anomaly accept`). The first backup a copy shows has nothing before it:
`skip`, and it becomes the base of the next comparison.
"""

from __future__ import annotations

from typing import Any

from agent.anomaly.mirror_source import MirrorSource
from agent.anomaly.restic_source import ResticSource
from agent.anomaly.sampling import choose
from agent.anomaly.signals import judge
from agent.anomaly.state import Backup, CopyState
from agent.checking import CopyContext
from agent.clock import iso
from agent.errors import TargetUnavailable
from agent.models import CheckResult, Status
from agent.restic import ResticError
from agent.scratch import ScratchError

ID = "anomaly"


def evaluate(context: CopyContext) -> CheckResult:
    """The anomaly verdict on one backup copy. Never raises for a problem of the copy."""
    spec = context.dataset.anomaly
    if not spec.enabled:
        return CheckResult(ID, Status.SKIP, "anomaly.enabled is false for this dataset")
    state = CopyState.load(context.state, context.spec.key)
    try:
        source = ResticSource(context) if context.spec.form == "restic" else MirrorSource(context)
        newest = source.newest()
        if newest is None:
            return CheckResult(ID, Status.SKIP, "no backup of this dataset yet")
        result = _judge_newest(context, source, state, newest)
    except (ResticError, TargetUnavailable, ValueError) as error:
        return CheckResult(ID, Status.ERROR, f"cannot compare the backups: {error}", _last_clean(state.clean))
    except ScratchError as error:
        return CheckResult(ID, Status.ERROR, f"cannot measure the changed files: {error}", _last_clean(state.clean))
    state.save(context.state, context.spec.key)
    return result


def _judge_newest(context: CopyContext, source, state: CopyState, newest: Backup) -> CheckResult:
    clean = state.clean
    if clean is not None and clean.id == newest.id:
        return CheckResult(ID, Status.PASS, f"no new backup since {clean.describe()}",
                           {"score": 0.0, **_last_clean(clean)})
    suspect = state.suspect
    if suspect and suspect["backup"]["id"] == newest.id:
        return _suspect(context, suspect, clean, again=True)
    base = clean if clean is not None and source.has(clean) else None
    if clean is not None and base is None:
        if suspect:
            raise ValueError(f"the last clean backup, {clean.describe()}, is no longer in the copy while "
                             f"{suspect['backup']['label']} is suspect; restore from the newest clean copy elsewhere")
        state.clean = None  # pruned: the backup before the newest is the base, as the first time
    base = base or source.previous()
    spec = context.dataset.anomaly
    if base is None:
        state.clean = source.first_look(newest, spec)
        return CheckResult(ID, Status.SKIP, f"{source.first_look_note}: nothing to compare {newest.label} with; "
                                            "it is the base of the next comparison", _last_clean(state.clean))
    change, found = source.compare(base, newest)
    pairs = source.measure(base, newest, choose(found, spec))
    canaries, hashes = source.canaries(base, change, spec)
    judgement = judge(change, pairs, state.history, canaries, spec)
    remembered = source.remembered(newest, hashes, spec)
    if judgement.suspect:
        state.suspect = {"backup": remembered.to_json(), "since": (suspect or {}).get("since") or iso(context.now),
                         "findings": judgement.findings, "summary": judgement.summary, "measured": judgement.measured}
        if state.clean is None:  # the snapshot before the suspect one, never judged itself
            state.clean = base
        return _suspect(context, state.suspect, state.clean, again=False)
    state.judged_clean(remembered, judgement.measured["change_rate"])
    return CheckResult(ID, Status.PASS, f"{newest.label} against {base.describe()}: {judgement.summary}",
                       {**judgement.measured, **_last_clean(state.clean)})


def _suspect(context: CopyContext, suspect: dict[str, Any], clean: Backup | None, again: bool) -> CheckResult:
    backup = Backup.from_json(suspect["backup"])
    last = clean.describe() if clean else "none known"
    since = f"; suspect since {suspect['since']}" if again else ""
    detail = (f"suspect: {'; '.join(suspect['findings'])} — {backup.label} against the last clean backup "
              f"({suspect['summary']}){since}. Last known clean backup: {last}: restore from that one; if the "
              f"change is legitimate, `backup-agent anomaly accept {context.dataset.name} --reason TEXT`")
    return CheckResult(ID, Status.FAIL, detail, {**suspect["measured"], "suspect_backup": backup.label,
                                                 "suspect_since": suspect["since"], **_last_clean(clean)})


def _last_clean(clean: Backup | None) -> dict[str, Any]:
    if clean is None:
        return {}
    return {"last_clean_backup": clean.label, "last_clean_backup_id": clean.id, "last_clean_backup_at": clean.time,
            "last_clean_backup_timestamp": clean.timestamp, "last_clean_judged": bool(clean.extra.get("judged", True))}
