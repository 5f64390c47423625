"""Prometheus series of the whole fleet, from `fleet status` (the records store alone), exported once
for the company by whichever host serves them (`metrics serve --fleet`), never once per agent.

- backup_agent_fleet_agent_last_run_timestamp_seconds{agent}: 0 for a declared agent never heard from;
- backup_agent_fleet_agent_due_seconds{agent}: its interval plus grace (the dead-agent alert compares);
- backup_agent_fleet_dataset_status{dataset, process, status}: 1 for the dataset's verdict now;
- backup_agent_fleet_copy_last_verified_timestamp_seconds{dataset, target, role, agent}: the copy's
  latest verification (agent: who made it), whatever its result;
- backup_agent_fleet_copy_status{dataset, target, role, status}: 1 for what the copy counts for now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, disable_created_metrics, generate_latest

from agent.metrics import NAMESPACE

STATUSES = ("pass", "fail", "error")
COPY_STATUSES = ("pass", "error")


def _timestamp(text: str | None) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else 0.0


def build_registry(document: dict[str, Any]) -> CollectorRegistry:
    """Given a `fleet status` document, return its series in a fresh registry."""
    disable_created_metrics()
    registry = CollectorRegistry(auto_describe=True)

    def gauge(name: str, documentation: str, labels: tuple[str, ...]) -> Gauge:
        return Gauge(f"fleet_{name}", documentation, labels, namespace=NAMESPACE, registry=registry)

    last_run = gauge("agent_last_run_timestamp_seconds", "Time of the agent's last run in the records store "
                     "(0: never heard from).", ("agent",))
    due = gauge("agent_due_seconds", "The agent's interval plus grace: silent longer, it is flagged.", ("agent",))
    for agent in document["agents"]:
        last_run.labels(agent=agent["name"]).set(_timestamp(agent["last_run_at"]))
        due.labels(agent=agent["name"]).set(agent["due_seconds"])
    dataset_status = gauge("dataset_status", "1 for the dataset's 3-2-1 verdict now, from every copy's latest "
                           "verification.", ("dataset", "process", "status"))
    verified = gauge("copy_last_verified_timestamp_seconds", "Time of the copy's latest verification (agent: who "
                     "made it).", ("dataset", "target", "role", "agent"))
    copy_status = gauge("copy_status", "1 for what the copy counts for now (pass: credited from its latest "
                        "verification; error: not counted).", ("dataset", "target", "role", "status"))
    for dataset in document["datasets"]:
        for status in STATUSES:
            dataset_status.labels(dataset=dataset["name"], process=dataset["process"],
                                  status=status).set(1 if dataset["status"] == status else 0)
        for copy in dataset["copies"]:
            source = (copy["credit"] or {}).get("from")
            if source:
                verified.labels(dataset=dataset["name"], target=copy["target"], role=copy["role"],
                                agent=source["agent"]).set(_timestamp(source["recorded_at"]))
            for status in COPY_STATUSES:
                copy_status.labels(dataset=dataset["name"], target=copy["target"], role=copy["role"],
                                   status=status).set(1 if copy["status"] == status else 0)
    return registry


def render(document: dict[str, Any]) -> bytes:
    return generate_latest(build_registry(document))
