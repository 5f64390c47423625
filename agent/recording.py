"""Writing what a run found, and making sure beforehand that it can be written.

Before a run (or a drill) that will record: the state directory has room (a night is not spent
verifying what cannot be recorded), and the records store still reaches the chain head remembered
outside it — a store emptied, replaced or cut short is refused, so a new chain never starts
silently. After it: state.json is staged first, then the records are appended in one transaction,
then state.json is put in place; a full disk at any step leaves all of them as they were. A drill's
QEF-19-03 record is appended to the same chain.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import chain_head, interrupt, space
from agent.config import Config
from agent.errors import ChainGapError, StoreUnreadable
from agent.models import RunResult
from agent.records import RecordStore, drill_row, rows_for_run

if TYPE_CHECKING:
    from agent.drill import DrillResult

log = logging.getLogger(__name__)
ACCEPT_FLAG = "--accept-new-chain"


def records_place(config: Config) -> str:
    """How messages name the records store's directory."""
    return "state directory" if config.agent.records_db.parent == config.agent.state_dir else "records directory"


def continuity_problem(path: Path) -> str | None:
    """Given the records store's path, say why appending to it would hide lost records, or None.
    Never creates or writes the store. Raise StoreUnreadable when it cannot be read."""
    if not path.exists():
        return chain_head.continuity_problem(path, None, lambda number: None)
    try:
        with RecordStore(path, readonly=True) as store:
            return store.continuity_problem()
    except sqlite3.DatabaseError as error:  # damaged beyond opening: that is what `records verify` is for
        raise StoreUnreadable(f"the records store {path} cannot be opened ({error}); see `backup-agent records "
                              "verify`") from error


def missing_store_problem(path: Path, anchors: list[chain_head.Anchor]) -> str | None:
    """Given a records store path with no file, say what remembers records in it (then the chain is
    broken), or None (nothing was recorded yet)."""
    try:
        remembered = [*chain_head.remembered(path), *anchors]
    except chain_head.HeadUnreadable as error:
        return f"the records store {path} does not exist and {error}"
    if not remembered:
        return None
    newest = max(remembered, key=lambda a: a.record_no)
    return f"the records store {path} does not exist, but the {newest.source} says the chain reached #{newest.record_no}"


def preflight(config: Config, *, write_records: bool, accept_new_chain: bool = False) -> str | None:
    """Before a run: room on the state directory (and the records store's), and a store that reaches
    its remembered head. Return the continuity problem the operator accepted (None when there is
    none). Raise NoSpaceError, ChainGapError, StoreUnreadable; nothing is written either way."""
    space.require_room(config.agent.state_dir, "the hash cache, state.json and restic's cache")
    if not write_records:
        return None
    path = config.agent.records_db
    if records_place(config) != "state directory":
        space.require_room(path.parent, "the QEF-19-05 records", "records directory")
    problem = continuity_problem(path)
    if problem and not accept_new_chain:
        raise ChainGapError(
            f"{problem}.\nRefusing to run: nothing was checked or written (no records, metrics or state). "
            "`backup-agent records verify` shows what is missing. Put the store back from a backup if there is one; "
            f"then, once what is still missing is understood, run `backup-agent verify {ACCEPT_FLAG}` to continue "
            f"from what the store holds (the acceptance is logged in {chain_head.log_path(path)} and in the run's "
            "record).")
    if problem:
        log.warning("continuing although %s (%s given)", problem, ACCEPT_FLAG)
    return problem


def record_run(config: Config, run: RunResult, accepted: str | None = None) -> tuple[int, int]:
    """Append the run's records and save its state, all or nothing. Return (first, last) record number.
    Raise NoSpaceError (nothing written), ChainGapError, AgentError."""
    rows = rows_for_run(run)
    reason = None
    if accepted:
        reason = f"{config.agent.operator} ran verify {ACCEPT_FLAG}"
        rows[-1]["detail"] = f"{rows[-1]['detail']}; new records chain accepted ({reason}): {accepted}"
    staged = run.state.stage() if run.state is not None else None
    try:
        with interrupt.deferred(), RecordStore(config.agent.records_db, place=records_place(config)) as store:
            first, last = store.append(rows, accept_new_chain=reason)
            appended = store.last_appended
    except BaseException:
        if staged is not None:
            staged.discard()
        raise
    if staged is not None:
        staged.install()
    if appended is not None:
        run.last_record_no, run.last_record_hash = appended
    log.info("records %d-%d written to %s", first, last, config.agent.records_db)
    return first, last


def record_drill(config: Config, result: DrillResult) -> dict[str, Any]:
    """Append the drill's QEF-19-03 record to the chain; return the row with its record_no.
    Raise NoSpaceError (nothing written), ChainGapError, AgentError."""
    row = drill_row(result, config.agent.host, config.agent.operator)
    with interrupt.deferred(), RecordStore(config.agent.records_db, place=records_place(config)) as store:
        number, _ = store.append([row])
    log.info("drill record %d written to %s", number, config.agent.records_db)
    return {**row, "record_no": number}


def record_rows(config: Config, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Append records made outside a run or a drill (an operator's anomaly acceptance) to the chain,
    in one transaction. Return (first, last) record number. Raise NoSpaceError (nothing written),
    ChainGapError, AgentError."""
    with interrupt.deferred(), RecordStore(config.agent.records_db, place=records_place(config)) as store:
        first, last = store.append(rows)
    log.info("records %d-%d written to %s", first, last, config.agent.records_db)
    return first, last
