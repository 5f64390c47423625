"""QEF-19-05 records: each agent's hash chain, kept locally in SQLite and, when configured, in a
shared PostgreSQL store that every agent delivers to.

One record per check result, one per dataset verdict and one per run, all written in one
transaction at the end of a run, so a run killed half way leaves no partial run behind. Every
agent keeps its own chain (agent, seq 1, 2, 3 …); `verify_chain` finds any edit, deletion or
reordering by recomputing every link, and a cut tail or a replaced store by comparing the chain
with the heads remembered outside it. A store that cannot be read (a full disk, an I/O error, a
server down) is StoreUnreadable, never a broken chain.

fields: the columns and the chain's hash formats; chain: walking a chain and its reports; store:
the local SQLite store (the whole store of an agent alone, the outbox of one with a shared store);
sqlite_schema: its versions and migration; shared and pg_schema: the shared PostgreSQL store;
outbox: delivering from the one to the other; rows: a finished run or drill as rows; export: CSV
and JSON lines for `records export` and the report.
"""

from agent.records.chain import AgentHead, ChainReport, ChainReports
from agent.records.export import export_csv, export_jsonl
from agent.records.fields import CHAINED, COLUMNS, FIELDS, FORM_DRILL, FORM_VERIFICATION, GENESIS, record_hash
from agent.records.rows import drill_row, rows_for_run
from agent.records.store import RecordStore

__all__ = [
    "CHAINED", "COLUMNS", "FIELDS", "FORM_DRILL", "FORM_VERIFICATION", "GENESIS", "AgentHead", "ChainReport",
    "ChainReports", "RecordStore", "drill_row", "export_csv", "export_jsonl", "record_hash", "rows_for_run",
]
