"""agent.pushgateway.mask_url: a Pushgateway URL's credentials never reach a log line or a warning,
whether the URL is logged alone or quoted inside an error message. (Pushing for real:
tests/integration/test_pushgateway.py.)"""

from __future__ import annotations

import pytest

from agent.pushgateway import mask_url


@pytest.mark.parametrize(("text", "shown"), [
    ("http://127.0.0.1:9091", "http://127.0.0.1:9091"),
    ("https://user:s3cret@push.example.com/", "https://***@push.example.com/"),
    ("https://token@push.example.com", "https://***@push.example.com"),
    ("<urlopen error http://u:p@h:9091/metrics/job/x refused>", "<urlopen error http://***@h:9091/metrics/job/x refused>"),
    ("http://a:b@one and https://c:d@two", "http://***@one and https://***@two"),
    ("https://push.example.com/metrics/job/backup@host", "https://push.example.com/metrics/job/backup@host"),
    # prometheus_client puts http:// before a URL without a scheme, so this is a URL too: its
    # credentials would reach the warning as written.
    ("user:pass@gw:9091", "***@gw:9091"),
], ids=["plain", "user-password", "token", "in-a-message", "two", "at-in-path", "no-scheme"])
def test_mask_url(text: str, shown: str) -> None:
    assert mask_url(text) == shown
