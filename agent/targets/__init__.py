"""Target adapters: one class per kind behind agent.targets.base.TargetHandle."""

from __future__ import annotations

from agent.config import Target
from agent.targets.base import Probe, ResticLocation, TargetContext, TargetHandle, UnsupportedTarget
from agent.targets.local import LocalTarget

__all__ = ["Probe", "ResticLocation", "TargetContext", "TargetHandle", "open_target"]


def open_target(target: Target, context: TargetContext) -> TargetHandle:
    """Given a configured target, return a handle for it. Kinds not built yet answer error, never pass."""
    if target.kind == "local":
        return LocalTarget(target, context)
    if target.kind == "ssh":
        from agent.targets.ssh import SshTarget  # paramiko loads only when an ssh target is configured

        return SshTarget(target, context)
    if target.kind == "s3":
        from agent.targets.s3 import S3Target  # boto3 loads only when an s3 target is configured

        return S3Target(target, context)
    return UnsupportedTarget(
        target, context, f"target kind {target.kind!r} is not supported by this version yet; copies cannot be verified"
    )
