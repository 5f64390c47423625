"""Chain heads anchored outside every agent host: objects under S3 object lock in COMPLIANCE mode.

A hash chain shows an edit inside it, and the head file, head log and metrics show a cut tail to
anyone who cannot rewrite them too. Someone with root on every agent host and on the database
can: rewrite the records from #N on, rehash, rewrite the heads. What they cannot do is delete or
overwrite an object held under COMPLIANCE retention (not even the bucket's owner can, until the
retention ends). So each run that appends records writes its chain head as one such object:

    PREFIX/AGENT/SEQ-HASH.json = {"agent", "seq", "hash", "time"}

SEQ is written with 12 digits so keys sort by number; HASH is the record's full SHA-256. Every
version of every object under the prefix counts (a second PUT to a key makes a new version and
leaves the locked one as it was; a delete marker hides nothing from a listing of versions).

`check_anchors` (pure) says, per agent, whether the store still holds every anchored record with
the anchored hash and reaches the newest one. What anchors cannot show: records appended after
the newest anchor (cut or rewritten before the next anchor is written), nor whether what was
recorded was true when it was recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.clock import iso
from agent.errors import TargetUnavailable
from agent.units import MAX_DURATION_SECONDS, parse_duration, short_repr

if TYPE_CHECKING:
    from agent.config_model import AnchorSettings
    from agent.targets.s3_client import S3Client

DEFAULT_PREFIX = "anchors/"
DEFAULT_RETAIN = "5y30d"  # QEF-19-05 is kept 5 years; a month more than the records it vouches for
MODE = "COMPLIANCE"
SEQ_DIGITS = 12
MAX_ANCHOR_BYTES = 4096  # an anchor is about 200 bytes; anything much larger is not one
AGENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_KEY = re.compile(r"(?P<agent>[^/]+)/(?P<seq>\d{1,18})-(?P<hash>[0-9a-f]{64})\.json")
_YEARS = re.compile(r"^\s*(?:P(?P<iso>\d{1,3})Y|(?P<plain>\d{1,3})\s*y)\s*", re.IGNORECASE)
RETAIN_HINT = "a retention such as 5y30d, 6y, 400d or ISO 8601 P5Y30D (at least 1d, at most 100 years)"


@dataclass(frozen=True)
class AgentHead:
    """One agent's chain head: its newest record's sequence number and hash, and when it was recorded."""

    agent: str
    seq: int
    hash: str
    time: datetime

    def to_json(self) -> dict[str, Any]:
        return {"agent": self.agent, "seq": self.seq, "hash": self.hash, "time": iso(self.time)}

    @classmethod
    def from_json(cls, data: Any) -> AgentHead:
        """Raise ValueError when data is not an anchor's document."""
        if not isinstance(data, dict) or set(data) != {"agent", "seq", "hash", "time"}:
            raise ValueError("expected exactly the keys agent, seq, hash, time")
        seq, digest, agent = data["seq"], data["hash"], data["agent"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError(f"seq {short_repr(seq)} is not a record number")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError(f"hash {short_repr(digest)} is not a SHA-256 in hex")
        if not isinstance(agent, str) or not AGENT_NAME.fullmatch(agent):
            raise ValueError(f"agent {short_repr(agent)} is not an agent name")
        time = datetime.fromisoformat(str(data["time"]).replace("Z", "+00:00"))
        return cls(agent, seq, digest, time if time.tzinfo else time.replace(tzinfo=UTC))


@dataclass(frozen=True)
class StoredAnchor:
    """One version of one object under the prefix: the head it holds (None when it holds none: then
    `problem` says why), and the retention the server holds it under."""

    key: str
    version_id: str
    head: AgentHead | None
    mode: str | None
    retain_until: datetime | None
    problem: str | None = None


@dataclass(frozen=True)
class AnchorProblem:
    agent: str
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"agent {self.agent}, record #{self.seq}: {self.reason}"


# -- settings --------------------------------------------------------------------------------------


def parse_retention(value: object) -> tuple[int, float]:
    """Given `5y30d`, `6y`, `400d`, `P5Y30D` or a number of seconds, return (calendar years, seconds).
    Raise ValueError."""
    years, rest = 0, value
    if isinstance(value, str):
        match = _YEARS.match(value)
        if match:
            years = int(match.group("iso") or match.group("plain"))
            rest = value[match.end():]
            if match.group("iso") and rest.strip():
                rest = "P" + rest.strip()
    try:
        seconds = parse_duration(rest) if (not isinstance(rest, str) or rest.strip()) else 0.0
    except ValueError:
        raise ValueError(f"expected {RETAIN_HINT}, got {short_repr(value)}") from None
    if seconds < 0 or years * 365.25 * 86400 + seconds < 86400:
        raise ValueError(f"{short_repr(value)} is shorter than a day; expected {RETAIN_HINT}")
    if years * 365.25 * 86400 + seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{short_repr(value)} is longer than 100 years; expected {RETAIN_HINT}")
    return years, seconds


def normal_prefix(prefix: str) -> str:
    """A prefix as keys use it: no leading slash, one trailing slash. Raise ValueError when empty or
    holding an empty, `.` or `..` segment."""
    stripped = prefix.strip("/")
    if not stripped or any(part in ("", ".", "..") for part in stripped.split("/")):
        raise ValueError(f"{short_repr(prefix)} is not a key prefix; give one such as anchors/ (no empty, . or .. "
                         "parts)")
    return stripped + "/"


def retain_until(moment: datetime, settings: AnchorSettings) -> datetime:
    """moment plus the retention: calendar years (29 February moves to 1 March, never earlier), then seconds."""
    moment = moment.astimezone(UTC)
    try:
        later = moment.replace(year=moment.year + settings.retain_years)
    except ValueError:
        later = moment.replace(year=moment.year + settings.retain_years, month=3, day=1)
    return later + timedelta(seconds=settings.retain_seconds)


def anchor_key(prefix: str, head: AgentHead) -> str:
    return f"{prefix}{head.agent}/{head.seq:0{SEQ_DIGITS}d}-{head.hash}.json"


def anchor_body(head: AgentHead) -> bytes:
    return (json.dumps(head.to_json(), sort_keys=True) + "\n").encode("utf-8")


# -- writing and reading ---------------------------------------------------------------------------


def write_anchor(client: S3Client, settings: AnchorSettings, head: AgentHead, now: datetime) -> str:
    """Write head as an object under COMPLIANCE retention until now + retain, read the retention
    back, and return the version id. Raise TargetUnavailable (the bucket has no object lock, the
    write failed, or the server does not hold the object under the retention asked for)."""
    if not AGENT_NAME.fullmatch(head.agent):
        raise TargetUnavailable(f"agent name {short_repr(head.agent)} cannot name an anchor: set agent.name to "
                                "letters, digits, '.', '_' or '-'")
    key = anchor_key(settings.prefix, head)
    until = retain_until(now, settings)
    try:
        version = client.put_locked_object(key, anchor_body(head), MODE, until)
    except TargetUnavailable:
        lock = client.lock_configuration()
        if not lock or lock.get("ObjectLockEnabled") != "Enabled":
            raise TargetUnavailable(
                f"{client.bucket.where} does not have object lock enabled, so nothing written there is "
                "protected; object lock can only be enabled when a bucket is created: create a bucket with it "
                "(aws s3api create-bucket --object-lock-enabled-for-bucket) and name it in records.anchor.target"
            ) from None
        raise
    if not version:
        raise TargetUnavailable(f"{client.bucket.where} returned no version id for {key}: object lock needs a "
                                "versioned bucket; the anchor is not protected")
    held = client.object_retention(key, version)
    mode, held_until = (held or {}).get("Mode"), (held or {}).get("RetainUntilDate")
    if mode != MODE or held_until is None or held_until < until - timedelta(seconds=1):
        raise TargetUnavailable(f"{client.bucket.where} accepted {key} but holds it under {mode or 'no'} retention "
                                f"until {iso(held_until) if held_until else '-'}, not {MODE} until {iso(until)}")
    return version


def list_anchors(client: S3Client, settings: AnchorSettings, agents: Iterable[str] | None = None) -> list[StoredAnchor]:
    """Every version of every object under the prefix (or under PREFIX/AGENT/ for the agents given),
    with the head it holds and its retention. Raise TargetUnavailable."""
    prefixes = [settings.prefix] if agents is None else [f"{settings.prefix}{agent}/" for agent in sorted(set(agents))]
    found = []
    for prefix in prefixes:
        for version in client.object_versions(prefix):
            found.append(_stored(client, settings.prefix, version["Key"], version["VersionId"], int(version["Size"])))
    return sorted(found, key=lambda a: (a.head.agent, a.head.seq) if a.head else ("", 0))


def _stored(client: S3Client, prefix: str, key: str, version_id: str, size: int) -> StoredAnchor:
    held = client.object_retention(key, version_id) or {}
    mode, until = held.get("Mode"), held.get("RetainUntilDate")
    named = _KEY.fullmatch(key[len(prefix):])
    if not named:
        return StoredAnchor(key, version_id, None, mode, until, "its key is not AGENT/SEQ-HASH.json")
    if size > MAX_ANCHOR_BYTES:
        return StoredAnchor(key, version_id, None, mode, until, f"{size} bytes is too large for an anchor")
    try:
        head = AgentHead.from_json(json.loads(client.get_bytes(key, version_id, MAX_ANCHOR_BYTES)))
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return StoredAnchor(key, version_id, None, mode, until, f"its content is not an anchor ({error})")
    if (head.agent, head.seq, head.hash) != (named["agent"], int(named["seq"]), named["hash"]):
        return StoredAnchor(key, version_id, None, mode, until,
                            f"its content (agent {head.agent}, #{head.seq}, sha256 {head.hash[:16]}…) "
                            "disagrees with its key")
    return StoredAnchor(key, version_id, head, mode, until)


def read_anchors(client: S3Client, settings: AnchorSettings,
                 agents: Iterable[str] | None = None) -> dict[str, list[AgentHead]]:
    """The anchored heads, per agent, by sequence number. Raise TargetUnavailable."""
    return group([a.head for a in list_anchors(client, settings, agents) if a.head is not None])


def group(heads: Iterable[AgentHead]) -> dict[str, list[AgentHead]]:
    grouped: dict[str, list[AgentHead]] = {}
    for head in sorted(heads, key=lambda h: (h.agent, h.seq, h.time)):
        grouped.setdefault(head.agent, []).append(head)
    return grouped


# -- checking --------------------------------------------------------------------------------------


def check_anchors(anchors: dict[str, list[AgentHead]], lookup: Callable[[str, int], str | None],
                  last_seq: Callable[[str], int]) -> list[AnchorProblem]:
    """Given the anchored heads per agent, a way to read the hash of an agent's record (None when the
    store lacks it) and the agent's newest sequence number in the store (0: none), return what
    disagrees: the store does not reach the newest anchored record (cut), or an anchored record is
    missing or has another hash (rewritten). One problem per kind and agent, naming the first."""
    problems: list[AnchorProblem] = []
    for agent in sorted(anchors):
        heads = sorted(anchors[agent], key=lambda h: (h.seq, h.time))
        if not heads:
            continue
        last = last_seq(agent)
        newest = heads[-1]
        if newest.seq > last:
            holds = f"holds {agent}'s records up to #{last}" if last else f"holds no records of {agent}"
            problems.append(AnchorProblem(agent, newest.seq, (
                f"the store {holds}, but the anchor of {iso(newest.time)} says the chain reached #{newest.seq} "
                f"(sha256 {newest.hash[:16]}…): records #{last + 1}-#{newest.seq} were cut off (or never delivered)")))
        problem = _first_difference(agent, [h for h in heads if h.seq <= last], lookup)
        if problem:
            problems.append(problem)
    return problems


def _first_difference(agent: str, heads: list[AgentHead], lookup: Callable[[str, int], str | None]) -> AnchorProblem | None:
    """The lowest anchored record the store lacks or holds with another hash, and what brackets the change."""
    digests = {seq: lookup(agent, seq) for seq in sorted({h.seq for h in heads})}
    matched = {h.seq for h in heads if digests[h.seq] == h.hash}
    differing = [h for h in heads if digests[h.seq] != h.hash]
    if not differing:
        return None
    first = differing[0]
    held = digests[first.seq]
    later = len({h.seq for h in differing if h.seq > first.seq})
    more = f"; {later} later anchored record(s) differ too" if later else ""
    if first.seq in matched:
        return AnchorProblem(agent, first.seq, (
            f"anchors disagree: the store matches one anchor of #{first.seq}, but the anchor of {iso(first.time)} "
            f"says sha256 {first.hash[:16]}… (store: {held[:16] if held else '-'}…): the chain was rewritten and "
            f"anchored again, or a false anchor was written{more}"))
    below = [seq for seq in matched if seq < first.seq]
    since = (f"the newest anchored record it still matches is #{max(below)}, so the change lies in "
             f"#{max(below) + 1}-#{first.seq}") if below else f"no earlier anchor matches, so the change lies in #1-#{first.seq}"
    what = ("is missing from the store" if held is None else
            f"has sha256 {held[:16]}… in the store")
    return AnchorProblem(agent, first.seq, (
        f"the anchor of {iso(first.time)} says sha256 {first.hash[:16]}…, but the record {what}: the chain was "
        f"rewritten; {since}{more}"))


def unanchored_tail(anchors: dict[str, list[AgentHead]], agent: str, last: int) -> str | None:
    """A note when the agent's newest records are newer than its newest anchor (nothing outside the
    hosts vouches for them yet), or None."""
    newest = max((h.seq for h in anchors.get(agent, [])), default=0)
    if last <= newest:
        return None
    if not newest:
        return f"agent {agent}: no anchor yet; records #1-#{last} are vouched for only by the hosts themselves"
    return (f"agent {agent}: records #{newest + 1}-#{last} are newer than the newest anchor (#{newest}); "
            "only the next anchor will vouch for them")
