"""A real OpenSSH server on 127.0.0.1 for the ssh target tests, started once per session.

It stands in for both the Droplet (primary data) and the NAS (copies): each test gets its own
directory tree under the server's root, reached as root with a key (key-only, no PAM). The
server gets its own host key and authorized key; known_hosts pins `[127.0.0.1]:PORT`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.targets.base import TargetContext
from agent.targets.ssh import SshTarget
from tests.support.sshd import Sshd, make_context, make_target, running_sshd, sshd_available

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def sshd(tmp_path_factory) -> Iterator[Sshd]:
    if not sshd_available():
        pytest.skip("openssh-server is not installed (./bootstrap installs it)")
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture
def ssh_target(sshd):
    """An SshTarget to the test server, closed after the test."""
    handles = []

    def open_handle(context: TargetContext | None = None, **overrides) -> SshTarget:
        handle = SshTarget(make_target(**{k: v for k, v in overrides.items() if k in ("name", "medium")},
                                       **sshd.options(**{k: v for k, v in overrides.items()
                                                         if k not in ("name", "medium")})),
                           context or make_context())
        handles.append(handle)
        return handle

    yield open_handle
    for handle in handles:
        handle.close()

