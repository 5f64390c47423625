"""What a person or a program reads after a run: the --json document and the terminal table."""

from __future__ import annotations

from typing import Any

from agent.clock import iso
from agent.models import RunResult, Status
from agent.names import show
from agent.units import format_duration

NAMED_PATHS = 5


def name_paths(paths: list[str]) -> str:
    """The first few paths of a list, sorted, and how many more: what a failure detail names, each
    in the agent's one display of names (agent.names.show: `\\xff` for a byte that is not UTF-8)."""
    shown = ", ".join(show(path) for path in sorted(paths)[:NAMED_PATHS])
    return shown + (f", … (+{len(paths) - NAMED_PATHS})" if len(paths) > NAMED_PATHS else "")


_COLOURS = {Status.PASS: "32", Status.FAIL: "31", Status.ERROR: "35", Status.SKIP: "2"}


def run_document(run: RunResult) -> dict[str, Any]:
    """The --json document of DESIGN.md's contract."""
    datasets = []
    for dataset_result in run.datasets:
        dataset = dataset_result.dataset
        copies = []
        for copy in dataset_result.copies:
            spec = copy.spec
            copies.append({
                "target": spec.target.name,
                "role": spec.role,
                "form": spec.form,
                "medium": spec.target.medium,
                "detected_medium": copy.detected_medium,
                "location": spec.target.location,
                "status": str(copy.status),
                "last_backup_at": iso(copy.last_backup_at),
                "age_seconds": round(copy.age_seconds, 3) if copy.age_seconds is not None else None,
                "checks": [check.to_json() for check in copy.checks],
            })
        datasets.append({
            "name": dataset.name,
            "process": dataset.process.name,
            "process_name": dataset.process.display_name,
            "rpo_seconds": dataset.process.rpo_seconds,
            "rto_seconds": dataset.process.rto_seconds,
            "status": str(dataset_result.status),
            "policy": {"status": str(dataset_result.policy.status), "detail": dataset_result.policy.detail,
                       **dataset_result.policy.measured},
            "copies": copies,
        })
    return {
        "run_id": run.run_id,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "agent_host": run.agent_host,
        "operator": run.operator,
        "tool_versions": run.tool_versions,
        "status": "pass" if run.compliant else "fail",
        "datasets": datasets,
    }


def paint(text: str, status: Status, colour: bool) -> str:
    return f"\033[{_COLOURS[status]}m{text}\033[0m" if colour else text


def run_table(run: RunResult, *, colour: bool = False, verbose: bool = False) -> str:
    """A readable summary: one block per dataset, one line per copy, the reasons for anything not passing."""
    lines = []
    for dataset_result in run.datasets:
        dataset = dataset_result.dataset
        status = dataset_result.status
        lines.append(
            f"{paint(status.upper().ljust(5), status, colour)} {dataset.name}  "
            f"[{dataset.process.display_name}; RPO {format_duration(dataset.process.rpo_seconds)}, "
            f"RTO {format_duration(dataset.process.rto_seconds)}]"
        )
        policy = dataset_result.policy
        lines.append(f"      policy  {paint(str(policy.status).ljust(5), policy.status, colour)} {policy.detail}")
        for copy in dataset_result.copies:
            spec = copy.spec
            age = format_duration(copy.age_seconds) if copy.age_seconds is not None else "-"
            lines.append(
                f"      {spec.target.name:<8} {paint(str(copy.status).ljust(5), copy.status, colour)} "
                f"{spec.role:<7} {spec.form:<7} {spec.target.medium:<14} {spec.target.location:<10} age {age}"
            )
            for check in copy.checks:
                if verbose or check.status in (Status.FAIL, Status.ERROR):
                    lines.append(f"               {check.name}: {paint(str(check.status), check.status, colour)} "
                                 f"{check.detail}")
        lines.append("")
    passed = sum(1 for d in run.datasets if d.status == Status.PASS)
    took = (run.finished_at - run.started_at).total_seconds()
    lines.append(f"{passed}/{len(run.datasets)} datasets pass; run {run.run_id} took {took:.1f}s")
    return "\n".join(lines)
