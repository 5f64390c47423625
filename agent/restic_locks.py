"""Moved to agent.restic.locks; kept so that callers importing agent.restic_locks (agent/run.py)
keep working until they import from there."""

from agent.restic.locks import LEDGER_NAME, ChildLedger, Holder, ResticLock, removal_note

__all__ = ["LEDGER_NAME", "ChildLedger", "Holder", "ResticLock", "removal_note"]
