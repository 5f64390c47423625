"""What a finished run or drill looks like as records: the rows appended to the chained store."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from agent.clock import iso
from agent.models import DrillStatus, RunResult
from agent.records.fields import FORM_DRILL, FORM_VERIFICATION

if TYPE_CHECKING:
    from agent.drill import DrillResult


def rows_for_run(run: RunResult) -> list[dict[str, Any]]:
    """Given a finished run, return its QEF-19-05 rows: each check of each copy, each dataset, the run."""
    common = {
        "form": FORM_VERIFICATION,
        "run_id": run.run_id,
        "tool_versions": json.dumps(run.tool_versions, sort_keys=True),
        "agent_host": run.agent_host,
        "operator": run.operator,
    }
    rows = []
    for dataset_result in run.datasets:
        dataset = dataset_result.dataset
        base = {**common, "dataset": dataset.name, "process": dataset.process.name,
                "rpo_seconds": dataset.process.rpo_seconds, "rto_seconds": dataset.process.rto_seconds}
        for copy in dataset_result.copies:
            spec = copy.spec
            copy_base = {**base, "target": spec.target.name, "role": spec.role, "form_of_copy": spec.form,
                         "medium": spec.target.medium, "location": spec.target.location,
                         "last_backup_at": iso(copy.last_backup_at),
                         "age_seconds": round(copy.age_seconds, 3) if copy.age_seconds is not None else None}
            if copy.credit is not None:
                # Not a verification: a `credit` record, so it is never taken for one (agent.verifications).
                rows.append({**copy_base, "recorded_at": iso(run.finished_at), "kind": "credit",
                             "check_name": "credit", "result": str(copy.status), "detail": copy.checks[0].detail,
                             "measured": json.dumps(copy.credit.to_json(), ensure_ascii=False, sort_keys=True)})
                continue
            for check in copy.checks:
                measured = dict(check.measured)
                rows.append({
                    **copy_base, "recorded_at": iso(run.finished_at), "kind": "check", "check_name": check.name,
                    "result": str(check.status), "detail": check.detail,
                    "bytes_verified": measured.get("bytes_verified"),
                    "restore_seconds": measured.get("restore_seconds"),
                    "projected_restore_seconds": measured.get("projected_restore_seconds"),
                    "measured": json.dumps(measured, ensure_ascii=False, sort_keys=True) if measured else None,
                })
            rows.append({**copy_base, "recorded_at": iso(run.finished_at), "kind": "copy", "check_name": "copy",
                         "result": str(copy.status),
                         "detail": "; ".join(f"{c.name}: {c.status}" for c in copy.checks),
                         # Which copy: two of a dataset may share target, role and form (agent.verifications).
                         "measured": json.dumps({"copy": spec.key}, ensure_ascii=False)})
        policy = dataset_result.policy
        rows.append({**base, "recorded_at": iso(run.finished_at), "kind": "dataset", "check_name": policy.name,
                     "result": str(dataset_result.status), "detail": policy.detail,
                     "measured": json.dumps(policy.measured, ensure_ascii=False, sort_keys=True)})
    rows.append({**common, "recorded_at": iso(run.finished_at), "kind": "run", "check_name": "run",
                 "result": "interrupted" if run.interrupted else ("pass" if run.compliant else "fail"),
                 "detail": f"{len(run.datasets)} datasets, started {iso(run.started_at)}",
                 "measured": json.dumps({"started_at": iso(run.started_at), "finished_at": iso(run.finished_at),
                                         "duration_seconds": round((run.finished_at - run.started_at).total_seconds(), 3),
                                         "datasets": len(run.datasets)}, sort_keys=True)})
    return rows


def drill_row(result: DrillResult, agent_host: str, operator: str) -> dict[str, Any]:
    """Given a finished drill, return its QEF-19-03 row (the same chain as QEF-19-05)."""
    spec, dataset = result.spec, result.dataset
    return {
        "form": FORM_DRILL, "run_id": result.run_id, "recorded_at": iso(result.finished_at), "kind": "drill",
        "dataset": dataset.name, "process": dataset.process.name, "target": spec.target.name, "role": spec.role,
        "form_of_copy": spec.form, "medium": spec.target.medium, "location": spec.target.location,
        "check_name": "drill", "result": str(result.status), "detail": result.detail,
        "last_backup_at": iso(result.last_backup_at),
        "age_seconds": result.measured["rpo_actual_seconds"],
        "rpo_seconds": dataset.process.rpo_seconds, "rto_seconds": dataset.process.rto_seconds,
        "bytes_verified": result.measured["bytes_restored"] if result.status == DrillStatus.PASS else None,
        # How long the attempt ran; only `measured.rto_met` (null unless the data came back proven) judges it.
        "restore_seconds": result.measured["elapsed_seconds"],
        # A drill's verdict is its actual time; the projection stays in `measured` only.
        "projected_restore_seconds": None,
        "measured": json.dumps({"started_at": iso(result.started_at), **result.measured}, ensure_ascii=False,
                               sort_keys=True),
        "tool_versions": json.dumps(result.tool_versions, sort_keys=True),
        "agent_host": agent_host, "operator": operator,
    }
