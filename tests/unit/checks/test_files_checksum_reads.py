"""files-checksum reports what it read on both sides: the primary is read once a run whatever the
number of copies compared with it (a second copy finds its digests in the hash cache), its reads
shown on the copy compared first (primary_bytes_read) and in the metrics (copy_hashed_bytes,
side primary); a second night reads nothing unchanged outside its share of the re-read cycle."""

from __future__ import annotations

from agent.metrics import render
from agent.models import CheckResult, CopyResult, DatasetResult, RunResult, Status
from checks import policy_321
from tests.support.fake_site import FakeSite

HOUR = 3600.0
FILES = {f"d{i % 3}/f{i:02d}.bin": bytes([i]) * (100 + i) for i in range(30)}
SIZE = sum(len(v) for v in FILES.values())
PRIMARY = "/srv/data"


def two_mirrors(tmp_path) -> FakeSite:
    site = FakeSite(tmp_path, rpo="1d")
    site.target("droplet", medium="cloud-vm", location="sgp").tree(PRIMARY, FILES, site.ago(48 * HOUR))
    for name, path in (("hdd", "/mnt/hdd/data"), ("ssd", "/mnt/ssd/data")):
        disk = site.target(name, medium=name, location=f"{name}-home")
        disk.tree(path, FILES, site.ago(48 * HOUR))
        disk.write(f"{path}/.last-sync", b"synced\n", site.ago(HOUR))
        site.copy(name, path, stamp=".last-sync")
    site.primary("droplet", PRIMARY)
    return site


def test_the_primary_is_read_once_for_two_copies_and_both_sides_reported(tmp_path) -> None:
    site = two_mirrors(tmp_path)
    outcome = site.verify()
    results = {copy.spec.target.name: next(c for c in copy.checks if c.name == "files-checksum")
               for copy in outcome.copies if copy.spec.role == "backup"}
    assert all(r.status == Status.PASS for r in results.values()), {n: r.detail for n, r in results.items()}
    assert [r.measured["bytes_read"] for r in results.values()] == [SIZE, SIZE]
    assert sorted(r.measured["primary_bytes_read"] for r in results.values()) == [0, SIZE], "read once, shared"
    assert all(r.measured["bytes_reread"] == r.measured["primary_bytes_reread"] == 0 for r in results.values())


def test_metrics_carry_both_sides_reads(tmp_path) -> None:
    site = two_mirrors(tmp_path)
    dataset = site.dataset
    measured = {"bytes_verified": 10, "bytes_read": 10, "bytes_reread": 3, "primary_bytes_read": 20,
                "primary_bytes_reread": 5}
    copies = [CopyResult(dataset.primary, [CheckResult("reachable", Status.PASS, "reachable")]),
              CopyResult(dataset.copies[0], [CheckResult("files-checksum", Status.PASS, "ok", measured)])]
    run = RunResult("r", site.now, site.now, [DatasetResult(dataset, copies, policy_321.run_dataset(dataset, copies))],
                    "host", "op", {})
    lines = render(run).decode().splitlines()

    def sample(name: str, side: str) -> float:
        (line,) = [x for x in lines if x.startswith(f"backup_agent_{name}{{") and f'side="{side}"' in x
                   and 'target="hdd"' in x]
        return float(line.rsplit(" ", 1)[1])

    assert (sample("copy_hashed_bytes", "copy"), sample("copy_hashed_bytes", "primary")) == (10, 20)
    assert (sample("copy_reread_bytes", "copy"), sample("copy_reread_bytes", "primary")) == (3, 5)
