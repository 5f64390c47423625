"""Shared by every test: each starts with no stop request pending.

A run that exhausted its budget leaves agent.interrupt.cancelled set (its workers may still be
stopping when it returns); the CLI process exits then, but a test process goes on, and the next
test that fetches into scratch outside run_verification (which clears it) would see a stop.
"""

from __future__ import annotations

import pytest

from agent import interrupt


@pytest.fixture(autouse=True)
def no_stop_requested():
    interrupt.cancelled.clear()
    yield
    interrupt.cancelled.clear()
