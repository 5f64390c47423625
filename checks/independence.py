"""independence (dataset level, one result per copy): each copy's storage is its own.

A "copy" that is the primary's own files — a hard-linked mirror, a bind mount, the same path
written differently, a symlinked directory — or one restic repository declared twice, would
otherwise count twice towards 3-2-1. After every copy of the dataset was verified, their storage
identities (agent/identity.py: the kernel's boot id, real paths, device and inode of the roots, of
the directories above them and of the files; bucket and prefix; the restic repository id) are
compared in declared order, the primary first. A copy that shares storage with the primary or with
an earlier copy fails, naming what it shares and with which copy, so policy-321 counts the shared
storage once. Copies on one filesystem with files of their own are independent. A copy whose
identity could not be read is an error, never a pass; `replica: true` on a restic copy (a
byte-level replica of another repository) skips only the repository id comparison. With
--target, a copy whose earlier copies were not all selected is `skip` unless it shares storage
with one that was."""

from __future__ import annotations

from typing import Any

from agent.config import CopySpec, Dataset
from agent.identity import CopyIdentity, FileIds, StorageIdentity
from agent.models import CheckResult, CopyResult, Status

ID = "independence"


def label(spec: CopySpec) -> str:
    """How a detail names a copy: the primary, or its place in `copies` and its target."""
    if spec.role == "primary":
        return f"the primary on {spec.target.name}"
    return f"copies[{spec.index}] on {spec.target.name}"


def run_dataset(dataset: Dataset, copies: list[CopyResult]) -> list[CheckResult]:
    """Given a dataset and its verified copies (declared order, primary first), return one
    independence result per copy, in the same order."""
    position = {spec.key: i for i, spec in enumerate(dataset.all_copies)}
    present = {copy.spec.key for copy in copies}
    absent = [spec for spec in dataset.all_copies if spec.key not in present]
    earlier: list[tuple[CopySpec, CopyIdentity]] = []
    unidentified: list[CopySpec] = []
    results = []
    for copy in copies:
        left_out = [spec for spec in absent if position[spec.key] < position[copy.spec.key]]
        results.append(judge(copy, earlier, unidentified, left_out))
        if copy.identity is not None:
            earlier.append((copy.spec, copy.identity))
        else:
            unidentified.append(copy.spec)
    return results


def judge(copy: CopyResult, earlier: list[tuple[CopySpec, CopyIdentity]], unidentified: list[CopySpec],
          left_out: list[CopySpec]) -> CheckResult:
    """One copy against the copies before it. Pure: reads only the identities gathered on the results."""
    mine = copy.identity
    if mine is None:
        if copy.identity_error:
            return CheckResult(ID, Status.ERROR,
                               f"cannot tell whether this copy's storage is its own: {copy.identity_error}")
        return CheckResult(ID, Status.SKIP, copy.identity_skipped or "not run: the copy was not verified")
    shared: list[str] = []
    notes: list[str] = []
    shares_with: list[str] = []
    for spec, other in earlier:
        reasons, note = sharing(other, mine)
        if reasons:
            shared.append(f"{label(spec)}: {', '.join(reasons)}")
            shares_with.append(spec.key)
        if note:
            notes.append(f"{note} {label(spec)}")
    measured: dict[str, Any] = {"compared_with": len(earlier), "storage": describe(mine)}
    if shared:
        measured["shares_with"] = shares_with
        return CheckResult(ID, Status.FAIL, "shares storage with " + "; and with ".join(shared)
                           + " — it is not a copy of its own and counts once", measured)
    if unidentified:
        notes.append("not compared with " + ", ".join(label(s) for s in unidentified)
                     + " (identity unknown: that copy did not verify and does not count)")
    compared = ", ".join(label(spec) for spec, _ in earlier)
    if left_out:
        return CheckResult(ID, Status.SKIP, "not fully evaluated: --target left out "
                           + ", ".join(label(s) for s in left_out)
                           + (f"; not shared with {compared}" if compared else ""), measured)
    if not earlier and not unidentified:
        detail = f"the reference the later copies are compared with ({describe(mine)})"
    else:
        detail = f"storage of its own ({describe(mine)}); not shared with {compared or 'any copy compared'}"
    return CheckResult(ID, Status.PASS, detail + "".join(f"; {n}" for n in notes), measured)


def sharing(earlier: CopyIdentity, mine: CopyIdentity) -> tuple[list[str], str | None]:
    """Return (what `mine` shares with `earlier`, a note for an accepted replica) — empty when nothing."""
    reasons = []
    note = None
    if mine.repository_id and mine.repository_id == earlier.repository_id:
        if mine.replica or earlier.replica:
            note = f"same restic repository id ({mine.repository_id[:8]}) as a declared replica of"
        else:
            reasons.append(f"the same restic repository (id {mine.repository_id[:8]}; set replica: true only "
                           "on a byte-level replica on storage of its own)")
    reasons += _storage_sharing(earlier.storage, mine.storage)
    return reasons, note


def _storage_sharing(a: StorageIdentity, b: StorageIdentity) -> list[str]:
    if a.is_object or b.is_object:
        return _object_sharing(a, b) if a.is_object and b.is_object else []
    return _directory_sharing(a, b)


def _object_sharing(a: StorageIdentity, b: StorageIdentity) -> list[str]:
    if (a.endpoint, a.bucket) != (b.endpoint, b.bucket):
        return []
    where = f"bucket {b.bucket} at {b.endpoint}"
    if a.prefix == b.prefix:
        return [f"the same prefix {b.prefix or '(whole bucket)'!r} in {where}"]
    if _prefix_inside(b.prefix or "", a.prefix or ""):
        return [f"its prefix {b.prefix!r} lies inside {a.prefix or '(whole bucket)'!r} in {where}"]
    if _prefix_inside(a.prefix or "", b.prefix or ""):
        return [f"its prefix {b.prefix or '(whole bucket)'!r} contains {a.prefix!r} in {where}"]
    return []


def _directory_sharing(a: StorageIdentity, b: StorageIdentity) -> list[str]:
    if a.host is None or a.host != b.host:
        return []  # another kernel: device and inode numbers say nothing across machines
    if a.root == b.root:
        if a.real_path != b.real_path:
            return [f"the same directory (device {b.root[0]}, inode {b.root[1]}) reached as {b.real_path} and as "
                    f"{a.real_path} (a bind mount or another route to it)"]
        return [f"the same directory {b.real_path} (device {b.root[0]}, inode {b.root[1]})"]
    if a.root in b.ancestors:
        return [f"it lies inside it ({b.real_path} is under {a.real_path})"]
    if b.root in a.ancestors:
        return [f"it contains it ({a.real_path} is under {b.real_path})"]
    if a.files is not None and b.files is not None:
        linked = FileIds.of(a.files).shared_with(FileIds.of(b.files))
        if linked:
            return [f"{linked} of {len(b.files)} files are hard links to it (same device and inode)"]
    return []


def _prefix_inside(inner: str, outer: str) -> bool:
    return outer == "" or inner.startswith(outer + "/")


def describe(identity: CopyIdentity) -> str:
    """A short description of where a copy's bytes are, for details and records."""
    storage = identity.storage
    if storage.is_object:
        text = f"s3 {storage.endpoint}/{storage.bucket}/{storage.prefix}"
    else:
        text = (f"{storage.real_path} on host {(storage.host or '?')[:8]}, "
                f"device {storage.root[0]} inode {storage.root[1]}" if storage.root else f"{storage.real_path}")
    if identity.repository_id:
        text += f", restic repository {identity.repository_id[:8]}"
    return text
