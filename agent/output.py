"""What a person or a program reads after a run: the --json document and the terminal table."""

from __future__ import annotations

import io
import shutil
from typing import TYPE_CHECKING, Any

from agent.clock import iso
from agent.models import RunResult, Status
from agent.names import show
from agent.units import format_duration

if TYPE_CHECKING:
    from rich.text import Text

NAMED_PATHS = 5


def name_paths(paths: list[str]) -> str:
    """The first few paths of a list, sorted, and how many more: what a failure detail names, each
    in the agent's one display of names (agent.names.show: `\\xff` for a byte that is not UTF-8)."""
    shown = ", ".join(show(path) for path in sorted(paths)[:NAMED_PATHS])
    return shown + (f", … (+{len(paths) - NAMED_PATHS})" if len(paths) > NAMED_PATHS else "")


_STYLES = {Status.PASS: "green", Status.FAIL: "bold red", Status.ERROR: "magenta", Status.SKIP: "dim",
           Status.OFFLINE: "cyan"}
# Wide enough for the details of a failing check when the output is not a terminal (a log, a mail).
PLAIN_WIDTH = 200


def run_document(run: RunResult) -> dict[str, Any]:
    """The --json document of the command-line contract (README, "Command line")."""
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
                # Verified by this run, or credited from an earlier verification (by which agent, when).
                "verified": copy.verified_in,
                "credit": copy.credit.to_json() if copy.credit else None,
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
        "agent": run.agent,
        "agent_host": run.agent_host,
        "operator": run.operator,
        "tool_versions": run.tool_versions,
        "status": "pass" if run.compliant else "fail",
        "datasets": datasets,
    }


def _console(colour: bool, width: int | None):
    from rich.console import Console

    return Console(file=io.StringIO(), force_terminal=colour, color_system="standard" if colour else None,
                   width=width or (shutil.get_terminal_size((PLAIN_WIDTH, 24)).columns if colour else PLAIN_WIDTH),
                   highlight=False, emoji=False, markup=False, legacy_windows=False)


def _status(status: Status) -> Text:
    from rich.text import Text

    return Text(str(status).upper() if status in (Status.PASS, Status.FAIL) else str(status), style=_STYLES[status])


def _restore_cell(copy) -> str:
    """A passing restore test's projected full restore time against the RTO, e.g. "1m ≤ RTO 4h"."""
    check = next((c for c in copy.checks if c.name == "restore-test" and c.status != Status.SKIP), None)
    if check is None or check.measured.get("projected_restore_seconds") is None:
        return "-"
    projected = check.measured["projected_restore_seconds"]
    rto = check.measured.get("rto_seconds")
    mark = "≤" if check.status == Status.PASS else ">" if rto and projected > rto else "?"
    shown = "<1s" if projected < 1 else format_duration(projected)
    return f"{shown} {mark} RTO {format_duration(rto)}" if rto else shown


def _verified_cell(copy) -> str:
    """"now", or whose verification a credited copy counts from: "kc-home 2026-11-20 02:00Z"."""
    source = copy.credit.verification if copy.credit else None
    if copy.credit is None:
        return "now"
    if source is None:
        return "-"
    return f"{source.agent} {iso(source.recorded_at)[:16]}Z"


def _copies_table(dataset_result, verbose: bool):
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), header_style="bold")
    for heading in ("TARGET", "STATUS", "ROLE", "FORM", "MEDIUM", "LOCATION", "AGE", "RESTORE / RTO", "VERIFIED"):
        table.add_column(heading, no_wrap=True, justify="right" if heading == "AGE" else "left")
    notes = []
    for copy in dataset_result.copies:
        spec = copy.spec
        medium = spec.target.medium + (f" ({copy.detected_medium}?)" if copy.detected_medium
                                       and copy.detected_medium != spec.target.medium else "")
        table.add_row(spec.target.name, _status(copy.status), spec.role, spec.form, medium, spec.target.location,
                      format_duration(copy.age_seconds) if copy.age_seconds is not None else "-", _restore_cell(copy),
                      _verified_cell(copy))
        for check in copy.checks:
            if verbose or check.status in (Status.FAIL, Status.ERROR) or check.name == "credit":
                notes.append((spec.target.name, check))
    return table, notes


def run_table(run: RunResult, *, colour: bool = False, verbose: bool = False, width: int | None = None) -> str:
    """A readable summary: per dataset a headline, a table of its copies (header, widths that fit
    the names, CJK counted as two columns) and the reasons for anything not passing."""
    from rich.padding import Padding
    from rich.text import Text

    console = _console(colour, width)
    for dataset_result in run.datasets:
        dataset = dataset_result.dataset
        status = dataset_result.status
        headline = Text.assemble(
            (str(status).upper().ljust(5), _STYLES[status]), f" {dataset.name}  ",
            f"[{dataset.process.display_name}; RPO {format_duration(dataset.process.rpo_seconds)}, "
            f"RTO {format_duration(dataset.process.rto_seconds)}]")
        console.print(headline)
        policy = dataset_result.policy
        console.print(Text.assemble("      policy ", _status(policy.status), f" {policy.detail}"))
        table, notes = _copies_table(dataset_result, verbose)
        console.print(Padding(table, (0, 0, 0, 6)))
        for target, check in notes:
            console.print(Padding(Text.assemble(f"{target}  {check.name}: ",
                                                (str(check.status), _STYLES[check.status]), f" {check.detail}"),
                                  (0, 0, 0, 8)))
        console.print()
    passed = sum(1 for d in run.datasets if d.status == Status.PASS)
    took = (run.finished_at - run.started_at).total_seconds()
    by = f" by agent {run.agent}" if run.agent else ""
    console.print(f"{passed}/{len(run.datasets)} datasets pass; run {run.run_id}{by} took {took:.1f}s")
    # rich pads every line to the console width; a log or a mail wants none of it.
    return "\n".join(line.rstrip() for line in console.file.getvalue().rstrip("\n").splitlines())
