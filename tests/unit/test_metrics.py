"""agent.metrics.hash_prefix: the newest record's hash as a Prometheus sample value — its first 52
bits, which a float64 holds exactly, so `printf '%013x' VALUE` gives back the prefix an operator
passes to `records verify --anchor`."""

from __future__ import annotations

import pytest

from agent.metrics import hash_prefix


@pytest.mark.parametrize(("digest", "value"), [
    ("0" * 64, 0),
    ("f" * 64, 2**52 - 1),
    ("0123456789abc" + "d" * 51, 0x0123456789ABC),
    ("FEDCBA9876543" + "0" * 51, 0xFEDCBA9876543),
    ("0000000000001" + "f" * 51, 1),
])
def test_hash_prefix(digest: str, value: int) -> None:
    assert hash_prefix(digest) == value
    assert float(value) == value, "exact as a float64 sample"
    assert f"{int(float(value)):013x}" == digest[:13].lower()
