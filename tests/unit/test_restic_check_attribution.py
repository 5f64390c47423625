"""Which errors of one `restic check --read-data-subset` leave the structure proven (restic-structure
passes while restic-read-data fails), as restic 0.14 prints them; and which repositories restic
reads from a local path (their restic processes take a slot of the run's CPU budget)."""

from __future__ import annotations

import pytest

from agent.restic import only_pack_content_errors
from agent.restic.commands import is_local

PACK = "2ffdd99137765681d6fe1b9e149cd64f8d81bce0d42c23dcae538e6efdca05ca"
OTHER = "d0174789a86b6ccdc772a8a6baee26d257049d57cfcd34e30be7bb39908e5052"


@pytest.mark.parametrize(("stderr", "structure_sound"), [
    # seen from restic 0.14 with a flipped byte inside a data pack of the group read
    (f"Pack ID does not match, want {PACK}, got {OTHER}\nFatal: repository contains errors\n", True),
    (f"pack {PACK} contains 1 errors: [blob 1234: decrypting blob failed]\nFatal: repository contains errors", True),
    # a pack deleted outside the group read, next to a flipped one inside it: the structure is broken
    (f"pack {OTHER}: does not exist\nPack ID does not match, want {PACK}, got {OTHER}\n"
     "Fatal: repository contains errors", False),
    ("error for tree 4bba3e3e:\n  tree 4bba3e3e: file \"x\" blob 0 size could not be found\n"
     "Fatal: repository contains errors", False),
    (f"pack {PACK}: not referenced in any index\nFatal: repository contains errors", False),
    ("Fatal: LoadIndex returned errors", False),
    ("Fatal: repository contains errors", False),  # nothing said what: not proven
    ("", False),
    (f"Load(<data/{PACK[:10]}>, 0, 0) returned error, retrying after 552ms: open: no such file or directory\n"
     f"Pack ID does not match, want {PACK}, got {OTHER}", False),
])
def test_only_pack_content_errors(stderr: str, structure_sound: bool) -> None:
    assert only_pack_content_errors(stderr) is structure_sound


@pytest.mark.parametrize(("repository", "local"), [
    ("/mnt/backup-ssd/restic/lithera", True),
    ("relative/repo", True),
    ("sftp:backup@nas.office.lan:/volume1/restic/lithera", False),
    ("s3:https://s3.example.com/lithera-offsite/restic/lithera", False),
    ("rest:https://backup.example.com/", False),
    ("rclone:remote:bucket", False),
])
def test_is_local(repository: str, local: bool) -> None:
    assert is_local(repository) is local
