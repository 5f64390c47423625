"""The report under the report unit's file-system sandbox: every file system read-only
(ProtectSystem=strict, ProtectHome=) except the state directory (StateDirectory=) and the output
directory, HOME read-only, no MPLCONFIGDIR or XDG_CACHE_HOME. Without reports.environment,
matplotlib cannot even be imported there (no writable cache, no temporary directory).

systemd is not running here, so the sandbox is made the way systemd makes it: a private mount
namespace (`unshare -m`, root only) with the root file system remounted read-only and the two
writable directories bind-mounted onto themselves first. The records come from a real run of the
agent on local plain mirrors. The HTML must equal this process's render byte for byte.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.records import RecordStore, rows_for_run
from reports import build_report
from reports.render_html import render_html
from tests.support.sandbox import Sandbox, mirror

pytestmark = pytest.mark.integration

GENERATED_AT = "2026-12-01T08:00:00+00:00"


def _namespaces_available() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _namespaces_available(), reason="needs root and `unshare -m` to build the unit's sandbox")
def test_report_with_read_only_file_systems_and_home(files_sandbox: Sandbox, sample_tree: Path) -> None:
    sandbox = files_sandbox
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("hdd", "hdd", "kc-home")
    sandbox.target("nas", "nas", "office")
    primary = mirror(sample_tree, sandbox.root / "droplet" / "data", stamp=None)
    sandbox.dataset("platform-db", primary=sandbox.files_copy("droplet", primary, stamp=None),
                    copies=[sandbox.files_copy("hdd", mirror(sample_tree, sandbox.root / "hdd" / "data")),
                            sandbox.files_copy("nas", mirror(sample_tree, sandbox.root / "nas" / "data"))])
    config = sandbox.config()
    run = sandbox.verify()
    with RecordStore(config.agent.records_db) as store:
        store.append(rows_for_run(run))
    month = run.finished_at.astimezone(UTC).strftime("%Y-%m")
    state, out = config.agent.state_dir, sandbox.root / "out"
    out.mkdir()

    command = [sys.executable, "-c", "from agent.cli import main; main()", "--config", str(sandbox.root / "targets.yaml"),
               "report", "--month", month, "--format", "html,pdf", "--out", str(out), "--generated-at", GENERATED_AT]
    script = "\n".join([
        "set -e",
        "mount --make-rprivate /",
        *(f"mount --bind {shlex.quote(str(d))} {shlex.quote(str(d))}" for d in (state, out)),
        "mount -o remount,bind,ro /",
        # Prove the sandbox holds before trusting the result.
        f"if touch {shlex.quote(str(sandbox.root / 'probe'))} 2>/dev/null; then echo 'root fs writable'; exit 9; fi",
        "exec " + shlex.join(command),
    ])
    env = {k: v for k, v in os.environ.items()
           if k not in ("MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "BACKUP_AGENT_NOW")}
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Matplotlib" not in done.stderr and "Fontconfig" not in done.stderr, done.stderr
    assert not (sandbox.root / "probe").exists()

    html = (out / f"QEF-19-05_{month}.html").read_bytes()
    assert (out / f"QEF-19-05_{month}.pdf").stat().st_size > 10_000
    assert list((state / "cache" / "matplotlib").glob("fontlist-*.json"))
    with RecordStore(config.agent.records_db) as store:
        report = build_report(store, month, datetime.fromisoformat(GENERATED_AT))
    assert html == render_html(report).encode("utf-8")
