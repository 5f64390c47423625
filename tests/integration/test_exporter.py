"""`backup-agent metrics serve`: the real CLI serving on 127.0.0.1, scraped over HTTP.

Shows: /metrics answers with exactly the textfile's series (the same bytes: both come from the
latest full verify run); before any run it answers 503 and says why; a filtered run does not
replace the latest full run's metrics.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.exporter import parse_listen
from tests.support.servers import free_port, stop, wait_http
from tests.support.site import AGENT, agent, samples, write_site


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return write_site(tmp_path / "site")


@pytest.fixture
def exporter(site: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([AGENT, "--config", str(site), "metrics", "serve", "--listen", f"127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/", process)
        yield url
    finally:
        stop(process)


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_serves_the_same_series_as_the_textfile(site: Path, exporter: str) -> None:
    status, _, body = _get(exporter + "/metrics")
    assert status == 503 and b"no verify run" in body

    result = agent(site, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    status, content_type, body = _get(exporter + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    textfile = (site.parent / "metrics" / "backup_agent.prom").read_bytes()
    assert samples(body.decode()) == samples(textfile.decode())
    assert body == textfile
    names = {name for name, _ in samples(body.decode())}
    assert {"backup_agent_last_run_timestamp_seconds", "backup_agent_copy_age_seconds"} <= names


def test_a_filtered_run_keeps_the_full_runs_metrics(site: Path, exporter: str) -> None:
    assert agent(site, "verify").returncode == 0
    _, _, before = _get(exporter + "/metrics")
    assert agent(site, "verify", "--target", "ssd").returncode in (0, 1)
    _, _, after = _get(exporter + "/metrics")
    assert after == before


def test_other_paths(exporter: str) -> None:
    assert _get(exporter + "/")[0] == 200
    assert _get(exporter + "/nothing")[0] == 404


def test_listen_parsing() -> None:
    assert parse_listen("127.0.0.1:9919") == ("127.0.0.1", 9919)
    assert parse_listen("[::1]:9919") == ("::1", 9919)
    for bad in ("9919", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000"):
        with pytest.raises(ValueError):
            parse_listen(bad)


def test_bad_listen_is_a_usage_error(site: Path) -> None:
    result = agent(site, "metrics", "serve", "--listen", "nonsense")
    assert result.returncode == 2 and "HOST:PORT" in result.stderr
