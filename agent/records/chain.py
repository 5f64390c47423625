"""Walking an agent's hash chain, and what a walk reports: the same for every store.

A chain is one agent's records in sequence order (seq 1, 2, 3 … without gaps), each carrying the
hash of the one before (GENESIS for seq 1). The walk finds the first record that breaks it: a gap,
a link that does not match, content that does not match its hash, a chain format going backwards,
a record that differs from a head remembered elsewhere (an anchor: the head file, the outbox, an
S3 anchor, `--anchor`), and a chain that ends before such a head.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from agent.chain_head import Anchor
from agent.records.fields import GENESIS, record_hash


@dataclass(frozen=True)
class AgentHead:
    """An agent's newest record in a store: what an anchor written elsewhere remembers."""

    agent: str
    seq: int
    hash: str
    time: str  # the record's recorded_at

    def anchor(self, source: str) -> Anchor:
        return Anchor(self.seq, self.hash, source, self.agent)


@dataclass(frozen=True)
class ChainReport:
    """One agent's chain: intact or the first broken record (a sequence number)."""

    ok: bool
    records: int
    broken_at: int | None = None
    reason: str = ""
    first: int | None = None
    last: int | None = None
    last_hash: str | None = None
    agent: str = ""


class ChainReports(dict[str, ChainReport]):
    """Every agent's chain report, by agent name. For a store of one agent (the local store) the
    summary properties are that agent's; over several they say whether all are intact and name the
    first broken one."""

    @property
    def ok(self) -> bool:
        return all(report.ok for report in self.values())

    @property
    def records(self) -> int:
        return sum(report.records for report in self.values())

    @property
    def broken(self) -> list[ChainReport]:
        return [self[agent] for agent in sorted(self) if not self[agent].ok]

    def _one(self) -> ChainReport | None:
        return next(iter(self.values())) if len(self) == 1 else None

    @property
    def broken_at(self) -> int | None:
        return self.broken[0].broken_at if self.broken else None

    @property
    def reason(self) -> str:
        if not self.broken:
            return ""
        first = self.broken[0]
        return first.reason if len(self) == 1 else f"agent {first.agent}: {first.reason}"

    @property
    def first(self) -> int | None:
        return self._one().first if self._one() else None

    @property
    def last(self) -> int | None:
        return self._one().last if self._one() else None

    @property
    def last_hash(self) -> str | None:
        return self._one().last_hash if self._one() else None


def anchors_of(agent: str, anchors: Iterable[Anchor], own_agent: str | None) -> list[Anchor]:
    """The anchors that speak of agent's chain (an anchor naming no agent is the store's own agent's)."""
    return [a for a in anchors if (a.agent or own_agent) == agent]


def walk(rows: Iterable[dict[str, Any]], anchors: Sequence[Anchor], agent: str,
         check_row=None) -> ChainReport:
    """Given one agent's records in sequence order and the heads remembered for its chain, return
    its report. check_row(row, expected) may add a store's own rule (a reason, or None)."""
    by_seq: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        by_seq.setdefault(anchor.record_no, []).append(anchor)
    prev, expected, count, version = GENESIS, 1, 0, 1
    first = last = None
    for row in rows:
        first = row["seq"] if first is None else first
        last = row["seq"]
        count += 1
        problem = (check_row(row, expected) if check_row else None) or _link_problem(
            row, prev, expected, version, by_seq.get(expected, ()))
        if problem:
            return ChainReport(False, count, problem[0], problem[1], first, last, agent=agent)
        prev, version = row["hash"], max(version, row.get("chain") or 1)
        expected += 1
    return ChainReport(True, count, None, "", first, last, prev if count else None, agent)


def reaches(report: ChainReport, anchors: Iterable[Anchor]) -> ChainReport:
    """Given an intact walk and heads remembered for the chain, return it broken when the chain
    ends before one of them (its newest records were cut off), else unchanged."""
    end = report.last or 0
    beyond = [a for a in anchors if a.record_no > end]
    if not report.ok or not beyond:
        return report
    anchor = max(beyond, key=lambda a: a.record_no)
    return replace(report, ok=False, broken_at=end + 1, reason=f"records {end + 1}-{anchor.record_no} are missing: "
                   f"the {anchor.source} says the chain reached #{anchor.record_no}")


def _link_problem(row: dict[str, Any], prev: str, expected: int, version: int,
                  anchors: Iterable[Anchor]) -> tuple[int, str] | None:
    """Given a record, the previous record's hash, the sequence number it must carry and the
    newest chain format seen so far, return (broken sequence number, reason) or None."""
    number = row["seq"]
    if number != expected:
        return expected, f"record {expected} is missing (next present is {number})"
    if row["prev_hash"] != prev:
        return number, "link to the previous record does not match"
    format_ = row.get("chain") or 1
    if format_ < version:
        return number, f"record is in chain format {format_} after records in format {version}"
    digest = record_hash(prev, row)
    if digest is None:
        return number, f"record claims chain format {format_}, which this agent does not know"
    if digest != row["hash"]:
        return number, "record content does not match its hash"
    for anchor in anchors:
        if not anchor.matches(row["hash"]):
            return number, f"record differs from the {anchor.source} (the chain was rewritten)"
    return None
