"""A dead-man's switch for small sites without Prometheus: the run's outcome pinged to a URL, in
the healthchecks.io style every such service understands — URL/start when a run begins, URL on
success, URL/fail on a breach or a failure, with a one-line summary as the body.

The ping URL is a capability (whoever knows it can report "all good"), so it is read from a file
or the environment like any secret and never appears in output or logs: only its host does. A
notification that fails warns; it never changes a verification result or the exit code.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10.0
START, SUCCESS, FAIL = "start", "success", "fail"
_SUFFIX = {START: "/start", SUCCESS: "", FAIL: "/fail"}


@dataclass(frozen=True)
class Notifier:
    url: str

    @property
    def shown(self) -> str:
        """What may be printed about the URL: scheme and host, never the path that holds the key."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/…"

    def ping(self, event: str, summary: str = "") -> str | None:
        """Send one event; return a warning (never raising) when it could not be delivered."""
        target = self.url.rstrip("/") + _SUFFIX[event]
        request = urllib.request.Request(target, data=summary.encode("utf-8")[:10_000], method="POST",
                                         headers={"Content-Type": "text/plain; charset=utf-8",
                                                  "User-Agent": "backup-agent"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - https/http only
                if response.status >= 300:
                    return f"notification '{event}' to {self.shown} answered HTTP {response.status}"
        except urllib.error.HTTPError as error:
            return f"notification '{event}' to {self.shown} answered HTTP {error.code}"
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            return f"notification '{event}' to {self.shown} failed: {type(reason).__name__}"
        log.info("notified %s: %s", self.shown, event)
        return None


def read_url(url_file: str | None, url_env: str | None) -> str | None:
    """The ping URL from agent.notify.url_file or .url_env (None when neither is set). Raise
    OSError / KeyError with a message that names the source, never the value."""
    import os

    if url_file:
        with open(url_file, encoding="utf-8") as handle:
            return handle.read().strip() or None
    if url_env:
        value = os.environ.get(url_env, "").strip()
        if not value:
            raise KeyError(f"environment variable {url_env} (agent.notify.url_env) is not set")
        return value
    return None
