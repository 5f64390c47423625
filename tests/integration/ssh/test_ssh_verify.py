"""Full verification runs with the primary on a "droplet" ssh target and the copies on a "nas"
ssh target — both the real test sshd: plain mirrors hashed remotely, restic over SFTP.

Each test gets its own trees (the mirror, and a copy of one restic repository initialised once
per session) and mutates them the way real damage would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from agent.checking import RunOptions
from agent.config import load_config
from agent.models import Status
from agent.run import run_verification, select_datasets
from tests.support.servers import free_port
from tests.support.sshd import keygen

pytestmark = pytest.mark.integration

FILES = {
    "db/dump-001.sql.gz": 60_000,
    "db/dump-002.sql.gz": 45_000,
    "uploads/coa 2026 #1.pdf": 12_000,
    "uploads/中文 提单.pdf": 9_000,
    "-dash.csv": 700,
}
PASSWORD = "correct horse battery staple"


def write_primary(root: Path) -> None:
    old = time.time() - 2 * 86400
    for index, (name, size) in enumerate(FILES.items()):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes((index * 7 + i) % 251 for i in range(size)))
        os.utime(path, (old, old))


def restic(repo: Path, password_file: Path, *args: str) -> str:
    return subprocess.run(["restic", "--repo", str(repo), "--password-file", str(password_file), "--no-cache", *args],
                          check=True, capture_output=True, text=True).stdout


def data_pack(repo: Path, password_file: Path) -> str:
    """Return the relative path of a pack holding only file data (a flipped byte in a tree pack
    would be seen by plain `check`; in a data pack only --read-data sees it)."""
    for index_id in restic(repo, password_file, "list", "index").split():
        for pack in json.loads(restic(repo, password_file, "cat", "index", index_id))["packs"]:
            if {blob["type"] for blob in pack["blobs"]} == {"data"}:
                return f"data/{pack['id'][:2]}/{pack['id']}"
    raise AssertionError("no data pack in the test repository")


@pytest.fixture(scope="session")
def restic_base(tmp_path_factory) -> tuple[Path, Path, str]:
    """One repository, initialised once: a current snapshot tagged ds and an old one tagged stale."""
    if shutil.which("restic") is None:
        pytest.skip("restic is not installed")
    base = tmp_path_factory.mktemp("restic-base")
    password_file = base / "password"
    password_file.write_text(PASSWORD + "\n")
    source = base / "source"
    write_primary(source)
    repo = base / "repo"
    restic(repo, password_file, "init")
    restic(repo, password_file, "backup", "--tag", "ds", "--host", "droplet-b", str(source))
    restic(repo, password_file, "backup", "--tag", "stale", "--host", "droplet-b", "--time", "2026-01-02 03:04:05",
           str(source))
    return repo, password_file, data_pack(repo, password_file)


def sandbox(tmp_path: Path, sshd, *, restic_base=None, nas: dict | None = None, stale_restic: bool = False) -> Path:
    """Build droplet/ and nas/ trees and a targets.yaml reaching both over SSH; return the config path."""
    droplet = tmp_path / "droplet" / "data"
    write_primary(droplet)
    mirror = tmp_path / "nas" / "mirror"
    shutil.copytree(droplet, mirror, copy_function=shutil.copy2)
    synced = time.time() - 300
    (mirror / ".last-sync").write_text("synced\n")
    os.utime(mirror / ".last-sync", (synced, synced))
    for sub in ("state", "metrics", "scratch"):
        (tmp_path / sub).mkdir()
    target = ("{{kind: ssh, medium: {medium}, location: {location}, host: 127.0.0.1, port: {port}, user: {user}, "
              "key_file: {key}, known_hosts: {kh}, connect_timeout: 3s}}")
    copies = [f"      - {{target: nas, form: files, path: {mirror}, stamp: .last-sync}}"]
    if restic_base:
        repo, password_file, _ = restic_base
        shutil.copytree(repo, tmp_path / "nas" / "restic")
        tag = "stale" if stale_restic else "ds"
        copies.append(f"      - {{target: nas, form: restic, path: {tmp_path / 'nas' / 'restic'}, "
                      f"password_file: {password_file}, snapshot_filter: {{tags: [{tag}]}}}}")
    config = f"""\
agent:
  state_dir: {tmp_path / 'state'}
  metrics_file: {tmp_path / 'metrics' / 'backup_agent.prom'}
  scratch_dir: {tmp_path / 'scratch'}
  concurrency: 2
  command_timeout: 2m
  read_data_cycle: 1d
  schedule_interval: 1d
policy: {{copies: 2, media: 2, offsite: 1}}
processes:
  platform: {{name: platform, rpo: 1h, rto: 4h}}
targets:
  droplet: {target.format(medium="cloud-vm", location="do-sgp1", port=sshd.port, user="root", key=sshd.client_key,
                           kh=sshd.known_hosts)}
  nas: {target.format(medium="nas", location="office", **{"port": sshd.port, "user": "root", "key": sshd.client_key,
                                                          "kh": sshd.known_hosts, **(nas or {})})}
datasets:
  ds:
    process: platform
    primary: {{target: droplet, form: files, path: {droplet}}}
    copies:
""" + "\n".join(copies) + "\n"
    path = tmp_path / "targets.yaml"
    path.write_text(config)
    return path


def verify(config_path: Path, options: RunOptions | None = None) -> dict[tuple[str, str], dict[str, object]]:
    """Run a verification; return {(target, form): {check id: CheckResult}}."""
    config = load_config(config_path)
    run = run_verification(config, select_datasets(config, (), ()), options=options)
    (dataset,) = run.datasets
    return {(c.spec.target.name, c.spec.form if c.spec.role == "backup" else "primary"): {r.name: r for r in c.checks}
            for c in dataset.copies}


def statuses(checks: dict) -> dict[str, Status]:
    return {name: result.status for name, result in checks.items()}


def assert_passed(checks: dict, *names: str) -> None:
    """The named checks passed and no other check failed or erred (other checks may skip as not applicable)."""
    details = {name: f"{result.status}: {result.detail}" for name, result in checks.items()}
    for name in names:
        assert checks[name].status == Status.PASS, details
    assert not {Status.FAIL, Status.ERROR} & set(statuses(checks).values()), details


def test_healthy_remote_copies_pass_including_restic_over_sftp(tmp_path, sshd, restic_base):
    results = verify(sandbox(tmp_path, sshd, restic_base=restic_base))
    assert statuses(results[("droplet", "primary")])["reachable"] == Status.PASS
    mirror = results[("nas", "files")]
    assert_passed(mirror, "reachable", "freshness", "files-checksum")
    assert mirror["files-checksum"].measured["files_compared"] == len(FILES)
    repo = results[("nas", "restic")]
    assert_passed(repo, "reachable", "freshness", "restic-structure", "restic-read-data")
    assert repo["restic-read-data"].measured["subset"] == "1/1"


@pytest.mark.parametrize("damage, expected", [
    ("flip", "1 mismatched (uploads/中文 提单.pdf)"),
    ("delete", "1 missing (db/dump-002.sql.gz)"),
    ("extra", "1 extra (uploads/not-on-primary.bin)"),
])
def test_damaged_remote_mirror_fails_naming_the_path(tmp_path, sshd, damage, expected):
    config = sandbox(tmp_path, sshd)
    mirror = tmp_path / "nas" / "mirror"
    if damage == "flip":
        victim = mirror / "uploads" / "中文 提单.pdf"
        stat = victim.stat()
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0x01
        victim.write_bytes(bytes(data))
        os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime: only content differs
    elif damage == "delete":
        (mirror / "db" / "dump-002.sql.gz").unlink()
    else:
        (mirror / "uploads" / "not-on-primary.bin").write_bytes(b"stray")
    checksum = verify(config)[("nas", "files")]["files-checksum"]
    assert checksum.status == Status.FAIL
    assert expected in checksum.detail


def test_corrupted_pack_over_sftp_fails_read_data(tmp_path, sshd, restic_base):
    config = sandbox(tmp_path, sshd, restic_base=restic_base)
    victim = tmp_path / "nas" / "restic" / restic_base[2]
    victim.chmod(0o600)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    repo = verify(config)[("nas", "restic")]
    assert repo["restic-structure"].status == Status.PASS  # structure is intact; only reading the data sees it
    assert repo["restic-read-data"].status == Status.FAIL, repo["restic-read-data"].detail
    assert "Pack ID does not match" in repo["restic-read-data"].detail or "data errors" in repo["restic-read-data"].detail


def test_stale_snapshot_over_sftp_fails_freshness(tmp_path, sshd, restic_base):
    repo = verify(sandbox(tmp_path, sshd, restic_base=restic_base, stale_restic=True))[("nas", "restic")]
    assert repo["freshness"].status == Status.FAIL
    assert "stale" in repo["freshness"].detail


@pytest.mark.parametrize("failure, expected", [
    ("changed host key", "host key CHANGED"),
    ("unknown host", "unknown host key"),
    ("wrong user", "authentication failed"),
    ("wrong key", "authentication failed"),
    ("not listening", "refused"),
    ("never speaks", "did not speak SSH"),
])
def test_unusable_nas_is_error_never_pass_and_the_droplet_is_still_verified(
        tmp_path, sshd, restic_base, silent_server, failure, expected):
    if failure == "changed host key":
        impostor = keygen(tmp_path / "impostor")
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{sshd.port} " + " ".join(Path(f"{impostor}.pub").read_text().split()[:2]))
        nas = {"kh": known_hosts}
    elif failure == "unknown host":
        (tmp_path / "known_hosts").write_text("")
        nas = {"kh": tmp_path / "known_hosts"}
    elif failure == "wrong user":
        nas = {"user": "backup-nobody"}
    elif failure == "wrong key":
        nas = {"key": keygen(tmp_path / "stranger")}
    elif failure == "not listening":
        nas = {"port": free_port()}
    else:
        nas = {"port": silent_server}
    config = sandbox(tmp_path, sshd, restic_base=restic_base, nas=nas)
    started = time.monotonic()
    results = verify(config)
    assert time.monotonic() - started < 3 + 10  # connect_timeout 3s, paid once for both nas copies; the rest is the droplet
    assert_passed(results[("droplet", "primary")], "reachable")
    for form in ("files", "restic"):
        checks = results[("nas", form)]
        assert checks["reachable"].status == Status.ERROR
        assert expected in checks["reachable"].detail
        assert Status.PASS not in statuses(checks).values()
