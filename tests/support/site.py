"""Shared by the deployment tests (pushgateway, exporter, alerts/dashboard, full disk, records
tail): a small real site and the real CLI as a subprocess.

The site is plain trees on local directories (no restic, so a verify takes about a second):
a primary and two mirrors with fresh stamps on other media and sites, so the dataset is compliant
and the exit code is 0 when every sink works.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli import CLI

AGENT = CLI


def write_site(directory: Path, pushgateway: str | None = None, host: str = "agent-host-1",
               stale_hdd: bool = False, records: str = "") -> Path:
    """Build primary + two mirrors under directory and return its targets.yaml. stale_hdd: the
    hdd mirror was last synced two days ago (RPO 24h), which also breaks 3-2-1 (2 of 3 verified).
    records: more agent keys, as flow-mapping text (", records_db: '…'")."""
    now = time.time()
    for name in ("primary", "mirror-ssd", "mirror-hdd"):
        tree = directory / name
        (tree / "sub").mkdir(parents=True)
        (tree / "a.txt").write_text("alpha\n")
        (tree / "sub" / "b.bin").write_bytes(bytes(range(256)) * 40)
        for path in (tree / "a.txt", tree / "sub" / "b.bin"):
            os.utime(path, (now - 3 * 86400, now - 3 * 86400))
        if name != "primary":
            (tree / ".last-sync").write_text("synced\n")
            synced = now - 2 * 86400 if stale_hdd and name == "mirror-hdd" else now - 600
            os.utime(tree / ".last-sync", (synced, synced))
    push = f", pushgateway: '{pushgateway}'" if pushgateway else ""
    config = directory / "targets.yaml"
    config.write_text(f"""\
agent: {{state_dir: state, metrics_file: metrics/backup_agent.prom, scratch_dir: scratch, operator: deploy-test,
         host: {host}{push}{records}}}
processes: {{finance-payments: {{rpo: 24h, rto: 48h}}}}
targets:
  droplet: {{kind: local, medium: cloud-vm, location: do-sgp1, require_mount: false}}
  ssd: {{kind: local, medium: ssd, location: office, require_mount: false}}
  hdd: {{kind: local, medium: hdd, location: kc-home, require_mount: false}}
datasets:
  finance-records:
    process: finance-payments
    primary: {{target: droplet, form: files, path: primary}}
    copies:
      - {{target: ssd, form: files, path: mirror-ssd, stamp: .last-sync}}
      - {{target: hdd, form: files, path: mirror-hdd, stamp: .last-sync}}
""")
    return config


def agent(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([AGENT, "--config", str(config), *args], capture_output=True, text=True, timeout=timeout)


def samples(exposition: str, drop_labels: tuple[str, ...] = ()) -> dict[tuple, float]:
    """Parse an exposition into {(name, sorted labels without drop_labels): value}."""
    found = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k not in drop_labels))
            found[(sample.name, labels)] = sample.value
    return found
