"""The anomaly gate with real restic and real plain mirrors.

A primary tree of office documents is backed up to a restic repository (nas), a byte-level
replica of it that has not synced since (ssd), a mirror that syncs (hdd) and one that has not
yet (usb). Then ransomware encrypts every file with `openssl enc`, renames it .locked and leaves
a note; the usual backup and sync run. The copies that took the new backup fail and name the
last clean one; the others still pass. A normal day, an import of many PDFs, a changed canary,
and an operator's acceptance follow the same way on a second site.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from agent import recording
from agent.models import Status
from agent.records import RecordStore
from tests.support.anomaly import (
    CANARY,
    documents,
    edit,
    encrypt_all,
    make_pdf,
    run_anomaly,
    sync,
    write_documents,
)
from tests.support.cli import agent_env, run_cli
from tests.support.restic import ResticTemplate
from tests.support.sandbox import Sandbox, check_result, copy_result

DATASET = "shared-docs"


def _site(tmp_path: Path, template: ResticTemplate, documents_count: int, rng: random.Random,
          mirrors: tuple[str, ...] = ("hdd",), replica: bool = False) -> tuple[Sandbox, Path, Path]:
    primary = tmp_path / "primary"
    write_documents(primary, documents_count, rng)
    repo = tmp_path / "repos" / "nas"
    template.restic(repo, "init")
    template.restic(repo, "backup", str(primary))
    sandbox = Sandbox(tmp_path, template.password_file)
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("nas", "nas", "office")
    copies = [sandbox.restic_copy("nas", repo)]
    if replica:
        shutil.copytree(repo, tmp_path / "repos" / "ssd")
        sandbox.target("ssd", "ssd", "office")
        copies.append(sandbox.restic_copy("ssd", tmp_path / "repos" / "ssd", replica=True))
    for name in mirrors:
        sandbox.target(name, name if name != "usb" else "usb-disk", f"{name}-site")
        sync(primary, tmp_path / name, ago=600)  # last night's sync, before anything below happens
        copies.append(sandbox.files_copy(name, tmp_path / name))
    sandbox.dataset(DATASET, primary=sandbox.files_copy("droplet", primary, stamp=None), copies=copies,
                    policy={"copies": 2, "media": 2, "offsite": 1})
    sandbox.datasets[DATASET]["anomaly"] = {"canaries": [CANARY]}
    return sandbox, primary, repo


def test_ransomware_fails_every_copy_that_took_the_new_backup_and_names_the_last_clean_one(
        tmp_path: Path, restic_template: ResticTemplate) -> None:
    sandbox, primary, repo = _site(tmp_path, restic_template, 40, random.Random(17), mirrors=("hdd", "usb"),
                                   replica=True)
    first = run_anomaly(sandbox)
    assert {t: r.status for t, r in first.items()} == dict.fromkeys(("nas", "ssd", "hdd", "usb"), Status.SKIP)
    clean_snapshot = first["nas"].measured["last_clean_backup"]
    assert clean_snapshot.startswith("snapshot ")
    assert encrypt_all(primary) == 41  # 40 documents and the canary
    restic_template.restic(repo, "backup", str(primary))  # the nightly job, as usual
    sync(primary, tmp_path / "hdd")
    run = sandbox.verify()
    for target in ("nas", "hdd"):
        result = check_result(copy_result(run, DATASET, target), "anomaly")
        assert result.status == Status.FAIL, result.detail
        m = result.measured
        assert m["score"] >= 1 and m["encrypted_looking"] >= 3 and m["renamed"] == 41
        assert m["rename_extension"] == "locked" and m["ransom_notes"] == 1 and m["canaries_changed"] == 1
        assert "now look encrypted (mean entropy 7." in result.detail
        assert "HOW_TO_DECRYPT_FILES.txt" in result.detail and "canary docs/.canary/do-not-edit.txt was removed" \
            in result.detail
        assert "41 files renamed to the new extension .locked" in result.detail
        assert "41 of 41 files changed or removed (100%" in result.detail
    nas = check_result(copy_result(run, DATASET, "nas"), "anomaly")
    assert f"Last known clean backup: {clean_snapshot} (" in nas.detail
    assert nas.measured["last_clean_backup"] == clean_snapshot
    for target in ("ssd", "usb"):  # not synced since: their newest backup is the clean one
        result = check_result(copy_result(run, DATASET, target), "anomaly")
        assert result.status == Status.PASS and result.detail.startswith("no new backup since"), result.detail
    # The replica passes every check. (The unsynced mirror's files-checksum fails on its own: it still
    # holds the files the primary no longer has.)
    replica = copy_result(run, DATASET, "ssd")
    assert replica.status == Status.PASS, {c.name: c.detail for c in replica.checks if c.status != Status.PASS}
    # Recorded and shown: the record names the last clean backup; the next run still fails.
    config = sandbox.config()
    recording.record_run(config, run)
    with RecordStore(config.agent.records_db, readonly=True) as store:
        (row,) = [r for r in store.rows(kind="check") if r["check_name"] == "anomaly" and r["target"] == "nas"]
    assert row["result"] == "fail" and clean_snapshot in row["detail"]
    again = run_anomaly(sandbox)
    assert again["nas"].status == again["hdd"].status == Status.FAIL
    assert "suspect since" in again["nas"].detail


def test_normal_day_and_pdf_import_pass_a_changed_canary_fails_and_an_acceptance_is_recorded(
        tmp_path: Path, restic_template: ResticTemplate) -> None:
    rng = random.Random(19)
    sandbox, primary, repo = _site(tmp_path, restic_template, 100, rng)

    def day() -> dict:
        restic_template.restic(repo, "backup", str(primary))
        sync(primary, tmp_path / "hdd")
        return run_anomaly(sandbox)

    assert {r.status for r in run_anomaly(sandbox).values()} == {Status.SKIP}
    edit(documents(primary), 0.05, rng)  # a normal day: 5 % of the documents edited, a few added
    write_documents(primary, 3, rng, start=100)
    normal = day()
    assert {t: r.status for t, r in normal.items()} == {"nas": Status.PASS, "hdd": Status.PASS}, normal
    assert normal["nas"].measured["files_changed"] == 5 and normal["nas"].measured["files_added"] == 3
    assert normal["nas"].measured["encrypted_looking"] == 0 and normal["nas"].measured["mean_entropy"] < 6
    for number in range(60):  # a legitimate import of many scanned PDFs
        make_pdf(primary / "docs" / "import" / f"scan-{number:03d}.pdf", rng)
    imported = day()
    assert {r.status for r in imported.values()} == {Status.PASS}, imported
    assert imported["hdd"].measured["files_added"] == 60
    (primary / CANARY).write_text("tampered\n")
    tampered = day()
    for result in tampered.values():
        assert result.status == Status.FAIL and "canary docs/.canary/do-not-edit.txt changed" in result.detail
    config_path = sandbox.root / "targets.yaml"
    accepted = run_cli(["--config", str(config_path), "anomaly", "accept", DATASET, "--reason",
                        "canary text updated by IT (ticket 4411)"], agent_env(tmp_path), timeout=60)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.count("accepted: shared-docs on ") == 2
    after = run_anomaly(sandbox)
    assert {r.status for r in after.values()} == {Status.PASS}, after
    assert "accepted by" in after["nas"].detail and "ticket 4411" in after["nas"].detail
    with RecordStore(sandbox.config().agent.records_db, readonly=True) as store:
        rows = list(store.rows(kind="acceptance"))
    assert [r["target"] for r in rows] == ["nas", "hdd"]
    assert all(r["result"] == "accepted" and "canary text updated by IT (ticket 4411)" in r["detail"] for r in rows)
    nothing = run_cli(["--config", str(config_path), "anomaly", "accept", DATASET, "--reason", "again"],
                      agent_env(tmp_path), timeout=60)
    assert nothing.returncode == 2 and "nothing to accept" in nothing.stderr


@pytest.mark.parametrize("days", [30])
def test_false_positive_rate_over_normal_days(tmp_path: Path, days: int) -> None:
    """A month of normal days on a mirror: 1-10 % of documents edited, a few added or deleted, a PDF
    import, a folder of photos, a day with no change. Every day passes (false positives: 0 of 30)."""
    rng = random.Random(23)
    primary = tmp_path / "primary"
    write_documents(primary, 300, rng)
    sandbox = Sandbox(tmp_path, None)
    sandbox.target("droplet", "cloud-vm", "do-sgp1")
    sandbox.target("hdd", "hdd", "kc-home")
    sync(primary, tmp_path / "hdd")
    sandbox.dataset(DATASET, primary=sandbox.files_copy("droplet", primary, stamp=None),
                    copies=[sandbox.files_copy("hdd", tmp_path / "hdd")])
    assert run_anomaly(sandbox)["hdd"].status == Status.SKIP
    scores, suspects = [], []
    for number in range(days):
        docs = documents(primary)
        if number % 7 != 6:  # Sundays: nothing changes
            edit(docs, rng.uniform(0.01, 0.10), rng)
            write_documents(primary, rng.randint(0, 8), rng, start=1000 + number * 10)
            for gone in rng.sample(docs, rng.randint(0, 3)):
                gone.unlink()
        if number == 10:
            for scan in range(40):
                make_pdf(primary / "docs" / "import" / f"scan-{scan:03d}.pdf", rng)
        if number == 20:
            for photo in range(25):
                path = primary / "photos" / f"IMG_{photo:04d}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + rng.randbytes(rng.randint(3000, 9000)))
        sync(primary, tmp_path / "hdd")
        result = run_anomaly(sandbox)["hdd"]
        scores.append(result.measured.get("score", 0.0))
        if result.status != Status.PASS:
            suspects.append((number, result.detail))
    assert suspects == [], f"false positives on {len(suspects)} of {days} normal days: {suspects}"
    assert max(scores) < 0.5, f"a normal day came close to the thresholds: scores {scores}"
