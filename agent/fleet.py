"""`fleet status`: the whole company from the records store alone, no target contacted.

- every agent's last run and its age; an agent silent for longer than its interval plus grace (or
  declared and never heard from) is flagged: a dead-man at the centre, not only on each host;
- every copy's latest verification (agent, when, result);
- every dataset's verdict now: each copy counted from its latest verification by the same rules
  as a nightly run (agent.credit), then 3-2-1 (checks/policy_321).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import checks
from agent import verifications
from agent.clock import iso
from agent.config import Config
from agent.models import CopyResult, Status
from agent.units import format_duration


@dataclass(frozen=True)
class AgentState:
    name: str
    description: str
    due_seconds: float
    last_run_at: datetime | None
    result: str | None
    declared: bool
    age_seconds: float | None

    @property
    def overdue(self) -> bool:
        return self.age_seconds is None or self.age_seconds > self.due_seconds

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "declared": self.declared,
                "last_run_at": iso(self.last_run_at), "last_run_result": self.result,
                "age_seconds": round(self.age_seconds, 3) if self.age_seconds is not None else None,
                "due_seconds": self.due_seconds, "overdue": self.overdue}


def agent_states(config: Config, found: verifications.Verifications, now: datetime) -> list[AgentState]:
    """Every declared agent (this one when none are) and every agent the store heard from."""
    names = sorted(set(config.agents or [config.agent.name]) | set(found.runs))
    states = []
    for name in names:
        spec = config.agent_spec(name)
        run = found.runs.get(name)
        at = run.recorded_at if run else None
        states.append(AgentState(name, spec.description, spec.due_seconds, at, run.result if run else None,
                                 name in config.agents or not config.agents,
                                 max(0.0, (now - at).total_seconds()) if at else None))
    return states


def dataset_verdicts(config: Config, found: verifications.Verifications, now: datetime) -> list[tuple[Any, list[CopyResult], Any]]:
    """Each dataset with its copies counted from their latest verifications, and its 3-2-1 verdict."""
    judged = []
    for dataset in config.datasets.values():
        copies = [verifications.credited_copy(config, dataset, spec, found, now, fleet_view=True)
                  for spec in dataset.all_copies]
        judged.append((dataset, copies, checks.get("policy-321").run_dataset(dataset, copies)))
    return judged


def status_document(config: Config, found: verifications.Verifications, now: datetime) -> dict[str, Any]:
    """The `fleet status --json` document."""
    agents = agent_states(config, found, now)
    datasets = []
    for dataset, copies, policy in dataset_verdicts(config, found, now):
        datasets.append({
            "name": dataset.name, "process": dataset.process.name,
            "status": "pass" if policy.status == Status.PASS and all(c.verified for c in copies)
                      else "fail" if policy.status == Status.FAIL else "error",
            "policy": {"status": str(policy.status), "detail": policy.detail, **policy.measured},
            "copies": [{"target": c.spec.target.name, "role": c.spec.role, "form": c.spec.form,
                        "agent": config.owner(c.spec.target), "status": str(c.status),
                        "credit": c.credit.to_json() if c.credit else None} for c in copies],
        })
    return {"generated_at": iso(now), "store": found.source, "agents": [a.to_json() for a in agents],
            "datasets": datasets,
            "status": "pass" if not any(a.overdue for a in agents) and all(d["status"] == "pass" for d in datasets)
            else "fail"}


def status_table(document: dict[str, Any]) -> str:
    """The document as a person reads it."""
    lines = [f"fleet status at {document['generated_at']} (from {document['store']})", "", "AGENTS"]
    for agent in document["agents"]:
        flag = "OVERDUE" if agent["overdue"] else "ok"
        seen = (f"last run {agent['last_run_at']} ({format_duration(agent['age_seconds'])} ago, "
                f"{agent['last_run_result']})" if agent["last_run_at"] else "never reported")
        lines.append(f"  {flag:<8}{agent['name']:<16}{seen}; due every {format_duration(agent['due_seconds'])}"
                     + ("" if agent["declared"] else " (not declared under agents:)"))
    lines += ["", "DATASETS"]
    for dataset in document["datasets"]:
        lines.append(f"  {dataset['status'].upper():<8}{dataset['name']}  {dataset['policy']['detail']}")
        for copy in dataset["copies"]:
            source = (copy["credit"] or {}).get("from") or {}
            last = (f"last verified by {source['agent']} at {source['recorded_at']}: {source['result']}" if source
                    else "never verified")
            lines.append(f"    {copy['status']:<8}{copy['target']:<12}{copy['role']:<8}agent {copy['agent']:<12}{last}")
    return "\n".join(lines)
