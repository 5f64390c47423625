"""One dataset on fake targets (tests/support/fake_target.py, fake_restic.py), with the CopyContext
a run would give each of its copies: the unit tests of the checks (tests/unit/checks) build one
and run a check on it in milliseconds.

The dataset is declared as a user would (a targets.yaml document) and parsed by the product's own
agent.config.parse_config; the contexts are built as agent.run builds them, in one place
(`_context`), so an API change there is one change here.

    site = FakeSite(tmp_path, rpo="1h")
    droplet = site.target("droplet", medium="cloud-vm", location="sgp")
    hdd = site.target("hdd", medium="hdd", location="home")
    site.primary("droplet", "/srv/data")
    site.copy("hdd", "/mnt/hdd/data", stamp=".last-sync")
    droplet.tree("/srv/data", {"a.txt": b"alpha"}, mtime=site.ago(86400))
    ...
    result = site.run("freshness", 0)          # copies[0]; "primary" for the primary
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import checks
from agent import identity
from agent.checking import CopyContext, PrimaryManifest, RunOptions
from agent.clock import now as clock_now
from agent.config import CopySpec, Dataset, parse_config
from agent.errors import TargetUnavailable
from agent.hash_cache import HashCache
from agent.models import CheckResult, CopyResult, Status
from agent.restic import ResticError
from agent.state import StateStore
from tests.support.fake_restic import FakeRestic
from tests.support.fake_target import FakeTarget, target_context

DATASET = "d"
PROCESS = "p"
# The keys each kind requires in targets.yaml (values the fake never uses).
KIND_KEYS = {
    "local": {"require_mount": False},
    "ssh": {"host": "host.lan", "user": "backup", "key_file": "/etc/backup-agent/ssh/k",
            "known_hosts": "/etc/backup-agent/ssh/known_hosts"},
    "s3": {"bucket": "fake-bucket"},
}
PASSWORD_FILE = "/etc/backup-agent/restic.pass"


@dataclass
class DatasetOutcome:
    copies: list[CopyResult]  # primary first
    independence: list[CheckResult]
    policy: CheckResult


class FakeSite:
    def __init__(self, root: Path, *, now: datetime | None = None, rpo: str = "1d", rto: str = "4h",
                 policy: dict[str, Any] | None = None, restore_test: dict[str, Any] | None = None,
                 agent: dict[str, Any] | None = None):
        self.root = Path(root)
        self.now = now or clock_now()
        self.options = RunOptions()
        self.hash_cache = HashCache(None)
        self.state = StateStore(self.root / "state" / "state.json")
        self.targets: dict[str, FakeTarget] = {}
        self.restics: dict[int | str, FakeRestic] = {}
        self._document: dict[str, Any] = {
            "agent": {"state_dir": str(self.root / "state"), "metrics_file": str(self.root / "metrics" / "m.prom"),
                      "scratch_dir": str(self.root / "scratch"), "operator": "测试 / test", "hash_workers": 2,
                      "command_timeout": "5m", "read_data_cycle": "3d", "schedule_interval": "1d", **(agent or {})},
            "processes": {PROCESS: {"rpo": rpo, "rto": rto}},
            "targets": {},
            "datasets": {DATASET: {"process": PROCESS, "copies": [],
                                   **({"policy": policy} if policy else {}),
                                   **({"restore_test": restore_test} if restore_test else {})}},
        }
        self._dataset: Dataset | None = None
        self._contexts: dict[int | str, CopyContext] = {}
        self._primary: PrimaryManifest | None = None

    # --- declaring -------------------------------------------------------------------------------

    def target(self, name: str, kind: str = "local", *, medium: str = "hdd", location: str = "office",
               like: FakeTarget | None = None, **options: Any) -> FakeTarget:
        """Declare a target and return its fake handle; like=another: the same storage (a second route to it)."""
        self._document["targets"][name] = {"kind": kind, "medium": medium, "location": location,
                                           **KIND_KEYS.get(kind, {}), **options}
        context = target_context(self.now.timestamp(), self.hash_cache)
        handle = FakeTarget(name, kind, medium=medium, location=location, context=context,
                            disk=like.disk if like else None)
        self.targets[name] = handle
        self._dataset = None
        return handle

    def primary(self, target: str, path: str, form: str = "files", **extra: Any) -> None:
        self._declare("primary", {"target": target, "form": form, "path": path, **extra})

    def copy(self, target: str, path: str, form: str = "files", **extra: Any) -> int:
        """Declare a backup copy; return its index in `copies`. A restic copy gets a FakeRestic
        (site.restic(index)) and a repository's config and keys/ files on its target."""
        index = len(self._document["datasets"][DATASET]["copies"])
        self._declare(index, {"target": target, "form": form, "path": path, **extra})
        return index

    def _declare(self, which: int | str, copy: dict[str, Any]) -> None:
        if copy["form"] == "restic":
            copy.setdefault("password_file", PASSWORD_FILE)
            handle = self.targets[copy["target"]]
            handle.write(posixpath.join(copy["path"], "config"), b"fake restic config", self.now.timestamp() - 86400 * 90)
            handle.write(posixpath.join(copy["path"], "keys", "0a1b2c3d"), b"fake restic key", self.now.timestamp() - 86400 * 90)
            self.restics[which] = FakeRestic(handle.restic_location(copy["path"]))
        dataset = self._document["datasets"][DATASET]
        if which == "primary":
            dataset["primary"] = copy
        else:
            dataset["copies"].append(copy)
        self._dataset = None

    # --- using -----------------------------------------------------------------------------------

    def ago(self, seconds: float) -> float:
        """Epoch seconds `seconds` before the site's now (an mtime)."""
        return self.now.timestamp() - seconds

    def at(self, seconds_ago: float) -> datetime:
        return self.now - timedelta(seconds=seconds_ago)

    @property
    def dataset(self) -> Dataset:
        if self._dataset is None:
            config = parse_config(self._document, self.root / "targets.yaml")
            self._settings = config.agent
            self._dataset = config.datasets[DATASET]
            for name, handle in self.targets.items():
                handle.target = config.targets[name]
        return self._dataset

    def spec(self, which: int | str = 0) -> CopySpec:
        return self.dataset.primary if which == "primary" else self.dataset.copies[which]

    def restic(self, which: int | str = 0) -> FakeRestic:
        return self.restics[which]

    def context(self, which: int | str = 0) -> CopyContext:
        """The copy's context for this night (facts one check leaves for the next are kept on it)."""
        if which not in self._contexts:
            self._contexts[which] = self._context(self.spec(which), self.restics.get(which))
        return self._contexts[which]

    def _context(self, spec: CopySpec, restic: FakeRestic | None) -> CopyContext:
        if self._primary is None:
            self._primary = PrimaryManifest(self.dataset, self.targets[self.dataset.primary.target.name])
        context = CopyContext(self.dataset, spec, self.targets[spec.target.name], self._primary,
                              self._settings, self.state, self.now, self.options)
        context.restic = restic
        return context

    def run(self, check_id: str, which: int | str = 0) -> CheckResult:
        """Run one copy check on the copy's context. An exception is not caught: a test must see a
        crash as a crash, not as the error status agent.run would make of it."""
        return checks.get(check_id).run(self.context(which))

    def verify_copy(self, which: int | str = 0) -> CopyResult:
        """Every applicable check in table order, the rest skipped once reachable fails, then the
        copy's storage identity — what agent.run.verify_copy does for one copy."""
        spec = self.spec(which)
        context = self.context(which)
        result = CopyResult(spec)
        blocked = None
        for module in checks.applicable(spec.form, spec.role, spec.target.kind):
            if blocked:
                result.checks.append(CheckResult(module.ID, Status.SKIP, blocked))
                continue
            check = module.run(context)
            result.checks.append(check)
            if module.ID == "reachable" and check.status != Status.PASS:
                blocked = "not run: target not reachable"
        if blocked:
            result.identity_skipped = blocked
        else:
            repository = context.restic
            try:
                result.identity = identity.gather(context, repository.repository_id if repository else None)
            except (TargetUnavailable, ResticError) as error:
                result.identity_error = str(error)
        result.last_backup_at = context.last_backup_at
        return result

    def verify(self) -> DatasetOutcome:
        """The whole dataset: every copy (primary first), then independence and policy-321."""
        copies = [self.verify_copy("primary"), *(self.verify_copy(i) for i in range(len(self.dataset.copies)))]
        verdicts = checks.get("independence").run_dataset(self.dataset, copies)
        for copy, verdict in zip(copies, verdicts, strict=True):
            copy.checks.append(verdict)
        return DatasetOutcome(copies, verdicts, checks.get("policy-321").run_dataset(self.dataset, copies))

    def next_night(self, hours: float = 24) -> None:
        """Move the clock on and start a new run: contexts and the primary's manifest are new, the
        hash cache and the rotation state are kept (as state.json and the cache file would be)."""
        self.now += timedelta(hours=hours)
        self._contexts.clear()
        self._primary = None
        for handle in self.targets.values():
            handle.context = target_context(self.now.timestamp(), self.hash_cache)
