"""The QEF-19-05 records store: append-only SQLite, each record chained to the previous by SHA-256.

UPDATE and DELETE are refused by triggers; `verify_chain` finds any edit, deletion or reordering
by recomputing every link, and a cut tail or a replaced store by comparing the chain with the
heads remembered outside it (agent.chain_head). A store that cannot be read (a full disk, an I/O
error) is StoreUnreadable, never a broken chain.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from agent import chain_head, space
from agent.clock import iso
from agent.errors import AgentError, ChainGapError, StoreUnreadable
from agent.records.fields import COLUMNS, GENESIS, record_hash
from agent.sqlite_files import is_damage, open_readonly

log = logging.getLogger(__name__)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS records (
    {", ".join(f"{c} {'INTEGER PRIMARY KEY' if c == 'record_no' else ''}" for c in COLUMNS)}
);
CREATE INDEX IF NOT EXISTS records_time ON records (recorded_at);
CREATE INDEX IF NOT EXISTS records_run ON records (run_id);
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
    BEGIN SELECT RAISE(ABORT, 'QEF-19-05 records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
    BEGIN SELECT RAISE(ABORT, 'QEF-19-05 records are append-only (kept 5 years)'); END;
"""


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    records: int
    broken_at: int | None = None
    reason: str = ""
    first: int | None = None
    last: int | None = None
    last_hash: str | None = None


class RecordStore:
    """The store. Opened for writing (the default) it is created when missing; opened readonly it
    never writes, and when SQLite cannot open it for want of room for its shared-memory file (a
    full disk) it is read from an in-memory copy, so a full disk never reads as a broken chain."""

    def __init__(self, path: Path, *, readonly: bool = False, place: str = "state directory"):
        self.path = Path(path)
        self.head_path = chain_head.head_path(self.path)
        self.place = place
        self.readonly = readonly
        self.snapshot = False  # read from an in-memory copy of the file
        self.last_appended: tuple[int, str] | None = None
        if readonly:
            self._db = self._open_readonly()
        else:
            self._db = self._open_for_writing()
        self._db.row_factory = sqlite3.Row
        self._has_table = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records'").fetchone() is not None

    def _open_for_writing(self) -> sqlite3.Connection:
        try:
            with space.writing(self.path.parent, "opening the QEF-19-05 records store", self.place):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
                try:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute("PRAGMA synchronous=FULL")
                    db.executescript(_SCHEMA)
                except BaseException:
                    db.close()
                    raise
                return db
        except sqlite3.Error as error:
            raise AgentError(f"cannot open the records store {self.path}: {error}; see `backup-agent records "
                             "verify`") from error

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

    def append(self, rows: Iterable[dict[str, Any]], *, accept_new_chain: str | None = None) -> tuple[int, int]:
        """Append rows in one transaction, numbering and chaining them. Return (first, last) record number.

        Refuse with ChainGapError when the store does not reach the head remembered outside it,
        unless accept_new_chain carries the operator's reason (then logged in the head log). Raise
        NoSpaceError on a full disk, AgentError on another write failure; either way nothing is written."""
        if self.readonly:
            raise AgentError(f"records store {self.path} is open read-only")
        try:
            with space.writing(self.path.parent, "writing the QEF-19-05 records: none of these were written",
                               self.place):
                self._db.execute("BEGIN IMMEDIATE")
                had_head = chain_head.set_aside(self.path)
                try:
                    first, number, digest = self._append_in_transaction(rows, accept_new_chain)
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
            full = {c: row.get(c) for c in COLUMNS}
            full["record_no"] = number
            full["prev_hash"] = prev
            full["hash"] = record_hash(prev, full)
            self._db.execute(
                f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                [full[c] for c in COLUMNS],
            )
            prev = full["hash"]
        if number >= first:
            # Before the commit, so no crash can leave records the head does not know of.
            chain_head.write_head(self.path, chain_head.Head(number, prev, base))
        return first, number, prev

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

    def rows(self, since: datetime | str | None = None, until: datetime | str | None = None,
             run_id: str | None = None, kind: str | None = None) -> Iterator[dict[str, Any]]:
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
        try:
            for row in self._db.execute(f"SELECT * FROM records {where} ORDER BY record_no", params):
                yield dict(row)
        except sqlite3.Error as error:
            if is_damage(error):
                raise AgentError(f"the records store {self.path} is damaged ({error}); see `backup-agent records "
                                 "verify`") from error
            raise self._unreadable(error) from error

    def verify_chain(self, anchors: Sequence[chain_head.Anchor] = ()) -> ChainReport:
        """Recompute every link and compare the chain with every head remembered outside it (head
        file, head log, the anchors given). Return the first broken record number: an edit, a gap, a
        reorder, a cut tail. Raise StoreUnreadable when the store cannot be read (not a verdict)."""
        try:
            head = chain_head.read_head(self.path)
        except chain_head.HeadUnreadable as error:
            return ChainReport(False, 0, None, str(error))
        expected = [*chain_head.read_log(self.path), *anchors]
        if head is not None:
            expected.append(head.base or chain_head.Anchor(head.record_no, head.hash, f"head file {self.head_path}"))
        unconfirmed = (chain_head.Anchor(head.record_no, head.hash, f"head file {self.head_path}")
                       if head is not None and head.base is not None else None)
        scanned = self._scan([*expected, *([unconfirmed] if unconfirmed else [])])
        if isinstance(scanned, ChainReport):
            return scanned
        count, first, last, last_hash = scanned
        end = last or 0

        def broken(reason: str) -> ChainReport:
            return ChainReport(False, count, end + 1, reason, first, last, last_hash)

        if count and head is None:
            return broken(f"the head file {self.head_path} is missing: nothing shows that record #{end} is the "
                          "newest (newer records may have been cut off)")
        if unconfirmed is not None and end < unconfirmed.record_no and end != head.base.record_no:
            expected.append(unconfirmed)
        beyond = [a for a in expected if a.record_no > end]
        if beyond:
            anchor = max(beyond, key=lambda a: a.record_no)
            return broken(f"records {end + 1}-{anchor.record_no} are missing: the {anchor.source} says the chain "
                          f"reached #{anchor.record_no}")
        return ChainReport(True, count, None, "", first, last, last_hash)

    def _scan(self, anchors: Sequence[chain_head.Anchor]) -> ChainReport | tuple[int, int | None, int | None, str | None]:
        """Walk the chain; return the first break as a ChainReport, or (count, first, last, last hash)."""
        by_number: dict[int, list[chain_head.Anchor]] = {}
        for anchor in anchors:
            by_number.setdefault(anchor.record_no, []).append(anchor)
        prev, expected_number, count = GENESIS, 1, 0
        first = last = None
        try:
            for raw in (self._db.execute("SELECT * FROM records ORDER BY record_no") if self._has_table else ()):
                row = dict(raw)
                first = row["record_no"] if first is None else first
                last = row["record_no"]
                count += 1
                problem = _link_problem(row, prev, expected_number, by_number.get(row["record_no"], ()))
                if problem:
                    return ChainReport(False, count, problem[0], problem[1], first, last)
                prev = row["hash"]
                expected_number += 1
        except sqlite3.Error as error:
            if not is_damage(error):
                raise self._unreadable(error) from error
            return ChainReport(False, count, expected_number, f"store damaged at record {expected_number}: {error}",
                               first, last)
        return count, first, last, (prev if count else None)


def _link_problem(row: dict[str, Any], prev: str, expected_number: int,
                  anchors: Iterable[chain_head.Anchor]) -> tuple[int, str] | None:
    """Given a record, the previous record's hash and the number it must carry, return (broken
    record number, reason) or None."""
    number = row["record_no"]
    if number != expected_number:
        return expected_number, f"record {expected_number} is missing (next present is {number})"
    if row["prev_hash"] != prev:
        return number, "link to the previous record does not match"
    if record_hash(prev, row) != row["hash"]:
        return number, "record content does not match its hash"
    for anchor in anchors:
        if not anchor.matches(row["hash"]):
            return number, f"record differs from the {anchor.source} (the chain was rewritten)"
    return None
