"""Prometheus metrics for a finished run: written atomically for node_exporter's textfile collector.

Labels are dataset, process, target (plus role, form, check, status where they say what a series
is) — never a path, a URL or a credential; the run-level series (last_run_*, records_*) carry the
agent's name (label agent), so the runs of several agents stay apart. With several agents declared
(targets.yaml agents:), every agent holding a copy of a dataset judges it: the dataset's verdict
series (VERDICT_SERIES) then carry the agent label too, and BackupAgentDatasetNotCompliant takes
the worst of them (and of `metrics serve --fleet`), one alert per dataset. A single agent's series
are as they always were. The catalogue is in
README.md ("Metrics").
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    disable_created_metrics,
    generate_latest,
    write_to_textfile,
)

from agent.models import CopyResult, DatasetResult, RunResult, Status

log = logging.getLogger(__name__)
NAMESPACE = "backup_agent"
STATUSES = (Status.PASS, Status.FAIL, Status.ERROR, Status.SKIP)
COPY_LABELS = ("dataset", "process", "target", "role", "form", "medium", "location")
_PER_TARGET = ("dataset", "process", "target")
_PER_DATASET = ("dataset", "process")
_PER_AGENT = ("agent",)

# Every series of a run: name, help, labels, in the order the textfile lists them.
SERIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("copy_last_backup_timestamp_seconds", "Time of the copy's last good backup (Unix time).", COPY_LABELS),
    ("copy_age_seconds", "Age of the copy's last good backup at the time of the run.", COPY_LABELS),
    ("copy_rpo_seconds", "RPO of the process the copy belongs to.", COPY_LABELS),
    ("copy_status", "1 for the copy's current verification status (pass, fail, error).", (*COPY_LABELS, "status")),
    ("check_status", "1 for each check's current status per copy.",
     ("dataset", "process", "target", "role", "check", "status")),
    ("copy_read_data_coverage_ratio", "Share of restic packs read within the last read-data cycle.", _PER_TARGET),
    ("copy_pack_coverage_ratio", "Share of a restic copy's repository files (by=files) and bytes (by=bytes) whose "
     "SHA-256 was read and matched its name within agent.rehash_every (restic-packs; 0 until read).",
     (*_PER_TARGET, "by")),
    ("copy_pack_hashed_bytes", "Bytes of a restic copy's repository files read and hashed in the last run "
     "(restic-packs: new packs, and the night's share of the re-read cycle).", _PER_TARGET),
    ("restore_throughput_bytes_per_second", "Restore throughput measured by the copy's last restore test.",
     _PER_TARGET),
    ("restore_projected_seconds",
     "Projected full restore time of the dataset from this copy (compare with dataset_rto_seconds).", _PER_TARGET),
    ("copy_verified_bytes", "Bytes whose checksum was verified in the last run.", _PER_TARGET),
    ("anomaly_score", "Anomaly score of the copy's newest backup against its last clean one: the highest signal "
     "over its threshold (change rate, entropy, renames, ransom notes, canaries); 1 or more is a suspect.",
     _PER_TARGET),
    ("anomaly_last_clean_backup_timestamp_seconds", "Time of the copy's last backup the anomaly check found clean "
     "or an operator accepted (Unix time): the one to restore from when the newest is suspect.", _PER_TARGET),
    ("copy_hashed_bytes", "Bytes read and hashed in the last run to verify the copy, on the copy and on the "
     "primary (side); the primary's are read once a run, for the first copy compared with it.", (*_PER_TARGET, "side")),
    ("copy_reread_bytes", "Of copy_hashed_bytes, those of files unchanged since their last hash, read again to find "
     "bit rot (about 1/cycle of the bytes a night; every byte within agent.rehash_every).", (*_PER_TARGET, "side")),
    ("dataset_policy_compliant", "1 when the dataset meets its 3-2-1 policy on verified copies.", _PER_DATASET),
    ("dataset_status", "1 for the dataset's current overall status.", (*_PER_DATASET, "status")),
    ("dataset_verified_copies", "Copies (primary included) whose checks all passed.", _PER_DATASET),
    ("dataset_distinct_media", "Distinct media among verified copies.", _PER_DATASET),
    ("dataset_offsite_copies", "Verified copies away from the primary's location.", _PER_DATASET),
    ("dataset_immutable_copies", "Verified copies proven immutable.", _PER_DATASET),
    ("dataset_required_copies", "Copies the dataset's policy requires.", _PER_DATASET),
    ("dataset_rpo_seconds", "RPO of the dataset's process.", _PER_DATASET),
    ("dataset_rto_seconds", "RTO of the dataset's process.", _PER_DATASET),
    ("last_run_timestamp_seconds", "When the agent's last run finished (Unix time).", _PER_AGENT),
    ("last_run_duration_seconds", "How long the agent's last run took.", _PER_AGENT),
    ("last_run_success", "1 when the last run completed (whatever its verdicts), 0 when it was interrupted or ran "
     "out of its budget.", _PER_AGENT),
    ("last_run_datasets", "Datasets verified in the last run.", _PER_AGENT),
)
RECORDS_LAST_NUMBER = ("records_last_number", "Number of the newest QEF-19-05 record after the last run (an outside "
                       "anchor for the hash chain: it never goes down).")
RECORDS_LAST_HASH = ("records_last_hash_prefix", "First 52 bits (13 hex digits) of the newest QEF-19-05 record's "
                     "SHA-256, as an integer (exact in a float64; printf '%013x' VALUE gives the hex for `records "
                     "verify --anchor NUMBER:HEX`). It changes only together with records_last_number.")
RECORDS_UNDELIVERED = ("records_undelivered", "QEF-19-05 records of this agent waiting in its outbox for the shared "
                       "records store after the last run (0 without a shared store).")


# The dataset's verdict as this agent judged it: per agent when several agents judge the dataset.
VERDICT_SERIES = ("dataset_policy_compliant", "dataset_status", "dataset_verified_copies", "dataset_distinct_media",
                  "dataset_offsite_copies", "dataset_immutable_copies")


def build_registry(run: RunResult) -> CollectorRegistry:
    """Given a run, return a fresh registry holding its metrics (no process metrics leak in)."""
    # Gauges have no _created series; a counter added later must not grow one either. Said to the
    # library, not through PROMETHEUS_DISABLE_CREATED_SERIES, which every child process would inherit.
    disable_created_metrics()
    registry = CollectorRegistry(auto_describe=True)
    by_agent = ("agent",) if run.fleet else ()
    gauges = {name: Gauge(name, documentation, (*labels, *by_agent) if name in VERDICT_SERIES else labels,
                          namespace=NAMESPACE, registry=registry)
              for name, documentation, labels in SERIES}
    verdict = {"agent": run_agent(run)} if run.fleet else {}
    for dataset_result in run.datasets:
        ds = {"dataset": dataset_result.dataset.name, "process": dataset_result.dataset.process.name}
        for copy in dataset_result.copies:
            if copy.credit is not None and not copy.credit.offline:
                continue  # another agent's copy: its own agent exports it (no series twice)
            _copy_series(gauges, ds, copy, dataset_result.dataset.process.rpo_seconds)
        _dataset_series(gauges, ds, dataset_result, verdict)
    agent = {"agent": run_agent(run)}
    for (name, documentation), value in ((RECORDS_LAST_NUMBER, run.last_record_no),
                                         (RECORDS_LAST_HASH, run.last_record_hash),
                                         (RECORDS_UNDELIVERED, run.records_undelivered)):
        if value is not None:
            Gauge(name, documentation, _PER_AGENT, namespace=NAMESPACE, registry=registry).labels(**agent).set(
                hash_prefix(value) if isinstance(value, str) else value)
    gauges["last_run_timestamp_seconds"].labels(**agent).set(run.finished_at.timestamp())
    gauges["last_run_duration_seconds"].labels(**agent).set((run.finished_at - run.started_at).total_seconds())
    gauges["last_run_success"].labels(**agent).set(0 if run.interrupted or run.budget_exhausted else 1)
    gauges["last_run_datasets"].labels(**agent).set(len(run.datasets))
    return registry


def run_agent(run: RunResult) -> str:
    """The run's agent name (a run made without one: its host's name, as agent.name defaults to)."""
    from agent.agent_name import agent_name_from

    return run.agent or agent_name_from(run.agent_host)


def _copy_series(gauges: dict[str, Gauge], ds: dict[str, str], copy: CopyResult, rpo_seconds: float) -> None:
    spec = copy.spec
    labels = {**ds, "target": spec.target.name, "role": spec.role, "form": spec.form,
              "medium": spec.target.medium, "location": spec.target.location}
    if copy.last_backup_at is not None:
        gauges["copy_last_backup_timestamp_seconds"].labels(**labels).set(copy.last_backup_at.timestamp())
    if copy.age_seconds is not None:
        # No age for a last backup dated in the future (its check is an error): 0 would read as fresh.
        gauges["copy_age_seconds"].labels(**labels).set(copy.age_seconds)
    gauges["copy_rpo_seconds"].labels(**labels).set(rpo_seconds)
    for status in STATUSES[:3]:
        gauges["copy_status"].labels(**labels, status=str(status)).set(1 if copy.status == status else 0)
    if copy.status == Status.OFFLINE:  # an unplugged removable disk, still credited
        gauges["copy_status"].labels(**labels, status=str(Status.OFFLINE)).set(1)
    per_target = {**ds, "target": spec.target.name}
    for check in copy.checks:
        for status in STATUSES:
            gauges["check_status"].labels(**ds, target=spec.target.name, role=spec.role, check=check.name,
                                          status=str(status)).set(1 if check.status == status else 0)
        _set(gauges["copy_read_data_coverage_ratio"], per_target, check.measured.get("coverage_ratio"))
        if check.name == "restore-test":
            _set(gauges["restore_throughput_bytes_per_second"], per_target,
                 check.measured.get("throughput_bytes_per_second"))
            _set(gauges["restore_projected_seconds"], per_target, check.measured.get("projected_restore_seconds"))
        _set(gauges["copy_verified_bytes"], per_target, check.measured.get("bytes_verified"))
        if check.name == "anomaly":
            _set(gauges["anomaly_score"], per_target, check.measured.get("score"))
            _set(gauges["anomaly_last_clean_backup_timestamp_seconds"], per_target,
                 check.measured.get("last_clean_backup_timestamp"))
        if check.name == "restic-packs":
            for by, key in (("files", "pack_coverage_ratio"), ("bytes", "pack_coverage_bytes_ratio")):
                _set(gauges["copy_pack_coverage_ratio"], {**per_target, "by": by}, check.measured.get(key))
            _set(gauges["copy_pack_hashed_bytes"], per_target, check.measured.get("bytes_read"))
        if check.name == "files-checksum":
            for side, prefix in (("copy", ""), ("primary", "primary_")):
                _set(gauges["copy_hashed_bytes"], {**per_target, "side": side}, check.measured.get(f"{prefix}bytes_read"))
                _set(gauges["copy_reread_bytes"], {**per_target, "side": side},
                     check.measured.get(f"{prefix}bytes_reread"))


def _set(gauge: Gauge, labels: dict[str, str], value: Any) -> None:
    if value is not None:
        gauge.labels(**labels).set(value)


def _dataset_series(gauges: dict[str, Gauge], ds: dict[str, str], dataset_result: DatasetResult,
                    verdict: dict[str, str]) -> None:
    """The dataset's series; verdict: the agent label its verdict series carry ({} for a single agent)."""
    dataset = dataset_result.dataset
    measured = dataset_result.policy.measured
    judged = {**ds, **verdict}
    gauges["dataset_policy_compliant"].labels(**judged).set(1 if measured.get("compliant") else 0)
    for status in STATUSES[:3]:
        gauges["dataset_status"].labels(**judged, status=str(status)).set(1 if dataset_result.status == status else 0)
    for name, key in (("dataset_verified_copies", "verified_copies"), ("dataset_distinct_media", "distinct_media"),
                      ("dataset_offsite_copies", "offsite_copies"), ("dataset_immutable_copies", "immutable_copies")):
        gauges[name].labels(**judged).set(measured.get(key, 0))
    gauges["dataset_required_copies"].labels(**ds).set(dataset.policy.copies)
    gauges["dataset_rpo_seconds"].labels(**ds).set(dataset.process.rpo_seconds)
    gauges["dataset_rto_seconds"].labels(**ds).set(dataset.process.rto_seconds)


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
