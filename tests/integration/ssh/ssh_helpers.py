"""Helpers shared by the ssh tests (a uniquely named module: `conftest` may mean another directory's)."""

from __future__ import annotations

import time

from agent.config import Target
from agent.hashing import HashCache
from agent.targets.base import TargetContext


def make_context(command_timeout: float = 60, hash_workers: int = 2, cache: HashCache | None = None) -> TargetContext:
    return TargetContext(hash_cache=cache or HashCache(None), now=time.time(), rehash_every=30 * 86400,
                         hash_workers=hash_workers, command_timeout=command_timeout)


def make_target(name: str = "droplet", medium: str = "cloud-vm", **options) -> Target:
    return Target(name, "ssh", medium, "test", options)
