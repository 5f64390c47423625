"""What a damaged restic repository makes the checks say: never a silent fall-back to an older
snapshot (issue 18 item 5), restic's own lines naming the damaged packs kept in the detail (item 4)."""

from __future__ import annotations

import json

import pytest

from agent.models import Status
from tests.support.restic import DATASET, FRESH_TAG, PASSWORD, flip_bytes, pack_files, restic_layout
from tests.support.sandbox import check_result, copy_result, statuses

pytestmark = pytest.mark.integration


def test_a_corrupt_newest_snapshot_is_a_freshness_error_naming_it(sandbox, restic_template, make_repo):
    repo = make_repo()
    restic_template.restic(repo, "backup", "--tag", FRESH_TAG, str(restic_template.data))
    snapshots = json.loads(restic_template.restic(repo, "snapshots", "--json"))
    newest = max(snapshots, key=lambda s: s["time"])
    flip_bytes(repo / "snapshots" / newest["id"], count=4)
    restic_layout(sandbox, restic_template, repo)

    copy = copy_result(sandbox.verify(), DATASET, "nas")

    freshness = check_result(copy, "freshness")
    # The template's FRESH_TAG snapshot (minutes old, RPO 1d) would pass: it must not stand in.
    assert freshness.status == Status.ERROR, statuses(copy)
    assert newest["short_id"] in freshness.detail
    assert "newest backup is not known" in freshness.detail
    assert copy.status != Status.PASS


def test_a_damaged_pack_is_named_in_the_read_data_detail(sandbox, restic_template, make_repo):
    repo = make_repo()
    data_pack = pack_files(repo)[0]
    flip_bytes(data_pack)
    sandbox.agent["read_data_cycle"] = "1d"  # t = 1: every pack is read this run
    restic_layout(sandbox, restic_template, repo)

    copy = copy_result(sandbox.verify(), DATASET, "nas")

    read_data = check_result(copy, "restic-read-data")
    assert read_data.status == Status.FAIL, statuses(copy)
    assert f"Pack ID does not match, want {data_pack.name}" in read_data.detail
    assert "Fatal: repository contains errors" in read_data.detail
    assert PASSWORD not in read_data.detail
