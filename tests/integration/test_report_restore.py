"""The report's restore-test and drill sections fed by the real producers, not by hand-made rows.

A real `backup-agent verify --restore-test` (checks/restore_test.py: a kind "check" record named
restore-test with its projected full restore time) and a real `backup-agent drill` (agent/drill.py:
form QEF-19-03, kind "drill", with its actual time) against a copy of the session's restic
repository, then a drill from a copy whose repository is gone (an error after a second, which
must not count as restoring within the RTO). The report is then made through the CLI, with HOME
unwritable as under the systemd unit. Nothing is mocked; ≈ 15 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agent.records import FORM_DRILL, RecordStore
from reports import build_report
from tests.support.restic import ResticTemplate
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.integration

DATASET = "platform-db"


def cli(sandbox: Sandbox, *args: str, env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI; env entries override the inherited environment, None removes one."""
    environment = {k: v for k, v in os.environ.items() if k != "BACKUP_AGENT_NOW"}
    environment["RESTIC_CACHE_DIR"] = str(sandbox.root / "restic-cache")
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run([sys.executable, "-c", "from agent.cli import main; main()",
                           "--config", str(sandbox.root / "targets.yaml"), *args],
                          capture_output=True, text=True, timeout=300, env=environment)


def test_real_restore_test_and_drills_feed_the_rto_kpi(sandbox: Sandbox, restic_template: ResticTemplate,
                                                       make_repo) -> None:
    primary = Path(shutil.copytree(restic_template.data, sandbox.root / "primary" / "data"))
    repo, gone = make_repo("nas"), make_repo("offsite")
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("nas", "nas", "office")
    sandbox.target("offsite", "object-storage", "cloud-hk")
    sandbox.dataset(DATASET, primary=sandbox.files_copy("droplet", primary, stamp=None),
                    copies=[sandbox.restic_copy("nas", repo, snapshot_filter={"tags": [DATASET]}),
                            sandbox.restic_copy("offsite", gone, snapshot_filter={"tags": [DATASET]})])
    sandbox.config()

    verified = cli(sandbox, "verify", "--restore-test", "--target", "nas")
    assert verified.returncode in (0, 1), verified.stderr  # 1: a --target run sees only some copies
    drilled = cli(sandbox, "drill", DATASET, "--from", "nas")
    assert drilled.returncode == 0, drilled.stderr + drilled.stdout
    shutil.rmtree(gone)  # the offsite repository is lost: the drill errors at once
    failed = cli(sandbox, "drill", DATASET, "--from", "offsite")
    assert failed.returncode != 0, failed.stdout

    with RecordStore(sandbox.root / "state" / "records.sqlite") as store:
        rows = list(store.rows())
        assert store.verify_chain().ok
    (test_row,) = [r for r in rows if r["kind"] == "check" and r["check_name"] == "restore-test"]
    drill_rows = [r for r in rows if r["kind"] == "drill"]
    assert test_row["result"] == "pass" and test_row["projected_restore_seconds"] > 0
    assert [(r["form"], r["target"], r["result"]) for r in drill_rows] == [
        (FORM_DRILL, "nas", "pass"), (FORM_DRILL, "offsite", "error")]
    # The errored drill took almost no time: counted on time alone it would be "within the RTO".
    assert drill_rows[1]["restore_seconds"] < 14400

    month = test_row["recorded_at"][:7]
    last = datetime.fromisoformat(rows[-1]["recorded_at"].replace("Z", "+00:00"))
    generated = (last + timedelta(minutes=5)).replace(microsecond=0)
    with RecordStore(sandbox.root / "state" / "records.sqlite") as store:
        report = build_report(store, month, generated)
    entries = [(e.kind, e.target, e.record_no, e.within_rto) for e in report.rto.entries]
    assert entries == [("restore test", "nas", test_row["record_no"], True),
                       ("drill", "nas", drill_rows[0]["record_no"], True),
                       ("drill", "offsite", drill_rows[1]["record_no"], False)]
    assert report.rto.rate == pytest.approx(2 / 3)
    restore = report.rto.entries[0]
    assert restore.projected_seconds == test_row["projected_restore_seconds"] and restore.rto_seconds == 4 * 3600
    assert report.drills[0].restore_seconds == json.loads(drill_rows[0]["measured"])["rto_actual_seconds"]
    nas = next(c for c in report.datasets[0].copies if c.target == "nas")
    assert nas.restore is not None and nas.restore.record_no == test_row["record_no"] and nas.restore.within_rto

    # Through the CLI, HOME unwritable (a path under a regular file: not even root can create it).
    blocker = sandbox.root / "not-a-directory"
    blocker.write_text("")
    made = cli(sandbox, "report", "--month", month, "--format", "html", "--out", str(sandbox.root / "out"),
               "--generated-at", generated.isoformat(),
               env={"HOME": str(blocker / "home"), "MPLCONFIGDIR": None, "XDG_CACHE_HOME": None})
    assert made.returncode == 0, made.stderr
    assert "Matplotlib" not in made.stderr and "Fontconfig" not in made.stderr, made.stderr
    html = (sandbox.root / "out" / f"QEF-19-05_{month}.html").read_text(encoding="utf-8")
    assert html.split('id="kpi-rto">')[1].startswith("66.7 %")
    assert 'id="no-drills"' not in html and 'id="no-restore-tests"' not in html
    for row in (test_row, *drill_rows):
        assert f"#{row['record_no']}" in html
    assert list((sandbox.root / "state" / "cache" / "matplotlib").glob("fontlist-*.json"))
