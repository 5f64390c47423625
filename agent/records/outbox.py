"""Delivering an agent's records from its local store (the outbox) to the shared store.

Records are written locally first, numbered and hashed there; delivery copies them, in sequence
order, in batches of one transaction each, idempotently on (agent, seq). It starts from what the
shared store itself holds for the agent (its head), not from what the outbox remembers, so a
delivery cut short anywhere — the server gone, the agent killed before or after a commit — is
simply resumed: nothing is lost, nothing inserted twice, and every record keeps its number and
hash. The outbox notes how far each shared store got, for the undelivered-records metric when the
server cannot be asked.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from agent.records.chain import AgentHead
from agent.records.shared import DeliveryConflict, SharedStore
from agent.records.store import RecordStore

log = logging.getLogger(__name__)
BATCH = 500


@dataclass(frozen=True)
class Delivery:
    """What a delivery did: records delivered now, records still waiting, the agent's head in the
    shared store afterwards (None when unknown), and why it stopped short (None when complete)."""

    store: str
    agent: str
    delivered: int
    pending: int
    head: AgentHead | None = None
    problem: str | None = None
    conflict: bool = False

    @property
    def complete(self) -> bool:
        return self.problem is None and self.pending == 0


def deliver(local: RecordStore, shared: SharedStore, batch: int = BATCH) -> Delivery:
    """Deliver every record of local's agent that the shared store lacks. Return the Delivery.
    Raise DeliveryConflict when the two disagree, Unreachable or SharedStoreError when the shared
    store fails (what was committed before stays delivered)."""
    agent = local.agent
    shared.require_schema()
    head = shared.head(agent)
    start = _common_start(local, shared, head)
    delivered = 0
    if head is not None and local.delivered(shared.identity) != (head.seq, head.hash):
        local.mark_delivered(shared.identity, head.seq, head.hash)
    while chunk := list(local.records_after(start, limit=batch)):
        delivered += shared.deliver(chunk)
        start = chunk[-1]["seq"]
        last = chunk[-1]
        head = AgentHead(agent, last["seq"], last["hash"], last["recorded_at"])
        local.mark_delivered(shared.identity, head.seq, head.hash)
    if delivered:
        log.info("%d records of agent %s delivered to %s (up to #%d)", delivered, agent, shared.identity, head.seq)
    return Delivery(shared.identity, agent, delivered, 0, head)


def _common_start(local: RecordStore, shared: SharedStore, head: AgentHead | None) -> int:
    """The sequence number both hold the same record at, from which delivery continues."""
    if head is None:
        return 0
    mine = local.hash_at(local.agent, head.seq)
    if mine == head.hash:
        return head.seq
    newest = local.head()
    if mine is None:
        raise DeliveryConflict(
            f"the shared store {shared.identity} holds agent {local.agent!r}'s chain up to #{head.seq}, but this "
            f"agent's outbox {local.path} ends at #{newest.seq if newest else 0}: another machine uses the same "
            "agent.name, or this outbox was replaced (a reinstalled agent: move the outbox and its head files "
            "aside, then `backup-agent records init` takes the chain back). Nothing was delivered")
    raise DeliveryConflict(
        f"record #{head.seq} of agent {local.agent!r} differs between the shared store {shared.identity} and this "
        f"agent's outbox {local.path}: another machine uses the same agent.name, or a chain was rewritten. Nothing "
        "was delivered; `backup-agent records verify` and `records verify --local` show which")


def take_back(local: RecordStore, shared: SharedStore) -> int:
    """Into an empty outbox: the agent's chain as the shared store holds it (a reinstalled agent
    continues its chain instead of starting one the shared store would refuse). Return how many
    records were taken. Raise AgentError, ChainGapError."""
    head = shared.head(local.agent)
    if head is None or local.head() is not None:
        return 0
    with contextlib.closing(shared.chain(local.agent)) as rows:
        taken = local.append(list(rows), adopt=True)[1]
    local.mark_delivered(shared.identity, head.seq, head.hash)
    return taken


def undelivered(local: RecordStore, store: str) -> int:
    """How many of local's records the shared store `store` is not known to hold (offline: from the
    outbox's note of the last delivery)."""
    noted = local.delivered(store)
    return local.count_after(noted[0] if noted else 0)
