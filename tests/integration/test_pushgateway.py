"""Pushgateway delivery against a real Pushgateway (Debian prometheus-pushgateway) on 127.0.0.1.

Shows: the run's series arrive in the group job="backup-agent", instance=<agent host> with the
same values as the textfile; with the gateway down the run still succeeds (same exit code,
records written) and warns.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.pushgateway import mask_url
from tests.support.servers import free_port, stop, wait_http
from tests.support.site import agent, samples, write_site

GATEWAY = "/usr/bin/prometheus-pushgateway"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[str]:
    if not shutil.which(GATEWAY):
        pytest.skip(f"{GATEWAY} missing (apt-get install prometheus-pushgateway)")
    port = free_port()
    process = subprocess.Popen(
        [GATEWAY, f"--web.listen-address=127.0.0.1:{port}", f"--persistence.file={tmp_path / 'gateway.data'}",
         "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/-/ready", process)
        yield url
    finally:
        stop(process)


def _gateway_series(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        return response.read().decode()


def test_push_reaches_the_gateway(gateway: str, tmp_path: Path) -> None:
    config = write_site(tmp_path / "site", pushgateway=gateway, host="agent-host-1")
    result = agent(config, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stderr

    textfile = (tmp_path / "site" / "metrics" / "backup_agent.prom").read_text()
    pushed = {key: value for key, value in samples(_gateway_series(gateway)).items()
              if key[0].startswith("backup_agent_")}
    expected = {(name, tuple(sorted((*labels, ("instance", "agent-host-1"), ("job", "backup-agent"))))): value
                for (name, labels), value in samples(textfile).items()}
    assert pushed == expected
    assert any(name == "backup_agent_last_run_timestamp_seconds" for name, _ in pushed)


def test_push_replaces_the_hosts_group(gateway: str, tmp_path: Path) -> None:
    """PUT semantics: a host's next run replaces its own group; other hosts' groups stay."""
    first = write_site(tmp_path / "one", pushgateway=gateway, host="host-a")
    second = write_site(tmp_path / "two", pushgateway=gateway, host="host-b")
    assert agent(first, "verify").returncode == 0
    assert agent(second, "verify").returncode == 0
    assert agent(first, "verify").returncode == 0
    runs = [(dict(labels)["instance"], value) for (name, labels), value in samples(_gateway_series(gateway)).items()
            if name == "backup_agent_last_run_timestamp_seconds"]
    assert sorted(instance for instance, _ in runs) == ["host-a", "host-b"]


def test_gateway_down_warns_and_changes_nothing(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    config = write_site(tmp_path / "site", pushgateway=down)
    result = agent(config, "verify", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"warning: metrics not pushed to Pushgateway {down}" in result.stderr
    assert '"status": "pass"' in result.stdout
    assert (tmp_path / "site" / "metrics" / "backup_agent.prom").exists(), "the textfile is still written"
    records = agent(config, "records", "verify")
    assert records.returncode == 0 and "chain intact" in records.stdout


def test_push_failure_message_hides_credentials() -> None:
    assert mask_url("http://user:s3cret@gw.example:9091/metrics") == "http://***@gw.example:9091/metrics"
