"""`verify --dry-run` checks and prints but writes nothing; the notification hook pings a real
HTTP server on 127.0.0.1 with start, then success or fail, and a dead hook only warns."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.demo import Demo

NOTIFY_KEY = "3f1c9a52-secret-ping-key"


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file under the roots with a hash of its bytes (the lock file's hint aside)."""
    found = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.name != "run.lock":
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def test_dry_run_checks_and_prints_but_writes_nothing(demo: Demo, sandbox_copy) -> None:
    config = sandbox_copy()
    state, metrics = config.parent / "state", config.parent / "metrics"
    before = snapshot(state, metrics)
    done = run_cli(["--config", str(config), "verify", "--dry-run", "--json"], demo.env)
    assert done.returncode == 1, done.stderr  # the demo's designed breach is still reported
    document = done.json()
    assert {d["name"] for d in document["datasets"]} >= {"platform-db", "shipping-docs"}
    hashed = [c for d in document["datasets"] for c in d["copies"] for ch in c["checks"]
              if ch["name"] == "files-checksum" and ch["status"] == "pass"]
    assert hashed, "the checks really ran"
    after = snapshot(state, metrics)
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)
               and "restic-cache" not in p and not p.endswith("restic-children.jsonl")}
    assert changed == set(), changed


def test_dry_run_on_a_fresh_state_directory_creates_no_records_or_cache(demo: Demo, sandbox_copy) -> None:
    config = sandbox_copy()
    state = config.parent / "state"
    for name in ("records.sqlite", "records.sqlite.head", "hash-cache.sqlite", "state.json"):
        (state / name).unlink(missing_ok=True)
    for leftover in state.glob("records*"):
        leftover.unlink()
    done = run_cli(["--config", str(config), "verify", "--dry-run"], demo.env)
    assert done.returncode == 1, done.stderr
    assert not (state / "records.sqlite").exists() and not (state / "hash-cache.sqlite").exists()
    assert not (state / "state.json").exists()


class Pings(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
        type(self).seen.append((self.path, body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def ping_server() -> Iterator[tuple[str, type[Pings]]]:
    handler = type("Handler", (Pings,), {"seen": [], "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ping/{NOTIFY_KEY}", handler
    finally:
        server.shutdown()
        server.server_close()


def with_notify(config: Path, url_file: Path) -> None:
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("agent:\n", f"agent:\n  notify: {{url_file: {url_file}}}\n", 1), encoding="utf-8")


def test_the_hook_hears_start_then_fail_and_never_sees_the_key_leak(demo: Demo, sandbox_copy, ping_server) -> None:
    url, handler = ping_server
    config = sandbox_copy()
    (config.parent / "notify.url").write_text(url + "\n")
    with_notify(config, config.parent / "notify.url")
    done = run_cli(["--config", str(config), "-v", "verify"], demo.env)
    assert done.returncode == 1, done.stderr
    paths = [path for path, _ in handler.seen]
    assert paths == [f"/ping/{NOTIFY_KEY}/start", f"/ping/{NOTIFY_KEY}/fail"]
    assert "3/4 datasets pass" in handler.seen[-1][1] and "shipping-docs: fail" in handler.seen[-1][1]
    assert NOTIFY_KEY not in done.stdout + done.stderr


def test_success_pings_the_bare_url_and_dry_run_pings_nothing(demo: Demo, sandbox_copy, ping_server) -> None:
    url, handler = ping_server
    config = sandbox_copy()
    (config.parent / "notify.url").write_text(url)
    with_notify(config, config.parent / "notify.url")
    done = run_cli(["--config", str(config), "verify", "--dataset", "finance-records"], demo.env)
    assert done.returncode == 0, done.stderr
    assert [path for path, _ in handler.seen] == [f"/ping/{NOTIFY_KEY}/start", f"/ping/{NOTIFY_KEY}"]
    handler.seen.clear()
    assert run_cli(["--config", str(config), "verify", "--dry-run"], demo.env).returncode == 1
    assert handler.seen == []


def test_a_dead_hook_only_warns(demo: Demo, sandbox_copy, ping_server) -> None:
    url, handler = ping_server
    handler.status = 500
    config = sandbox_copy()
    (config.parent / "notify.url").write_text(url)
    with_notify(config, config.parent / "notify.url")
    done = run_cli(["--config", str(config), "verify", "--dataset", "finance-records"], demo.env)
    assert done.returncode == 0, done.stderr
    assert "warning: notification" in done.stderr and "HTTP 500" in done.stderr
    assert NOTIFY_KEY not in done.stderr
