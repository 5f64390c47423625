"""The whole run under agent.run_budget: a copy still being checked when the budget runs out is
`error` (never pass, never silently missing), the copies that finished keep their verdicts, and the
run says it was cut short (backup_agent_last_run_success 0, the BackupAgentRunIncomplete alert)."""

from __future__ import annotations

import re

import pytest

from agent import metrics
from agent.models import Status
from tests.support.sandbox import check_result, copy_result, mirror, statuses

pytestmark = pytest.mark.integration


def test_a_copy_not_finished_within_the_budget_is_an_error(sandbox, sample_tree, make_repo, tmp_path):
    slow_password = tmp_path / "slow-password.sh"
    slow_password.write_text(f"#!/bin/sh\nsleep 6\ncat {sandbox.password_file}\n")
    slow_password.chmod(0o700)
    sandbox.agent.update({"run_budget": "2s"})
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("hdd", "hdd", "kc-home")
    sandbox.target("nas", "nas", "office")
    sandbox.dataset("platform-db", primary=sandbox.files_copy("droplet", sample_tree, stamp=None), copies=[
        sandbox.files_copy("hdd", mirror(sample_tree, tmp_path / "hdd" / "db")),
        sandbox.restic_copy("nas", make_repo("nas-repo"), password_command=str(slow_password)),
    ])

    run = sandbox.verify()

    assert copy_result(run, "platform-db", "hdd").status == Status.PASS
    slow = copy_result(run, "platform-db", "nas")
    assert slow.status == Status.ERROR, statuses(slow)
    assert "run budget" in check_result(slow, "reachable").detail
    assert run.budget_exhausted and not run.compliant
    assert b'backup_agent_last_run_success{agent="' in metrics.render(run)
    assert re.search(rb'^backup_agent_last_run_success\{agent="[^"]+"\} 0\.0$', metrics.render(run), re.M)
