"""The anomaly verdict, from what changed between the last clean backup and the newest one.
Pure: the sources (restic, mirrors) gather the change and measure the samples; this decides.

Signals, each scored so that 1.0 is its threshold; the score is the highest, a suspect at >= 1:
- change rate: files changed or removed ÷ files in the last clean backup, against
  max(change_rate, median + spread_factor × spread) of the copy's last clean runs (spread = 1.4826
  × median absolute deviation); fewer than min_files changed or removed files never make a mass
  change. Files added do not count: an import of new documents destroys nothing.
- entropy: of the sampled changed files (previous version known: the same path, or the file it
  was renamed from), the share that now look encrypted (no compressed-format signature, entropy
  at entropy_bits) and did not before, against entropy_share; at least 3 such files (or half of a
  smaller dataset).
- renames: files renamed to one extension the last clean backup did not have, against
  rename_min_files.
- ransom notes: a new file whose name ransomware leaves (HOW_TO_DECRYPT.txt, …): any.
- canaries: a declared file that changed or went away: any.
"""

from __future__ import annotations

import math
import posixpath
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from agent.anomaly.content import Head, looks_random
from agent.config_model import AnomalySpec
from agent.output import name_paths

MAD_SCALE = 1.4826  # the median absolute deviation of a normal distribution times this is its sigma
MIN_ENCRYPTED = 3
NOTE_SUFFIXES = ("", ".txt", ".html", ".htm", ".hta", ".rtf", ".url")
NOTE_NAMES = tuple(re.compile(p) for p in (
    r"decrypt", r"ransom", r"(how|help)[ _.-]*(to)?[ _.-]*(recover|restore|decrypt|unlock|get[ _.-]*back)",
    r"(restore|recover|unlock)[ _.-]*(my|your|all)?[ _.-]*files", r"your[ _.-]*files[ _.-]*(are|were)?[ _.-]*"
    r"(encrypted|locked)", r"^_readme\.txt$", r"^!+.*read[ _.-]*me.*!+",
))


@dataclass(frozen=True)
class Change:
    """What differs between the last clean backup (base) and the newest one, by relative path."""

    base_files: int
    added: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    base_extensions: frozenset[str] = frozenset()
    bytes_added: int = 0
    bytes_removed: int = 0

    @property
    def touched(self) -> int:
        return len(self.modified) + len(self.removed)


@dataclass(frozen=True)
class Pair:
    """A sampled file of the newest backup and, when it had one, its previous version's head."""

    relpath: str
    previous: str | None
    new: Head
    old: Head | None = None


@dataclass
class Judgement:
    suspect: bool
    score: float
    summary: str
    findings: list[str] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)


def extension(relpath: str) -> str:
    """The last extension of a file's name, lower case, without the dot ('' for none)."""
    name = posixpath.basename(relpath)
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def previous_versions(change: Change) -> dict[str, str]:
    """Added files that are renamed removed ones: {new path: old path}, by an appended extension
    (a.docx -> a.docx.locked) or a replaced one (a.docx -> a.locked)."""
    removed = set(change.removed)
    by_stem: dict[str, str] = {}
    for path in sorted(removed):
        ext = extension(path)
        by_stem.setdefault(path[: -len(ext) - 1] if ext else path, path)
    found = {}
    for path in change.added:
        ext = extension(path)
        if not ext:
            continue
        stem = path[: -len(ext) - 1]
        if stem in removed:
            found[path] = stem
        elif stem in by_stem:
            found[path] = by_stem[stem]
    return found


def renames(change: Change) -> Counter:
    """Files renamed to an extension the last clean backup did not have, by that extension."""
    return Counter(extension(new) for new in previous_versions(change)
                   if extension(new) not in change.base_extensions)


def ransom_notes(added: tuple[str, ...]) -> list[str]:
    notes = []
    for path in added:
        name = posixpath.basename(path).lower()
        suffix = "." + extension(name) if extension(name) else ""
        if suffix in NOTE_SUFFIXES and any(p.search(name) for p in NOTE_NAMES):
            notes.append(path)
    return sorted(notes)


def rate_threshold(history: list[float], spec: AnomalySpec) -> tuple[float, str]:
    """The change rate above which a change is suspect, and how it was set."""
    runs = history[-spec.baseline_runs:]
    if len(runs) < spec.min_baseline:
        return spec.change_rate, f"no baseline yet: {len(runs)} of {spec.min_baseline} runs"
    median = statistics.median(runs)
    spread = MAD_SCALE * statistics.median(abs(x - median) for x in runs)
    threshold = max(spec.change_rate, median + spec.spread_factor * spread)
    return threshold, f"baseline of {len(runs)} runs: median {median:.1%}, spread {spread:.1%}"


def judge(change: Change, pairs: list[Pair], history: list[float], canaries: list[str],
          spec: AnomalySpec) -> Judgement:
    """Given the change, the measured samples, the copy's clean change rates and the canary
    findings (empty: all unchanged), return the verdict with its numbers."""
    rate = change.touched / max(1, change.base_files)
    threshold, basis = rate_threshold(history, spec)
    rate_score = _below_minimum(rate / threshold, change.touched, spec.min_files)
    entropy = _entropy(change, pairs, spec)
    counts = renames(change)
    ext, renamed = counts.most_common(1)[0] if counts else ("", 0)
    notes = ransom_notes(change.added)
    scores = {"change rate": rate_score, "entropy": entropy["score"], "renames": renamed / spec.rename_min_files,
              "ransom notes": float(len(notes)), "canaries": float(len(canaries))}
    summary = (f"{change.touched:,} of {change.base_files:,} files changed or removed ({rate:.1%}, threshold "
               f"{threshold:.0%}; {basis}), {len(change.added):,} added; {entropy['text']}")
    findings = []
    if rate_score >= 1:
        findings.append(f"{change.touched:,} of {change.base_files:,} files changed or removed ({rate:.0%}, "
                        f"threshold {threshold:.0%})")
    if entropy["score"] >= 1:
        findings.append(entropy["text"])
    if renamed >= spec.rename_min_files:
        findings.append(f"{renamed:,} files renamed to the new extension .{ext}")
    if notes:
        findings.append(f"ransom note{'s' if len(notes) > 1 else ''}: {name_paths(notes)}")
    findings += canaries
    score = round(max(scores.values()), 3)
    measured = {"score": score, "files_in_base": change.base_files, "files_changed": len(change.modified),
                "files_removed": len(change.removed), "files_added": len(change.added),
                "change_rate": round(rate, 4), "change_rate_threshold": round(threshold, 4),
                "baseline_runs": len(history[-spec.baseline_runs:]), "renamed": renamed,
                "rename_extension": ext or None, "ransom_notes": len(notes), "canaries_changed": len(canaries),
                "bytes_added": change.bytes_added, "bytes_removed": change.bytes_removed,
                **{k: v for k, v in entropy.items() if k not in ("score", "text")}}
    return Judgement(score >= 1, score, summary, findings, measured)


def _entropy(change: Change, pairs: list[Pair], spec: AnomalySpec) -> dict[str, Any]:
    """The entropy signal: changed files (previous version known) that now look encrypted."""
    compared = [p for p in pairs if p.previous is not None and p.new.format is None]
    encrypted = [p for p in compared if looks_random(p.new, spec.entropy_bits)
                 and (p.old is None or not looks_random(p.old, spec.entropy_bits))]
    measured = [p.new.entropy for p in pairs if p.new.format is None]
    before = [p.old.entropy for p in pairs if p.old is not None and p.old.format is None]
    figures: dict[str, Any] = {
        "sampled": len(pairs), "sampled_compressed": sum(1 for p in pairs if p.new.format is not None),
        "encrypted_looking": len(encrypted), "compared_with_previous": len(compared),
        "mean_entropy": round(statistics.fmean(measured), 3) if measured else None,
        "previous_mean_entropy": round(statistics.fmean(before), 3) if before else None,
    }
    if not compared:
        figures.update(score=0.0, text=f"{len(pairs)} files sampled, none a changed file to compare "
                                        f"({figures['sampled_compressed']} in compressed formats)")
        return figures
    share = len(encrypted) / len(compared)
    needed = min(MIN_ENCRYPTED, max(1, math.ceil(change.base_files / 2)))
    figures["score"] = _below_minimum(share / spec.entropy_share, len(encrypted), needed)
    was = f", was {figures['previous_mean_entropy']:.2f}" if before else ""
    now = f"mean entropy {figures['mean_entropy']:.2f} bits/byte{was}" if measured else "no entropy measured"
    figures["text"] = f"{len(encrypted)} of {len(compared)} sampled changed files now look encrypted ({now})"
    return figures


def _below_minimum(score: float, count: int, minimum: int) -> float:
    """A signal's score, kept under 1 (never a suspect) while fewer than `minimum` files show it."""
    return score if count >= minimum else min(score, count / minimum)
