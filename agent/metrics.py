"""Prometheus metrics for a finished run: written atomically for node_exporter's textfile collector.

Labels are dataset, process, target (plus role, form, check, status where they say what a series
is) — never a path, a URL or a credential. The catalogue is in README.md ("Metrics").
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

os.environ.setdefault("PROMETHEUS_DISABLE_CREATED_SERIES", "True")

from prometheus_client import CollectorRegistry, Gauge, generate_latest, write_to_textfile  # noqa: E402

from agent.models import RunResult, Status  # noqa: E402

log = logging.getLogger(__name__)
NAMESPACE = "backup_agent"
STATUSES = (Status.PASS, Status.FAIL, Status.ERROR, Status.SKIP)
COPY_LABELS = ("dataset", "process", "target", "role", "form", "medium", "location")


def build_registry(run: RunResult) -> CollectorRegistry:
    """Given a run, return a fresh registry holding its metrics (no process metrics leak in)."""
    registry = CollectorRegistry(auto_describe=True)

    def gauge(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, documentation, labels, namespace=NAMESPACE, registry=registry)

    last_backup = gauge("copy_last_backup_timestamp_seconds", "Time of the copy's last good backup (Unix time).",
                        COPY_LABELS)
    age = gauge("copy_age_seconds", "Age of the copy's last good backup at the time of the run.", COPY_LABELS)
    copy_rpo = gauge("copy_rpo_seconds", "RPO of the process the copy belongs to.", COPY_LABELS)
    copy_status = gauge("copy_status", "1 for the copy's current verification status (pass, fail, error).",
                        (*COPY_LABELS, "status"))
    check_status = gauge("check_status", "1 for each check's current status per copy.",
                         ("dataset", "process", "target", "role", "check", "status"))
    coverage = gauge("copy_read_data_coverage_ratio", "Share of restic packs read within the last read-data cycle.",
                     ("dataset", "process", "target"))
    restore_throughput = gauge("restore_throughput_bytes_per_second",
                               "Restore throughput measured by the copy's last restore test.", ("dataset", "process", "target"))
    restore_projected = gauge("restore_projected_seconds",
                              "Projected full restore time of the dataset from this copy (compare with dataset_rto_seconds).",
                              ("dataset", "process", "target"))
    bytes_verified = gauge("copy_verified_bytes", "Bytes whose checksum was verified in the last run.",
                           ("dataset", "process", "target"))
    compliant = gauge("dataset_policy_compliant", "1 when the dataset meets its 3-2-1 policy on verified copies.",
                      ("dataset", "process"))
    dataset_status = gauge("dataset_status", "1 for the dataset's current overall status.",
                           ("dataset", "process", "status"))
    verified = gauge("dataset_verified_copies", "Copies (primary included) whose checks all passed.", ("dataset", "process"))
    media = gauge("dataset_distinct_media", "Distinct media among verified copies.", ("dataset", "process"))
    offsite = gauge("dataset_offsite_copies", "Verified copies away from the primary's location.", ("dataset", "process"))
    immutable = gauge("dataset_immutable_copies", "Verified copies proven immutable.", ("dataset", "process"))
    required = gauge("dataset_required_copies", "Copies the dataset's policy requires.", ("dataset", "process"))
    rpo = gauge("dataset_rpo_seconds", "RPO of the dataset's process.", ("dataset", "process"))
    rto = gauge("dataset_rto_seconds", "RTO of the dataset's process.", ("dataset", "process"))
    last_run = gauge("last_run_timestamp_seconds", "When the agent's last run finished (Unix time).")
    duration = gauge("last_run_duration_seconds", "How long the agent's last run took.")
    success = gauge("last_run_success", "1 when the last run completed (whatever its verdicts), 0 when it was interrupted or ran out of its budget.")
    datasets_total = gauge("last_run_datasets", "Datasets verified in the last run.")

    for dataset_result in run.datasets:
        dataset = dataset_result.dataset
        ds = {"dataset": dataset.name, "process": dataset.process.name}
        for copy in dataset_result.copies:
            spec = copy.spec
            labels = {**ds, "target": spec.target.name, "role": spec.role, "form": spec.form,
                      "medium": spec.target.medium, "location": spec.target.location}
            if copy.last_backup_at is not None:
                last_backup.labels(**labels).set(copy.last_backup_at.timestamp())
            if copy.age_seconds is not None:
                # No age for a last backup dated in the future (its check is an error): 0 would read as fresh.
                age.labels(**labels).set(copy.age_seconds)
            copy_rpo.labels(**labels).set(dataset.process.rpo_seconds)
            for status in STATUSES[:3]:
                copy_status.labels(**labels, status=str(status)).set(1 if copy.status == status else 0)
            for check in copy.checks:
                for status in STATUSES:
                    check_status.labels(**ds, target=spec.target.name, role=spec.role, check=check.name,
                                        status=str(status)).set(1 if check.status == status else 0)
                if "coverage_ratio" in check.measured:
                    coverage.labels(**ds, target=spec.target.name).set(check.measured["coverage_ratio"])
                if check.name == "restore-test" and check.measured.get("throughput_bytes_per_second") is not None:
                    restore_throughput.labels(**ds, target=spec.target.name).set(
                        check.measured["throughput_bytes_per_second"])
                if check.name == "restore-test" and check.measured.get("projected_restore_seconds") is not None:
                    restore_projected.labels(**ds, target=spec.target.name).set(check.measured["projected_restore_seconds"])
                if check.measured.get("bytes_verified") is not None:
                    bytes_verified.labels(**ds, target=spec.target.name).set(check.measured["bytes_verified"])
        measured = dataset_result.policy.measured
        compliant.labels(**ds).set(1 if measured.get("compliant") else 0)
        for status in STATUSES[:3]:
            dataset_status.labels(**ds, status=str(status)).set(1 if dataset_result.status == status else 0)
        verified.labels(**ds).set(measured.get("verified_copies", 0))
        media.labels(**ds).set(measured.get("distinct_media", 0))
        offsite.labels(**ds).set(measured.get("offsite_copies", 0))
        immutable.labels(**ds).set(measured.get("immutable_copies", 0))
        required.labels(**ds).set(dataset.policy.copies)
        rpo.labels(**ds).set(dataset.process.rpo_seconds)
        rto.labels(**ds).set(dataset.process.rto_seconds)
    if run.last_record_no is not None:
        gauge("records_last_number", "Number of the newest QEF-19-05 record after the last run (an outside "
              "anchor for the hash chain: it never goes down).").set(run.last_record_no)
    if run.last_record_hash is not None:
        gauge("records_last_hash_prefix", "First 52 bits (13 hex digits) of the newest QEF-19-05 record's SHA-256, "
              "as an integer (exact in a float64; printf '%013x' VALUE gives the hex for `records verify --anchor "
              "NUMBER:HEX`). It changes only together with records_last_number.").set(hash_prefix(run.last_record_hash))
    last_run.set(run.finished_at.timestamp())
    duration.set((run.finished_at - run.started_at).total_seconds())
    success.set(0 if run.interrupted or run.budget_exhausted else 1)
    datasets_total.set(len(run.datasets))
    return registry


def hash_prefix(digest: str) -> int:
    """The first 52 bits of a hex digest as an integer: the most a Prometheus sample (a float64,
    53-bit mantissa) holds exactly. A label would hold all of it, but as a new series every run."""
    return int(digest[:13], 16)


def render(run: RunResult) -> bytes:
    return generate_latest(build_registry(run))


def write_textfile(run: RunResult, path: Path) -> None:
    """Write the run's metrics to path atomically (temp file + rename). Raise OSError on failure."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), build_registry(run))
