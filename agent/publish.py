"""A finished run, published to its sinks in one step: the QEF-19-05 records (with the rotation
state, all or nothing) and their chain-head anchor (records.anchor), the Prometheus textfile, the
`metrics serve` file, the Pushgateway, and the notification hook. The CLI decides which sinks a
run feeds; this module is the one place that feeds them, in an order that keeps an audit honest:
records first (a run that cannot be recorded is an agent failure), then the rest, whose failures
only warn.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agent import exporter, metrics, notify, pushgateway, recording
from agent.config import Config
from agent.models import RunResult
from agent.records import anchoring

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sinks:
    """Which sinks a run feeds. `verify --dry-run` feeds none; `--no-records` keeps the state;
    a filtered run (--dataset, --target) leaves the metrics to the nightly full run."""

    records: bool = True
    state: bool = True
    metrics: bool = True
    notify: bool = True
    accepted_gap: str | None = None  # a records-chain gap the operator accepted (--accept-new-chain)

    @classmethod
    def dry_run(cls) -> Sinks:
        return cls(records=False, state=False, metrics=False, notify=False)


def notifier(config: Config, sinks: Sinks) -> notify.Notifier | None:
    """The run's notification hook, or None. A URL that cannot be read warns and notifies nothing."""
    settings = config.agent
    if not sinks.notify or not (settings.notify_url_file or settings.notify_url_env):
        return None
    try:
        url = notify.read_url(settings.notify_url_file, settings.notify_url_env)
    except (OSError, KeyError) as error:
        log.warning("no notification: %s", error)
        return None
    return notify.Notifier(url) if url else None


def publish(config: Config, run: RunResult, sinks: Sinks, hook: notify.Notifier | None = None) -> list[str]:
    """Feed the run to the chosen sinks. Raise what recording raises (NoSpaceError, ChainGapError,
    AgentError: the run is then not recorded and the caller exits 3); return the warnings of the
    sinks that failed after it (anchor, metrics, exporter, Pushgateway, notification)."""
    warnings: list[str] = []
    if sinks.records:
        recorded = recording.record_run(config, run, sinks.accepted_gap)
        # Records that could not reach the shared store wait in the outbox: a warning, never a verdict.
        warnings.append(recorded.warning or "")
        # The head in the store of record is anchored: the shared store's once delivered (records
        # still waiting are anchored by the run that delivers them), else the local store's.
        if recorded.head is not None:
            warnings.append(anchoring.anchor_head(config, recorded.head.seq, recorded.head.hash) or "")
    elif sinks.state and run.state is not None:
        run.state.save()
    if sinks.metrics:
        try:
            metrics.write_textfile(run, config.agent.metrics_file)
        except OSError as error:
            warnings.append(f"metrics not written to {config.agent.metrics_file}: {error}")
        try:
            exporter.save_last_run(run, config.agent.state_dir)
        except OSError as error:
            warnings.append(f"{exporter.LAST_RUN_FILE} not written (metrics serve): {error}")
        if config.agent.pushgateway:
            warnings.append(pushgateway.push_run(run, config.agent.pushgateway) or "")
    if hook is not None:
        event = notify.SUCCESS if run.compliant and not run.interrupted else notify.FAIL
        warnings.append(hook.ping(event, summary(run)) or "")
    return [w for w in warnings if w]


def summary(run: RunResult) -> str:
    """One line for a notification: how many datasets passed and which did not."""
    failing = [f"{d.dataset.name}: {d.status}" for d in run.datasets if str(d.status) != "pass"]
    agent = f" (agent {run.agent})" if run.agent else ""
    text = (f"backup-agent on {run.agent_host}{agent}: {len(run.datasets) - len(failing)}/{len(run.datasets)} "
            "datasets pass")
    if run.interrupted:
        text += " (interrupted)"
    return text + (f"; {', '.join(failing)}" if failing else "")
