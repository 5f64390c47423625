"""QEF-19-05 records: an append-only SQLite store, each record chained to the previous by SHA-256.

One record per check result, one per dataset verdict and one per run, all written in one
transaction at the end of a run, so a run killed half way leaves no partial run behind.
UPDATE and DELETE are refused by triggers; `verify_chain` finds any edit, deletion or
reordering by recomputing every link, and a cut tail or a replaced store by comparing the chain
with the heads remembered outside it (agent.chain_head). A store that cannot be read (a full
disk, an I/O error) is StoreUnreadable, never a broken chain.

fields: the columns and the chain's hash; store: RecordStore and its chain verification; rows:
a finished run or drill as rows; export: CSV and JSON lines for `records export` and the report.
"""

from agent.records.export import export_csv, export_jsonl
from agent.records.fields import CHAINED, COLUMNS, FIELDS, FORM_DRILL, FORM_VERIFICATION, GENESIS, record_hash
from agent.records.rows import drill_row, rows_for_run
from agent.records.store import ChainReport, RecordStore

__all__ = [
    "CHAINED", "COLUMNS", "FIELDS", "FORM_DRILL", "FORM_VERIFICATION", "GENESIS", "ChainReport", "RecordStore",
    "drill_row", "export_csv", "export_jsonl", "record_hash", "rows_for_run",
]
