"""A real S3 server on 127.0.0.1 for the s3 target tests (tests/support/seaweed.py), started once
per session; each test gets its own bucket(s)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.seaweed import SeaweedServer, new_bucket_name, start_seaweed

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """The session's S3 server."""
    server = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def doomed_seaweed(tmp_path: Path) -> Iterator[SeaweedServer]:
    """A second, private S3 server that a test may kill (SIGKILL, as a crash would); always stopped."""
    server = start_seaweed(tmp_path / "doomed-seaweed")
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


@pytest.fixture
def bucket(seaweed: SeaweedServer) -> str:
    """A fresh, empty bucket for one test."""
    name = new_bucket_name()
    seaweed.client().create_bucket(Bucket=name)
    return name


os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")  # never wait on an instance-metadata lookup
