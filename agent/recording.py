"""Writing what a run found, and making sure beforehand that it can be written.

Before a run (or a drill) that will record: the state directory has room (a night is not spent
verifying what cannot be recorded), and the records store still reaches the chain head remembered
outside it — a store emptied, replaced or cut short is refused, so a new chain never starts
silently. After it: state.json is staged first, then the records are appended in one transaction,
then state.json is put in place; a full disk at any step leaves all of them as they were. A drill's
QEF-19-03 record is appended to the same chain.

With a shared store (agent.records_db a postgresql:// URL) the local store is the outbox: the
records are appended there exactly as above and then delivered (agent.records.outbox). A shared
store that cannot be reached, or refuses them, delays them — a warning, the run's verdict and exit
code stay as they are — and the next run or `records sync` delivers them with the same numbers
and hashes.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import chain_head, interrupt, space
from agent.config import Config
from agent.errors import AgentError, ChainGapError, StoreUnreadable
from agent.models import RunResult
from agent.records import AgentHead, RecordStore, drill_row, rows_for_run

if TYPE_CHECKING:
    from agent.drill import DrillResult
    from agent.records.outbox import Delivery
    from agent.records.shared import SharedStore

log = logging.getLogger(__name__)
ACCEPT_FLAG = "--accept-new-chain"


@dataclass(frozen=True)
class Recorded:
    """What recording did: the local record numbers written, the delivery to the shared store
    (None without one), and this agent's head in its store of record afterwards — the shared
    store's once delivered (None while records wait in the outbox), else the local store's. The
    head is what an anchor outside every host remembers."""

    first: int
    last: int
    delivery: Delivery | None = None
    head: AgentHead | None = None

    @property
    def warning(self) -> str | None:
        """Why records wait in the outbox, for the run's warnings (None when all were delivered)."""
        delivery = self.delivery
        if delivery is None or delivery.problem is None:
            return None
        return (f"{delivery.pending} records of agent {delivery.agent} wait in the outbox (STATE_DIR/records.sqlite) "
                f"for the shared store: {delivery.problem}; the next run or `backup-agent records sync` delivers them")


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


def local_store(config: Config, *, readonly: bool = False) -> RecordStore:
    """The agent's local store (the outbox when there is a shared store), as this agent opens it."""
    return RecordStore(config.agent.records_db, readonly=readonly, place=records_place(config),
                       agent=config.agent.name or None)


def shared_store(config: Config) -> SharedStore:
    """A connection to the shared store. Raise Unreachable, SharedStoreError."""
    from agent.records.shared import SharedStore

    assert config.agent.records_url
    return SharedStore(config.agent.records_url, password_file=config.agent.records_password_file,
                       agent=config.agent.name)


def deliver(config: Config, local: RecordStore) -> Delivery:
    """Deliver what local holds and the shared store lacks. A store unreachable or refusing is a
    Delivery with its problem (records stay pending), never an exception."""
    from agent.records import outbox
    from agent.records.shared import DeliveryConflict, SharedStoreError, display_url
    from agent.records.sqlite_schema import SchemaTooNew

    store = display_url(config.agent.records_url or "")
    try:
        with shared_store(config) as shared:
            return outbox.deliver(local, shared)
    except (SharedStoreError, SchemaTooNew) as error:
        pending = outbox.undelivered(local, store)
        log.warning("records not delivered to %s: %s", store, error)
        return outbox.Delivery(store, local.agent, 0, pending, None, str(error), isinstance(error, DeliveryConflict))


def _recorded(config: Config, local: RecordStore, first: int, last: int) -> Recorded:
    if not config.agent.records_url:
        return Recorded(first, last, None, local.head())
    delivery = deliver(config, local)
    return Recorded(first, last, delivery, delivery.head if delivery.problem is None else None)


def record_run(config: Config, run: RunResult, accepted: str | None = None) -> Recorded:
    """Append the run's records and save its state, all or nothing, then deliver them when there is
    a shared store. Return what was recorded. Raise NoSpaceError (nothing written), ChainGapError,
    AgentError (a delivery that fails only leaves the records pending)."""
    rows = rows_for_run(run)
    reason = None
    if accepted:
        reason = f"{config.agent.operator} ran verify {ACCEPT_FLAG}"
        rows[-1]["detail"] = f"{rows[-1]['detail']}; new records chain accepted ({reason}): {accepted}"
    staged = run.state.stage() if run.state is not None else None
    try:
        with interrupt.deferred(), local_store(config) as store:
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
    with local_store(config) as store:
        recorded = _recorded(config, store, first, last)
    run.records_undelivered = recorded.delivery.pending if recorded.delivery else 0
    return recorded


def record_drill(config: Config, result: DrillResult) -> tuple[dict[str, Any], Recorded]:
    """Append the drill's QEF-19-03 record to the chain (and deliver it, with a shared store);
    return the row with its record_no, and what was recorded. Raise NoSpaceError (nothing
    written), ChainGapError, AgentError."""
    row = drill_row(result, config.agent.host, config.agent.operator)
    recorded = record_rows(config, [row])
    log.info("drill record %d written to %s", recorded.last, config.agent.records_db)
    return {**row, "record_no": recorded.last, "agent": config.agent.name, "seq": recorded.last}, recorded


def record_rows(config: Config, rows: list[dict[str, Any]]) -> Recorded:
    """Append rows to this agent's chain in one transaction, then deliver them when there is a
    shared store. Raise NoSpaceError (nothing written), ChainGapError, AgentError."""
    with interrupt.deferred(), local_store(config) as store:
        first, last = store.append(rows)
    with local_store(config) as store:
        return _recorded(config, store, first, last)


def agent_head(config: Config) -> AgentHead | None:
    """This agent's newest record in its store of record: the shared store's when there is one (its
    head after the last delivery), else the local store's; None when it holds none. Raise
    Unreachable or SharedStoreError when the shared store cannot tell."""
    if config.agent.records_url:
        with shared_store(config) as shared:
            return shared.head(config.agent.name)
    if not Path(config.agent.records_db).exists():
        return None
    with local_store(config, readonly=True) as store:
        return store.head()


def sync(config: Config) -> Delivery:
    """`records sync`: deliver every pending record now. Raise AgentError when there is no shared
    store, SharedStoreError (Unreachable, DeliveryConflict) when delivery fails."""
    from agent.records import outbox

    if not config.agent.records_url:
        raise AgentError("agent.records_db is not a shared store (postgresql://…): there is nothing to deliver to")
    with local_store(config) as local, shared_store(config) as shared:
        return outbox.deliver(local, shared)
