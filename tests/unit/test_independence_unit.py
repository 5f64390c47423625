"""independence: the comparison of storage identities, on identities built in memory.

No target is touched: what is under test is the rule — which identities mean shared storage, what
the detail names, that an unreadable identity is never a pass, that a copy sharing storage is not
counted by policy-321. The identities are gathered for real by the integration tests
(tests/integration/test_independence.py, ssh/test_ssh_independence.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import Dataset, parse_config
from agent.identity import CopyIdentity, StorageIdentity, normal_endpoint, normal_prefix, object_identity
from agent.models import CheckResult, CopyResult, Status
from checks import independence, policy_321

HOST = "9cdfc7b6-dc44-4669-853e-01d689d1e581"
OTHER_HOST = "0f3e7a10-5a5b-4c3e-9d5e-3a3b0c9e1f00"
ROOT = (65024, 1)  # the filesystem root's (dev, ino)
SRV = (65024, 100)


def directory(path: str, inode: int, files: list[int] | None = None, *, host: str = HOST,
              above: tuple[tuple[int, int], ...] = (SRV, ROOT), device: int = 65024) -> StorageIdentity:
    return StorageIdentity(host=host, real_path=path, root=(device, inode), ancestors=frozenset(above),
                           files=None if files is None else tuple((device, i) for i in files))


def dataset(forms: tuple[str, ...] = ("files", "files", "files")) -> Dataset:
    """Primary on droplet, copies on nas, ssd, hdd (3 distinct media, two sites)."""
    targets = {"droplet": ("cloud-vm", "do-sgp1"), "nas": ("nas", "office"), "ssd": ("ssd", "office"),
               "hdd": ("hdd", "kc-home")}
    copies = []
    for name, form in zip(("nas", "ssd", "hdd"), forms, strict=False):
        copy = {"target": name, "form": form, "path": f"/srv/{name}"}
        if form == "restic":
            copy["password_file"] = "/etc/backup-agent/restic.pass"
        copies.append(copy)
    document = {
        "processes": {"p": {"rpo": "1h", "rto": "4h"}},
        "targets": {n: {"kind": "local", "medium": m, "location": loc, "require_mount": False}
                    for n, (m, loc) in targets.items()},
        "datasets": {"d": {"process": "p", "primary": {"target": "droplet", "form": "files", "path": "/srv/primary"},
                           "copies": copies}},
    }
    return parse_config(document, Path("/nonexistent/targets.yaml")).datasets["d"]


def results(ds: Dataset, identities: list[CopyIdentity | StorageIdentity | str | None]) -> list[CopyResult]:
    """One passing CopyResult per copy; its identity, or an error string, or None (not gathered)."""
    out = []
    for spec, found in zip(ds.all_copies, identities, strict=True):
        copy = CopyResult(spec, [CheckResult("reachable", Status.PASS, "reachable")])
        if isinstance(found, StorageIdentity):
            found = CopyIdentity(found)
        if isinstance(found, CopyIdentity):
            copy.identity = found
        elif isinstance(found, str):
            copy.identity_error = found
        else:
            copy.identity_skipped = "not run: target not reachable"
        out.append(copy)
    return out


def judged(ds: Dataset, identities: list) -> list[CheckResult]:
    verdicts = independence.run_dataset(ds, results(ds, identities))
    assert all(v.name == "independence" for v in verdicts)
    return verdicts


PRIMARY = directory("/srv/primary", 10, [11, 12, 13])
NAS = directory("/srv/nas", 20, [21, 22, 23])
SSD = directory("/srv/ssd", 30, [31, 32, 33])


def test_copies_with_their_own_directories_and_files_are_independent_on_one_filesystem() -> None:
    verdicts = judged(dataset(), [PRIMARY, NAS, SSD, directory("/srv/hdd", 40, [41, 42, 43])])
    assert [v.status for v in verdicts] == [Status.PASS] * 4
    assert "not shared with the primary on droplet, copies[0] on nas, copies[1] on ssd" in verdicts[3].detail


@pytest.mark.parametrize(("hdd", "expected"), [
    (directory("/srv/hdd", 40, [11, 12, 13, 44]),
     "shares storage with the primary on droplet: 3 of 4 files are hard links to it (same device and inode)"),
    (directory("/srv/primary", 10, [11, 12, 13]),
     "shares storage with the primary on droplet: the same directory /srv/primary (device 65024, inode 10)"),
    (directory("/mnt/hdd", 10, [11, 12, 13], above=((65024, 5), ROOT)),
     "the same directory (device 65024, inode 10) reached as /mnt/hdd and as /srv/primary (a bind mount"),
    (directory("/srv/primary/.backup", 40, [41], above=((65024, 10), SRV, ROOT)),
     "it lies inside it (/srv/primary/.backup is under /srv/primary)"),
    (directory("/srv", 100, [11, 12, 13, 21], above=(ROOT,)),
     "it contains it (/srv/primary is under /srv)"),
    (directory("/srv/hdd", 40, [21, 22, 23]),
     "shares storage with copies[0] on nas: 3 of 3 files are hard links to it"),
])
def test_a_copy_sharing_storage_fails_naming_what_and_with_which_copy(hdd: StorageIdentity, expected: str) -> None:
    verdicts = judged(dataset(), [PRIMARY, NAS, SSD, hdd])
    assert [v.status for v in verdicts[:3]] == [Status.PASS] * 3
    assert verdicts[3].status == Status.FAIL
    assert expected in verdicts[3].detail
    assert "counts once" in verdicts[3].detail


def test_equal_numbers_on_another_kernel_are_not_shared() -> None:
    """Device and inode numbers mean nothing across machines: the boot id says which kernel."""
    remote = directory("/srv/primary", 10, [11, 12, 13], host=OTHER_HOST)
    verdicts = judged(dataset(), [PRIMARY, remote, SSD, None])
    assert verdicts[1].status == Status.PASS


def test_several_sharings_are_all_named() -> None:
    both = directory("/srv/hdd", 40, [11, 21, 44])
    detail = judged(dataset(), [PRIMARY, NAS, SSD, both])[3].detail
    assert "the primary on droplet: 1 of 3 files" in detail and "and with copies[0] on nas: 1 of 3 files" in detail


def test_one_restic_repository_twice_fails_and_a_declared_replica_passes() -> None:
    ds = dataset(("restic", "restic", "files"))
    repo = CopyIdentity(directory("/srv/nas", 20, [21, 22]), "074b1f6d5e41e711", False)
    replica_storage = directory("/srv/ssd", 30, [31, 32])
    same_id = CopyIdentity(replica_storage, "074b1f6d5e41e711", False)
    verdicts = judged(ds, [PRIMARY, repo, same_id, None])
    assert verdicts[2].status == Status.FAIL
    assert "copies[0] on nas: the same restic repository (id 074b1f6d" in verdicts[2].detail
    replica = CopyIdentity(replica_storage, "074b1f6d5e41e711", True)
    verdicts = judged(ds, [PRIMARY, repo, replica, None])
    assert verdicts[2].status == Status.PASS
    assert "same restic repository id (074b1f6d) as a declared replica of copies[0] on nas" in verdicts[2].detail
    # replica: true skips only the id: a "replica" that is the same directory, or hard links, still fails.
    for storage in (repo.storage, directory("/srv/ssd", 30, [21, 99])):
        verdict = judged(ds, [PRIMARY, repo, CopyIdentity(storage, "074b1f6d5e41e711", True), None])[2]
        assert verdict.status == Status.FAIL and "the same restic repository" not in verdict.detail


@pytest.mark.parametrize(("prefix", "shared"), [
    ("restic/lithera", "the same prefix 'restic/lithera'"),
    ("/restic//lithera/", "the same prefix 'restic/lithera'"),
    ("restic/lithera/inner", "its prefix 'restic/lithera/inner' lies inside 'restic/lithera'"),
    ("restic", "its prefix 'restic' contains 'restic/lithera'"),
    ("", "its prefix '(whole bucket)' contains 'restic/lithera'"),
    ("restic/lithera-old", None),
])
def test_object_prefixes(prefix: str, shared: str | None) -> None:
    first = object_identity("https://S3.example.com:443/", None, "offsite", "restic/lithera")
    second = object_identity("https://s3.example.com", None, "offsite", prefix)
    verdict = judged(dataset(), [PRIMARY, first, second, None])[2]
    if shared is None:
        assert verdict.status == Status.PASS
    else:
        assert verdict.status == Status.FAIL and shared in verdict.detail


def test_other_bucket_or_endpoint_is_not_shared_and_objects_never_match_directories() -> None:
    first = object_identity("https://s3.example.com", None, "offsite", "x")
    for second in (object_identity("https://s3.example.com", None, "vault", "x"),
                   object_identity("https://s3.other.example", None, "offsite", "x")):
        assert judged(dataset(), [PRIMARY, first, second, None])[2].status == Status.PASS
    assert judged(dataset(), [PRIMARY, first, NAS, None])[2].status == Status.PASS


def test_an_unreadable_identity_is_an_error_and_an_unverified_copy_is_skipped() -> None:
    verdicts = judged(dataset(), [PRIMARY, "cannot read the storage identity of /srv/nas: Permission denied", None, SSD])
    assert verdicts[1].status == Status.ERROR and "Permission denied" in verdicts[1].detail
    assert verdicts[2].status == Status.SKIP
    # The later copy is compared with what could be read; the others do not count anyway, and it says so.
    assert verdicts[3].status == Status.PASS
    assert "not compared with copies[0] on nas, copies[1] on ssd" in verdicts[3].detail


def test_a_target_filtered_run_is_not_a_pass_unless_every_earlier_copy_was_compared() -> None:
    ds = dataset()
    copies = results(ds, [PRIMARY, NAS, SSD, directory("/srv/hdd", 40, [41])])
    without_nas = [c for c in copies if c.spec.target.name != "nas"]
    verdicts = independence.run_dataset(ds, without_nas)
    assert [v.status for v in verdicts] == [Status.PASS, Status.SKIP, Status.SKIP]
    assert "--target left out copies[0] on nas" in verdicts[1].detail
    linked = results(ds, [PRIMARY, NAS, SSD, directory("/srv/hdd", 40, [11])])
    verdicts = independence.run_dataset(ds, [c for c in linked if c.spec.target.name != "nas"])
    assert verdicts[2].status == Status.FAIL  # what was compared and found shared still fails


def test_a_copy_sharing_storage_is_not_counted_by_policy_321() -> None:
    ds = dataset()
    copies = results(ds, [PRIMARY, NAS, directory("/srv/primary", 10, [11, 12, 13]), directory("/srv/hdd", 40, [41])])
    for copy, verdict in zip(copies, independence.run_dataset(ds, copies), strict=True):
        copy.checks.append(verdict)
    policy = policy_321.run_dataset(ds, copies)
    assert policy.measured["verified_copies"] == 3  # primary, nas, hdd: the primary's storage once
    assert [c.status for c in copies] == [Status.PASS, Status.PASS, Status.FAIL, Status.PASS]


def test_endpoint_and_prefix_normalisation() -> None:
    assert normal_endpoint("https://S3.Example.com:443/", None) == "s3.example.com"
    assert normal_endpoint("http://127.0.0.1:8333", None) == "127.0.0.1:8333"
    assert normal_endpoint("s3.example.com", "ap-east-1") == "s3.example.com"
    assert normal_endpoint(None, "ap-east-1") == "aws"
    assert normal_prefix("/a//b/./c/") == "a/b/c" and normal_prefix("") == "" and normal_prefix("/") == ""
