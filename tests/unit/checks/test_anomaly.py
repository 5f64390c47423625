"""anomaly on fake targets and a fake restic: a first look is a skip, a normal night passes, a
night of encrypted and renamed files fails naming the last clean backup and stays failed, an
accepted change passes; what cannot be compared or sampled is an error. Real restic, real mirrors,
`openssl enc`, the accept command and a month of normal days: tests/integration/test_anomaly.py."""

from __future__ import annotations

import os
import random

from agent.anomaly.state import CopyState
from agent.models import Status
from tests.support.anomaly import text
from tests.support.fake_site import FakeSite

HOUR = 3600.0
PRIMARY, MIRROR = "/srv/docs", "/mnt/hdd/docs"


def _documents(count: int = 30) -> dict[str, bytes]:
    rng = random.Random(5)
    return {f"docs/doc-{n:03d}.txt": text(rng, 400).encode() for n in range(count)}


def _encrypted(files: dict[str, bytes]) -> dict[str, bytes]:
    locked = {f"{path}.locked": os.urandom(len(data) + 16) for path, data in files.items()}
    return {**locked, "README_FOR_DECRYPT.txt": b"pay up\n"}


def mirror_site(tmp_path, files: dict[str, bytes], anomaly: dict | None = None) -> FakeSite:
    site = FakeSite(tmp_path)
    if anomaly:
        site._document["datasets"]["d"]["anomaly"] = anomaly
    site.target("droplet", medium="cloud-vm", location="sgp").tree(PRIMARY, files, site.ago(48 * HOUR))
    site.primary("droplet", PRIMARY)
    site.target("hdd", medium="hdd", location="home")
    _sync(site, files)
    site.copy("hdd", MIRROR, stamp=".last-sync")
    return site


def _sync(site: FakeSite, files: dict[str, bytes]) -> None:
    """rsync -a --delete: unchanged files keep their mtime, changed and new ones get the time they changed."""
    hdd = site.targets["hdd"]
    before = {}
    for path in list(hdd.scan(MIRROR)) if hdd.stat(MIRROR) else ():
        before[path] = (hdd.read(f"{MIRROR}/{path}"), hdd.stat(f"{MIRROR}/{path}").mtime)
        hdd.remove(f"{MIRROR}/{path}")
    for path, data in files.items():
        kept = before.get(path)
        hdd.write(f"{MIRROR}/{path}", data, kept[1] if kept and kept[0] == data else site.ago(HOUR))
    hdd.write(f"{MIRROR}/.last-sync", b"synced\n", site.ago(HOUR / 2))


def _anomaly(site: FakeSite, which: int = 0):
    for check in ("reachable", "freshness"):
        site.run(check, which)
    return site.run("anomaly", which)


def test_a_mirror_first_look_normal_night_ransomware_and_acceptance(tmp_path) -> None:
    files = _documents()
    site = mirror_site(tmp_path, files)
    first = _anomaly(site)
    assert first.status == Status.SKIP and "first look" in first.detail
    site.next_night()
    edited = {**files, "docs/doc-001.txt": files["docs/doc-001.txt"] + b"one more line\n", "docs/new.txt": b"new\n" * 99}
    _sync(site, edited)
    normal = _anomaly(site)
    assert normal.status == Status.PASS, normal.detail
    assert normal.measured["files_changed"] == 1 and normal.measured["files_added"] == 1
    clean = normal.measured["last_clean_backup"]
    site.next_night()
    _sync(site, _encrypted(edited))
    attacked = _anomaly(site)
    assert attacked.status == Status.FAIL, attacked.detail
    assert "31 files renamed to the new extension .locked" in attacked.detail
    assert "ransom note: README_FOR_DECRYPT.txt" in attacked.detail
    assert "sampled changed files now look encrypted" in attacked.detail
    assert f"Last known clean backup: {clean} (" in attacked.detail
    site.next_night()
    again = _anomaly(site)
    assert again.status == Status.FAIL and "suspect since" in again.detail
    state = CopyState.load(site.state, site.spec(0).key)
    state.accept("kc", "migrated to the encrypted share (test)", "2026-11-30T00:00:00Z", 7)
    state.save(site.state, site.spec(0).key)
    site.next_night()
    accepted = _anomaly(site)
    assert accepted.status == Status.PASS and "accepted by kc: migrated" in accepted.detail


def test_a_restic_copy_is_compared_snapshot_to_snapshot(tmp_path) -> None:
    files = _documents()
    site = FakeSite(tmp_path)
    droplet = site.target("droplet", medium="cloud-vm", location="sgp")
    droplet.tree(PRIMARY, files, site.ago(48 * HOUR))
    site.primary("droplet", PRIMARY)
    site.target("nas", "ssh", medium="nas", location="office")
    site.copy("nas", "/volume1/restic", form="restic")
    first = site.restic().add_snapshot(files, time=site.at(30 * HOUR), root=PRIMARY)
    assert _anomaly(site).status == Status.SKIP  # one snapshot: nothing to compare with
    site.next_night()
    site.restic().add_snapshot(_encrypted(files), time=site.at(HOUR), root=PRIMARY)
    attacked = _anomaly(site)
    assert attacked.status == Status.FAIL, attacked.detail
    assert f"Last known clean backup: snapshot {first.short_id} (" in attacked.detail
    assert attacked.measured["last_clean_backup_id"] == first.id
    assert ("diff", first.id, site.restic().snapshots()[-1].id) in site.restic().calls


def test_what_cannot_be_compared_or_sampled_is_an_error_and_disabled_is_a_skip(tmp_path) -> None:
    files = _documents(12)
    site = mirror_site(tmp_path, files)
    _anomaly(site)
    site.next_night()
    _sync(site, {p: d + b"edited\n" for p, d in files.items()})
    site.targets["hdd"].break_("permission denied", ["fetch"])
    broken = _anomaly(site)
    assert broken.status == Status.ERROR and "permission denied" in broken.detail
    assert broken.measured["last_clean_backup"].startswith("the files copy as synced")
    disabled = mirror_site(tmp_path / "off", files, anomaly={"enabled": False})
    assert _anomaly(disabled).status == Status.SKIP
