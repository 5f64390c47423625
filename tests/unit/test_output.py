"""The verify table: a header, columns that line up on screen (CJK counts two columns), colour
only when asked, and a passing restore test's projected time against the RTO."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rich.cells import cell_len

from agent.config import parse_config
from agent.models import CheckResult, CopyResult, DatasetResult, RunResult, Status
from agent.output import run_table
from checks import policy_321

MOMENT = datetime(2026, 11, 29, 2, tzinfo=UTC)


def run_with(locations: dict[str, str]) -> RunResult:
    document = {
        "processes": {"p": {"name": "客户出货 / Customer shipping", "rpo": "4h", "rto": "1d"}},
        "targets": {name: {"kind": "local", "medium": "hdd", "location": location, "require_mount": False}
                    for name, location in locations.items()},
        "datasets": {"shipping-docs": {
            "process": "p",
            "primary": {"target": next(iter(locations)), "form": "files", "path": "/srv/p"},
            "copies": [{"target": name, "form": "files", "path": f"/srv/{name}"} for name in list(locations)[1:]],
        }},
    }
    dataset = parse_config(document, Path("/etc/backup-agent/targets.yaml")).datasets["shipping-docs"]
    copies = []
    for spec in dataset.all_copies:
        checks = [CheckResult("reachable", Status.PASS, "ok"), CheckResult("freshness", Status.PASS, "fresh")]
        if spec.role == "backup":
            checks.append(CheckResult("restore-test", Status.PASS, "restored",
                                      {"projected_restore_seconds": 5400.0, "rto_seconds": 86400.0}))
        copies.append(CopyResult(spec, checks, MOMENT, 3600.0 if spec.role == "backup" else None))
    copies[-1].checks.append(CheckResult("files-checksum", Status.FAIL, "1 mismatched (出货单 11月.txt)"))
    policy = policy_321.run_dataset(dataset, copies)
    return RunResult("run-1", MOMENT, MOMENT, [DatasetResult(dataset, copies, policy)], "host", "op", {})


def columns_of(line: str, word: str) -> int:
    """The screen column where word starts in line (CJK characters take two)."""
    return cell_len(line[:line.index(word)])


def test_the_table_has_a_header_and_lines_up_with_wide_characters() -> None:
    text = run_table(run_with({"droplet": "新加坡", "nas": "办公室-office", "hdd": "kc-home"}))
    lines = text.splitlines()
    header = next(line for line in lines if "TARGET" in line)
    assert all(word in header for word in ("STATUS", "ROLE", "FORM", "MEDIUM", "LOCATION", "AGE", "RESTORE"))
    rows = {line.split()[0]: line for line in lines
            if line.split()[:1] and line.split()[0] in ("droplet", "nas", "hdd") and line.split()[1] in ("PASS", "FAIL")}
    assert len({columns_of(row, " files ") for row in rows.values()}) == 1
    # The column after the CJK location starts at one screen column for every row.
    assert len({cell_len(row.rstrip()) - len(row.rstrip().split()[-1]) for row in rows.values()
                if "RTO" not in row}) <= 1
    ages = {columns_of(row, "1h") for name, row in rows.items() if name != "droplet"}
    assert len(ages) == 1


def test_a_passing_restore_test_shows_its_projection_against_the_rto() -> None:
    text = run_table(run_with({"droplet": "sgp", "nas": "office", "hdd": "home"}))
    nas = next(line for line in text.splitlines() if line.strip().startswith("nas"))
    assert "1h 30m ≤ RTO 1d" in nas or "1.5h ≤ RTO 1d" in nas or "≤ RTO 1d" in nas


def test_failures_are_named_under_the_table_and_the_headline_keeps_its_shape() -> None:
    text = run_table(run_with({"droplet": "sgp", "nas": "office", "hdd": "home"}))
    assert text.splitlines()[0].startswith("FAIL  shipping-docs")
    assert "hdd  files-checksum: fail 1 mismatched (出货单 11月.txt)" in text
    assert text.splitlines()[-1].startswith("0/1 datasets pass")
    assert all(line == line.rstrip() for line in text.splitlines())


def test_colour_only_when_asked() -> None:
    run = run_with({"droplet": "sgp", "nas": "office", "hdd": "home"})
    assert "\033[" not in run_table(run, colour=False)
    assert "\033[" in run_table(run, colour=True, width=120)
