"""The plug-in unit (systemd/backup-agent-plugin@.service): an instance bound to a disk's mount unit
passes `systemd-analyze verify`, its exposure is no worse than the nightly unit's, it is hardened
like it, and `verify --target MOUNTPOINT` finds the target mounted there. Real systemd-analyze."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_systemd import INSTALLED, SYSTEMD, _directives, _systemd_analyze
from tests.support.cli import invoke

PLUGIN = "backup-agent-plugin@.service"
INSTANCE = "backup-agent-plugin@mnt-backup\\x2dhdd.service"
MOUNT = "mnt-backup\\x2dhdd.mount"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("plugin-units")
    executable = Path(sys.executable).with_name("backup-agent")
    for name in (PLUGIN, "backup-agent.service", "backup-agent-failure@.service"):
        text = (SYSTEMD / name).read_text(encoding="utf-8").replace(INSTALLED, str(executable))
        (directory / name).write_text(text, encoding="utf-8")
    (directory / INSTANCE).write_text((directory / PLUGIN).read_text(encoding="utf-8"), encoding="utf-8")
    (directory / MOUNT).write_text("[Unit]\nDescription=KC's backup HDD\n[Mount]\nWhat=/dev/disk/by-label/backup-hdd\n"
                                   "Where=/mnt/backup-hdd\nType=ext4\nOptions=nofail\n", encoding="utf-8")
    return directory


def _exposure(tool: str, unit: Path) -> float:
    result = subprocess.run([tool, "security", "--offline=true", "--no-pager", str(unit)], capture_output=True,
                            text=True, timeout=60, cwd=unit.parent)
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?) (\w+)", result.stdout + result.stderr)
    if match is None:
        pytest.skip(f"systemd-analyze security --offline gave no exposure here: {result.stdout + result.stderr}")
    return float(match.group(1))


def test_plugin_instance_verifies(units: Path) -> None:
    tool = _systemd_analyze()
    result = subprocess.run([tool, "verify", "--man=no", str(units / INSTANCE), str(units / MOUNT)],
                            capture_output=True, text=True, timeout=60, cwd=units)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_a_broken_plugin_instance_is_caught(units: Path, tmp_path: Path) -> None:
    tool = _systemd_analyze()
    broken = tmp_path / INSTANCE
    broken.write_text((units / INSTANCE).read_text().replace("BindsTo=%i.mount", "BindsTo=%i.mount\nBindsToo=x"))
    result = subprocess.run([tool, "verify", "--man=no", str(broken)], capture_output=True, text=True, timeout=60)
    assert "BindsToo" in result.stderr


def test_plugin_exposure_is_no_worse_than_the_nightly_units(units: Path) -> None:
    tool = _systemd_analyze()
    plugin, nightly = _exposure(tool, units / INSTANCE), _exposure(tool, units / "backup-agent.service")
    print(f"plug-in exposure {plugin}, nightly {nightly}")
    assert plugin <= nightly


def test_plugin_is_bound_to_its_mount_and_hardened_like_the_nightly_unit() -> None:
    plugin, nightly = _directives(PLUGIN), _directives("backup-agent.service")
    assert plugin["BindsTo"] == ["%i.mount"] and "%i.mount" in plugin["After"][0].split()
    assert plugin["WantedBy"] == ["%i.mount"]
    assert plugin["ExecStart"] == ["/usr/local/bin/backup-agent verify --target %f"]
    assert plugin["ReadWritePaths"] == ["-%f"]
    hardening = ("User", "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
                 "CapabilityBoundingSet", "SystemCallFilter", "RestrictAddressFamilies", "RestrictNamespaces",
                 "ProtectKernelTunables", "ProtectProc", "KillMode", "Nice", "IOSchedulingClass", "UMask")
    for key in hardening:
        assert plugin.get(key) == nightly.get(key), key


def test_verify_target_accepts_the_mountpoint(tmp_path: Path) -> None:
    mountpoint = tmp_path / "mnt" / "backup-hdd"
    config = tmp_path / "targets.yaml"
    config.write_text(f"""\
agent: {{state_dir: state, metrics_file: m.prom, scratch_dir: scratch, operator: t}}
processes: {{p: {{rpo: 1d, rto: 1d}}}}
targets:
  droplet: {{kind: local, medium: cloud-vm, location: a, require_mount: false}}
  hdd: {{kind: local, medium: hdd, location: b, removable: true, mountpoint: '{mountpoint}'}}
datasets:
  d: {{process: p, primary: {{target: droplet, form: files, path: p}},
       copies: [{{target: hdd, form: files, path: '{mountpoint}/d'}}]}}
""", encoding="utf-8")
    result = invoke(["--config", str(config), "verify", "--json", "--target", str(mountpoint)], cwd=tmp_path)
    (dataset,) = result.json()["datasets"]
    assert [c["target"] for c in dataset["copies"]] == ["hdd"]
    result = invoke(["--config", str(config), "verify", "--target", "/mnt/elsewhere"], cwd=tmp_path)
    assert result.returncode == 2 and "no local target has mountpoint /mnt/elsewhere" in result.stderr
