"""`backup-agent metrics serve`: an HTTP exporter for the latest run of this agent.

Each unfiltered `verify` run also writes its exposition to STATE_DIR/last-run.prom (atomically,
next to the records store it just committed to); the exporter serves that file verbatim. So the
exporter shows exactly what the textfile shows, costs nothing between runs, and never runs a
check itself (a scrape must not touch the targets). Nothing has run yet: 503, saying so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from agent import atomic, metrics
from agent.config import Config
from agent.errors import AgentError
from agent.models import RunResult

log = logging.getLogger(__name__)
LAST_RUN_FILE = "last-run.prom"
DEFAULT_LISTEN = "127.0.0.1:9919"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FLEET_CACHE_SECONDS = 30.0


def last_run_path(state_dir: Path) -> Path:
    return Path(state_dir) / LAST_RUN_FILE


def save_last_run(run: RunResult, state_dir: Path) -> Path:
    """Write the run's exposition to STATE_DIR/last-run.prom atomically (temp file + rename), so a
    scrape never sees half a file. Return the path. Raise OSError."""
    path = last_run_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.replace_file(path, metrics.render(run), mode=0o644)
    return path


def parse_listen(text: str) -> tuple[str, int]:
    """Given HOST:PORT (IPv6 as [::1]:PORT), return (host, port). Raise ValueError."""
    host, separator, port = text.rpartition(":")
    if not separator or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"--listen expects HOST:PORT, e.g. {DEFAULT_LISTEN}; got {text!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state_dir: Path, source: Callable[[], bytes] | None = None):
        if ":" in address[0]:
            import socket

            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.state_dir = state_dir
        self.source = source  # --fleet: the exposition made from the records store at scrape time


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "backup-agent-exporter"

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        path = self.path.split("?", 1)[0]
        if path == "/metrics" and self.server.source is not None:
            try:
                body = self.server.source()
            except AgentError as error:
                self._send(503, f"cannot read the records store: {error}\n".encode())
                return
            self._send(200, body, CONTENT_TYPE)
        elif path == "/metrics":
            try:
                body = last_run_path(self.server.state_dir).read_bytes()
            except FileNotFoundError:
                self._send(503, b"no verify run recorded yet in this state directory; run `backup-agent verify`\n")
                return
            except OSError as error:
                self._send(500, f"cannot read the last run's metrics: {error}\n".encode())
                return
            self._send(200, body, CONTENT_TYPE)
        elif path == "/":
            self._send(200, b"<html><body><h1>backup-agent</h1><p><a href=\"/metrics\">metrics of the latest "
                            b"run</a></p></body></html>\n", "text/html; charset=utf-8")
        else:
            self._send(404, b"not found; try /metrics\n")

    def _send(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        log.debug("%s %s", self.address_string(), format % args)


def make_server(state_dir: Path, listen: str = DEFAULT_LISTEN,
                source: Callable[[], bytes] | None = None) -> ThreadingHTTPServer:
    """Bind the exporter (raise OSError when the address is taken) without serving yet. source:
    what /metrics serves instead of the last run's file (`--fleet`)."""
    return _Server(parse_listen(listen), Path(state_dir), source)


def fleet_source(config: Config, cache_seconds: float = FLEET_CACHE_SECONDS) -> Callable[[], bytes]:
    """The fleet's exposition (agent.fleet_metrics) from the records store, read at most once per
    cache_seconds however often Prometheus scrapes. Raise AgentError when the store cannot be read."""
    from agent import fleet, fleet_metrics, verifications
    from agent.clock import now

    lock = threading.Lock()
    cached: list[tuple[float, bytes]] = []

    def source() -> bytes:
        with lock:
            if not cached or time.monotonic() - cached[0][0] > cache_seconds:
                moment = now()
                found = verifications.read(config, moment, kinds=("copy", "run"), strict=True)
                cached[:] = [(time.monotonic(), fleet_metrics.render(fleet.status_document(config, found, moment)))]
            return cached[0][1]
    return source
