"""The local QEF-19-05 records store: append-only SQLite holding one agent's hash chain.

It is the whole store of an agent without a shared one, and the outbox of an agent with one
(agent.records.outbox delivers from it). UPDATE and DELETE are refused by triggers; `verify_chain`
finds any edit, deletion or reordering by recomputing every link, and a cut tail or a replaced
store by comparing the chain with the heads remembered outside it (agent.chain_head). A store
that cannot be read (a full disk, an I/O error) is StoreUnreadable, never a broken chain. Here a
record's number (record_no) is its sequence number in the agent's chain (seq).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from agent import chain_head, space
from agent.agent_name import agent_name_from
from agent.clock import iso, now
from agent.errors import AgentError, ChainGapError, StoreUnreadable
from agent.records import sqlite_schema
from agent.records.chain import AgentHead, ChainReport, ChainReports, anchors_of, reaches, walk
from agent.records.fields import CHAIN_VERSION, COLUMNS, GENESIS, normalize, record_hash
from agent.sqlite_files import is_damage, open_readonly

log = logging.getLogger(__name__)


class RecordStore:
    """The store. Opened for writing (the default) it is created when missing, and migrated when
    an older agent wrote it; opened readonly it never writes, and when SQLite cannot open it for
    want of room for its shared-memory file (a full disk) it is read from an in-memory copy, so a
    full disk never reads as a broken chain.

    agent: the agent whose chain the store holds. A new store takes it (default: this host's name);
    one that holds another agent's records refuses to be written to under a different name."""

    def __init__(self, path: Path, *, readonly: bool = False, place: str = "state directory",
                 agent: str | None = None):
        self.path = Path(path)
        self.head_path = chain_head.head_path(self.path)
        self.place = place
        self.readonly = readonly
        self.snapshot = False  # read from an in-memory copy of the file
        self.last_appended: tuple[int, str] | None = None
        self.migrated: tuple[int, int] | None = None  # (schema found, schema now) when opened for writing
        if readonly:
            self._db = self._open_readonly()
        else:
            self._db = self._open_for_writing(agent)
        self._db.row_factory = sqlite3.Row
        present = sqlite_schema.tables(self._db)
        self._has_table = "records" in present
        if readonly:
            sqlite_schema.refuse_newer(sqlite_schema.version(self._db), str(self.path))
        self.agent = (sqlite_schema.stored_agent(self._db) or agent or sqlite_schema.legacy_agent(self._db)
                      or agent_name_from())

    def _open_for_writing(self, agent: str | None) -> sqlite3.Connection:
        try:
            with space.writing(self.path.parent, "opening the QEF-19-05 records store", self.place):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
                try:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute("PRAGMA synchronous=FULL")
                    self._prepare(db, agent)
                except BaseException:
                    db.close()
                    raise
                return db
        except sqlite3.Error as error:
            raise AgentError(f"cannot open the records store {self.path}: {error}; see `backup-agent records "
                             "verify`") from error

    def _prepare(self, db: sqlite3.Connection, agent: str | None) -> None:
        """Create or migrate the schema and settle whose chain the store holds, in one transaction."""
        db.execute("BEGIN IMMEDIATE")
        try:
            owner = sqlite_schema.stored_agent(db) if "store_agent" in sqlite_schema.tables(db) else None
            name = agent or owner or sqlite_schema.legacy_agent(db) or agent_name_from()
            self.migrated = sqlite_schema.ensure(db, name, str(self.path))
            owner = sqlite_schema.stored_agent(db)
            if agent and owner != agent:
                if db.execute("SELECT 1 FROM records LIMIT 1").fetchone():
                    raise AgentError(
                        f"the records store {self.path} holds the hash chain of agent {owner!r}, but this agent is "
                        f"named {agent!r} (agent.name): an agent's name is fixed by its chain. Set agent.name: "
                        f"{owner}, or give agent {agent!r} a state directory (or records_db) of its own")
                db.execute("UPDATE store_agent SET agent = ?", (agent,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _open_readonly(self) -> sqlite3.Connection:
        try:
            db, self.snapshot = open_readonly(self.path)
        except sqlite3.Error as error:
            if is_damage(error):
                raise
            raise self._unreadable(error) from error
        return db

    def _unreadable(self, error: BaseException) -> StoreUnreadable:
        why = (f"; no space left on the {self.place} {self.path.parent} (SQLite needs room there for its "
               "shared-memory file even to read)" if space.nearly_full(self.path.parent) else "")
        return StoreUnreadable(f"cannot read the records store {self.path}: {error}{why}. This is not a verdict "
                               "on the chain: nothing was checked")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _row(self, raw: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
        """A stored row with every column; a record written before agents were named (chain NULL)
        reads as chain 1 of this store's agent, its seq being its number."""
        row = dict(raw)
        if row.get("chain") is None and row.get("agent") is None and row.get("seq") is None:
            row.update(agent=self.agent, seq=row.get("record_no"), chain=1)
        return {c: row.get(c) for c in COLUMNS}

    def _last(self) -> tuple[int, str] | None:
        if not self._has_table:
            return None
        row = self._db.execute("SELECT record_no, hash FROM records ORDER BY record_no DESC LIMIT 1").fetchone()
        return (row["record_no"], row["hash"]) if row else None

    def _hash_of(self, number: int) -> str | None:
        if not self._has_table:
            return None
        row = self._db.execute("SELECT hash FROM records WHERE record_no = ?", (number,)).fetchone()
        return row["hash"] if row else None

    def continuity_problem(self) -> str | None:
        """Say why appending now would hide lost records (see chain_head.continuity_problem), or None."""
        try:
            return chain_head.continuity_problem(self.path, self._last(), self._hash_of)
        except sqlite3.Error as error:
            raise self._unreadable(error) from error

    def append(self, rows: Iterable[dict[str, Any]], *, accept_new_chain: str | None = None,
               adopt: bool = False) -> tuple[int, int]:
        """Append rows in one transaction, numbering and chaining them. Return (first, last) record number.

        Refuse with ChainGapError when the store does not reach the head remembered outside it,
        unless accept_new_chain carries the operator's reason (then logged in the head log). Raise
        NoSpaceError on a full disk, AgentError on another write failure; either way nothing is written.

        adopt: the rows are this agent's records as another store holds them, already numbered and
        hashed, from the first on (an outbox taking its chain back from the shared store): each is
        checked and kept as it is, and the result must reach every head remembered outside."""
        if self.readonly:
            raise AgentError(f"records store {self.path} is open read-only")
        try:
            with space.writing(self.path.parent, "writing the QEF-19-05 records: none of these were written",
                               self.place):
                self._db.execute("BEGIN IMMEDIATE")
                had_head = chain_head.set_aside(self.path)
                try:
                    first, number, digest = (self._adopt_in_transaction(rows) if adopt else
                                             self._append_in_transaction(rows, accept_new_chain))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    self._restore_head(had_head)
                    raise
                chain_head.drop_aside(self.path)
        except sqlite3.Error as error:
            raise AgentError(f"cannot write the records store {self.path}: {error}") from error
        if number >= first:
            self._confirm(number, digest)
        self.last_appended = (number, digest)
        return first, number

    def _append_in_transaction(self, rows: Iterable[dict[str, Any]], accept: str | None) -> tuple[int, int, str]:
        last = self._last()
        problem = chain_head.continuity_problem(self.path, last, self._hash_of)
        if problem and not accept:
            raise ChainGapError(f"refusing to append to the records store: {problem}")
        if problem:
            chain_head.append_log(self.path, {"event": chain_head.NEW_CHAIN, "reason": accept, "problem": problem,
                                              "store_last_record_no": last[0] if last else 0})
        number, prev = last or (0, GENESIS)
        base = chain_head.Anchor(number, prev, "head file")
        first = number + 1
        for row in rows:
            number += 1
            full = self._chained(row, number, prev)
            self._db.execute(f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                             [full[c] for c in COLUMNS])
            prev = full["hash"]
        if number >= first:
            # Before the commit, so no crash can leave records the head does not know of.
            chain_head.write_head(self.path, chain_head.Head(number, prev, base))
        return first, number, prev

    def _adopt_in_transaction(self, rows: Iterable[dict[str, Any]]) -> tuple[int, int, str]:
        if self._last() is not None:
            raise AgentError(f"the records store {self.path} already holds records: only an empty store takes a "
                             "chain back")
        number, prev = 0, GENESIS
        for row in rows:
            number += 1
            full = {c: normalize(c, row.get(c)) for c in COLUMNS}
            full["record_no"] = number
            if (full["agent"], full["seq"], full["prev_hash"]) != (self.agent, number, prev) \
                    or record_hash(prev, full) != full["hash"]:
                raise AgentError(f"record #{number} of agent {self.agent!r} does not continue its chain as received; "
                                 "nothing was taken (`backup-agent records verify` checks the shared store)")
            self._db.execute(f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                             [full[c] for c in COLUMNS])
            prev = full["hash"]
        if number:
            # The head first (as an append writes it), then every head remembered before must be reached.
            chain_head.write_head(self.path, chain_head.Head(number, prev, chain_head.Anchor(0, GENESIS, "head file")))
        problem = chain_head.continuity_problem(self.path, (number, prev) if number else None, self._hash_of)
        if problem:
            raise ChainGapError(f"refusing to take the chain back: {problem}")
        return 1, number, prev

    def _chained(self, row: dict[str, Any], number: int, prev: str) -> dict[str, Any]:
        """The row as record `number` of this store's agent, chained to prev (chain format 2)."""
        if row.get("agent") not in (None, self.agent):
            raise AgentError(f"a record of agent {row['agent']!r} cannot go into agent {self.agent!r}'s store "
                             f"{self.path}")
        full = {c: normalize(c, row.get(c)) for c in COLUMNS}
        full.update(record_no=number, agent=self.agent, seq=number, chain=CHAIN_VERSION, prev_hash=prev)
        full["hash"] = record_hash(prev, full)
        return full

    def _rollback(self) -> None:
        # SQLite rolls a transaction back itself on some errors (a full disk among them); a second
        # ROLLBACK would then fail and hide the error that matters.
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error as error:
                log.warning("rolling back the records transaction failed too: %s", error)

    def _restore_head(self, had_head: bool | None) -> None:
        """After a failed append: the head as it was (renaming needs no space, so this works on a full
        disk; should it fail, the pending head names the head it built on, which verification accepts)."""
        try:
            chain_head.put_back(self.path, had_head)
        except OSError as error:
            log.warning("the chain head of %s stays pending after a failed append: %s", self.path, error)

    def _confirm(self, number: int, digest: str) -> None:
        """After the commit: mark the head confirmed and log it. A failure leaves the head pending,
        which verification accepts, so the committed records stand and only a warning is given."""
        try:
            chain_head.write_head(self.path, chain_head.Head(number, digest))
            chain_head.append_log(self.path, {"record_no": number, "hash": digest})
        except OSError as error:
            log.warning("records up to #%d committed, but the chain head could not be confirmed (%s); it stays "
                        "pending, which `records verify` accepts", number, error)

    def _select(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        try:
            for raw in self._db.execute(sql, params):
                yield self._row(raw)
        except sqlite3.Error as error:
            if is_damage(error):
                raise AgentError(f"the records store {self.path} is damaged ({error}); see `backup-agent records "
                                 "verify`") from error
            raise self._unreadable(error) from error

    def rows(self, since: datetime | str | None = None, until: datetime | str | None = None,
             run_id: str | None = None, kind: str | None = None, agent: str | None = None) -> Iterator[dict[str, Any]]:
        """Records in number order; since (inclusive) and until (exclusive) are compared as times,
        not as text (an offset or a fraction of a second must not move a record across a bound),
        to the millisecond (SQLite's julianday)."""
        if not self._has_table:
            return
        clauses, params = [], []
        if since:
            clauses.append("julianday(recorded_at) >= julianday(?)")
            params.append(iso(since) if isinstance(since, datetime) else since)
        if until:
            clauses.append("julianday(recorded_at) < julianday(?)")
            params.append(iso(until) if isinstance(until, datetime) else until)
        if run_id:
            clauses.append("run_id = ?")
            params.append(run_id)
        if kind:
            clauses.append("kind = ?")
            params.append(kind)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        for row in self._select(f"SELECT * FROM records {where} ORDER BY record_no", params):
            if agent is None or row["agent"] == agent:
                yield row

    def agents(self) -> list[str]:
        """The agents whose records the store holds (this store: its own agent, once it has records)."""
        return [self.agent] if self._last() else []

    def head(self, agent: str | None = None) -> AgentHead | None:
        """The agent's newest record (default: the store's agent), or None."""
        if not self._has_table or (agent or self.agent) != self.agent:
            return None
        newest = next(self._select("SELECT * FROM records ORDER BY record_no DESC LIMIT 1"), None)
        return AgentHead(newest["agent"], newest["seq"], newest["hash"], newest["recorded_at"]) if newest else None

    def hash_at(self, agent: str, seq: int) -> str | None:
        """The hash of the agent's record number seq in this store, or None."""
        return self._hash_of(seq) if agent == self.agent else None

    def records_after(self, seq: int, limit: int = -1) -> Iterator[dict[str, Any]]:
        """The store's records after sequence number seq (at most limit), in order: what an outbox
        has to deliver."""
        if self._has_table:
            yield from self._select("SELECT * FROM records WHERE record_no > ? ORDER BY record_no LIMIT ?",
                                    (seq, limit))

    def count_after(self, seq: int) -> int:
        if not self._has_table:
            return 0
        return self._db.execute("SELECT count(*) FROM records WHERE record_no > ?", (seq,)).fetchone()[0]

    def delivered(self, store: str) -> tuple[int, str] | None:
        """How far the shared store `store` is known to hold this chain: (seq, hash), or None."""
        if "outbox" not in sqlite_schema.tables(self._db):
            return None
        row = self._db.execute("SELECT seq, hash FROM outbox WHERE store = ? AND agent = ?",
                               (store, self.agent)).fetchone()
        return (row["seq"], row["hash"]) if row else None

    def mark_delivered(self, store: str, seq: int, digest: str) -> None:
        """Remember that `store` holds this chain up to seq. Raise AgentError."""
        try:
            self._db.execute("INSERT INTO outbox (store, agent, seq, hash, delivered_at) VALUES (?, ?, ?, ?, ?) "
                             "ON CONFLICT (store) DO UPDATE SET agent = excluded.agent, seq = excluded.seq, "
                             "hash = excluded.hash, delivered_at = excluded.delivered_at",
                             (store, self.agent, seq, digest, iso(now())))
        except sqlite3.Error as error:
            raise AgentError(f"cannot note the delivery in {self.path}: {error}") from error

    def verify_chain(self, anchors: Sequence[chain_head.Anchor] = ()) -> ChainReports:
        """Recompute every link and compare the chain with every head remembered outside it (head
        file, head log, the anchors given). Return the store's agent's report (and a broken one for
        any other agent an anchor names): the first broken record number — an edit, a gap, a
        reorder, a cut tail. Raise StoreUnreadable when the store cannot be read (not a verdict)."""
        reports = ChainReports({self.agent: self._verify_own(anchors_of(self.agent, anchors, self.agent))})
        for other in sorted({a.agent for a in anchors if a.agent and a.agent != self.agent}):
            reports[other] = reaches(ChainReport(True, 0, agent=other), anchors_of(other, anchors, self.agent))
        return reports

    def _verify_own(self, anchors: Sequence[chain_head.Anchor]) -> ChainReport:
        try:
            head = chain_head.read_head(self.path)
        except chain_head.HeadUnreadable as error:
            return ChainReport(False, 0, None, str(error), agent=self.agent)
        expected = [*chain_head.read_log(self.path), *anchors]
        if head is not None:
            expected.append(head.base or chain_head.Anchor(head.record_no, head.hash, f"head file {self.head_path}"))
        unconfirmed = (chain_head.Anchor(head.record_no, head.hash, f"head file {self.head_path}")
                       if head is not None and head.base is not None else None)
        report = self._scan([*expected, *([unconfirmed] if unconfirmed else [])])
        if not report.ok:
            return report
        end = report.last or 0
        if report.records and head is None:
            return ChainReport(False, report.records, end + 1, f"the head file {self.head_path} is missing: nothing "
                               f"shows that record #{end} is the newest (newer records may have been cut off)",
                               report.first, report.last, report.last_hash, self.agent)
        if unconfirmed is not None and end < unconfirmed.record_no and end != head.base.record_no:
            expected.append(unconfirmed)
        return reaches(report, expected)

    def _scan(self, anchors: Sequence[chain_head.Anchor]) -> ChainReport:
        """Walk the chain in number order; a store damaged part way is broken where it stops reading."""
        seen = [0]

        def stored() -> Iterator[dict[str, Any]]:
            for raw in (self._db.execute("SELECT * FROM records ORDER BY record_no") if self._has_table else ()):
                seen[0] += 1
                yield self._row(raw)

        def own_rules(row: dict[str, Any], expected: int) -> tuple[int, str] | None:
            if row["record_no"] != expected:
                return expected, f"record {expected} is missing (next present is {row['record_no']})"
            if row["seq"] != row["record_no"] or row["agent"] != self.agent:
                return expected, (f"record {expected} claims to be #{row['seq']} of agent {row['agent']!r} in agent "
                                  f"{self.agent!r}'s store")
            return None

        try:
            return walk(stored(), anchors, self.agent, own_rules)
        except sqlite3.Error as error:
            if not is_damage(error):
                raise self._unreadable(error) from error
            return ChainReport(False, seen[0], seen[0] + 1, f"store damaged at record {seen[0] + 1}: {error}",
                               agent=self.agent)
