"""Optional delivery of a run's metrics to a Prometheus Pushgateway (agent.pushgateway).

One group per agent host: job="backup-agent", instance=<agent host>. The push is an HTTP PUT,
which replaces the whole group, so a dataset removed from targets.yaml disappears from the
gateway with the next run instead of lingering forever. Scrape the gateway with
honor_labels: true so these labels survive.

A push failure is reported back as a warning and nothing else: delivering metrics must never
change a verification result or the exit code.
"""

from __future__ import annotations

import logging
import re

from prometheus_client import push_to_gateway

from agent import metrics
from agent.models import RunResult

log = logging.getLogger(__name__)
JOB = "backup-agent"
PUSH_TIMEOUT_SECONDS = 15.0


def grouping_key(run: RunResult) -> dict[str, str]:
    return {"instance": run.agent_host}


def push_run(run: RunResult, url: str, timeout: float = PUSH_TIMEOUT_SECONDS) -> str | None:
    """Given a finished run and the gateway URL, push the run's metrics. Return None on success,
    else a one-line warning (never raise: a metrics failure must not change the result)."""
    try:
        push_to_gateway(url, job=JOB, registry=metrics.build_registry(run), grouping_key=grouping_key(run),
                        timeout=timeout)
    except Exception as error:  # noqa: BLE001 - any failure, even a bug here, is only a warning
        log.debug("push to %s failed", mask_url(url), exc_info=True)
        return f"metrics not pushed to Pushgateway {mask_url(url)}: {mask_url(str(error))}"
    log.info("metrics pushed to %s (job=%s, instance=%s)", mask_url(url), JOB, run.agent_host)
    return None


def mask_url(text: str) -> str:
    """Hide user:password@ in a URL (or in an error message quoting it)."""
    # After a scheme, or at the start of a word: prometheus_client puts http:// before a URL
    # written without one, so "user:pass@gw:9091" is a URL with credentials too.
    return re.sub(r"(?:(?<=://)|(?<![\w./:@-]))[^/@\s:]+(?::[^/@\s]*)?@", "***@", text)
