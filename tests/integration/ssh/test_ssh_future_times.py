"""Times in the future over the real sshd: a primary file on the "droplet" dated days ahead whose
copy on the "nas" is corrupted (never compared before: "changed since the last sync"), a stamp
dated ahead on a stale remote mirror, and an honest remote mirror that still passes. Both ends are
listed by remote `find`, so the dates are the remote host's."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from agent.models import Status
from tests.support.names import corrupt_in_place
from tests.support.sandbox import Sandbox, check_result, copy_result, mirror, statuses
from tests.support.sshd import target_config

pytestmark = pytest.mark.integration

DATASET = "finance-records"
AHEAD = 3 * 86400
VICTIM = "docs/readme.txt"


def remote_layout(sandbox: Sandbox, sshd, sample_tree: Path) -> tuple[Path, Path]:
    primary = Path(shutil.copytree(sample_tree, sandbox.root / "droplet" / "data"))
    copy = mirror(primary, sandbox.root / "nas" / "mirror")
    sandbox.targets["droplet"] = target_config(sshd, "cloud-vm", "do-sgp1")
    sandbox.targets["nas"] = target_config(sshd, "nas", "office")
    sandbox.dataset(DATASET, Sandbox.files_copy("droplet", primary, stamp=None), [Sandbox.files_copy("nas", copy)],
                    policy={"copies": 2, "media": 2, "offsite": 1})
    return primary, copy


def date_ahead(*paths: Path) -> None:
    when = time.time() + AHEAD
    for path in paths:
        os.utime(path, (when, when))


def nas(sandbox: Sandbox):
    return copy_result(sandbox.verify(), DATASET, "nas")


def test_future_dated_remote_primary_file_corrupted_on_the_remote_copy_fails(files_sandbox, sshd, sample_tree):
    primary, copy = remote_layout(files_sandbox, sshd, sample_tree)
    date_ahead(primary / VICTIM, copy / VICTIM)
    corrupt_in_place(copy / VICTIM)
    checksum = check_result(nas(files_sandbox), "files-checksum")
    assert checksum.status == Status.FAIL, checksum.detail
    assert f"1 mismatched ({VICTIM})" in checksum.detail and checksum.measured["files_future_dated"] == 1


def test_future_dated_remote_primary_file_with_an_honest_copy_passes(files_sandbox, sshd, sample_tree):
    primary, copy = remote_layout(files_sandbox, sshd, sample_tree)
    date_ahead(primary / VICTIM, copy / VICTIM)
    result = nas(files_sandbox)
    assert result.status == Status.PASS, statuses(result)
    assert check_result(result, "files-checksum").measured["files_future_dated"] == 1


def test_future_stamp_on_a_stale_remote_mirror_is_an_error(files_sandbox, sshd, sample_tree):
    _, copy = remote_layout(files_sandbox, sshd, sample_tree)
    stale = time.time() - 10 * 86400
    for path in copy.rglob("*"):
        os.utime(path, (stale, stale))
    date_ahead(copy / ".last-sync")
    result = nas(files_sandbox)
    freshness = check_result(result, "freshness")
    assert freshness.status == Status.ERROR and "ahead of this host's clock" in freshness.detail, freshness.detail
    assert freshness.measured["age_seconds"] is None and result.age_seconds is None
    assert result.status != Status.PASS
