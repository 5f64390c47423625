"""Chain-head anchors (agent.records.anchors): the check as a table, the object layout, retention
arithmetic, the `records.anchor` settings, and the pending file. The S3 side runs against the real
SeaweedFS in tests/integration/s3/test_s3_anchors.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.config_model import AnchorSettings
from agent.errors import ConfigError
from agent.records.anchoring import read_pending, write_pending
from agent.records.anchors import (
    AgentHead,
    anchor_body,
    anchor_key,
    check_anchors,
    group,
    normal_prefix,
    parse_retention,
    retain_until,
    unanchored_tail,
)
from tests.support.configs import minimal

T = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)


def h(seq: int, mark: str = "a") -> str:
    """A recognisable 64-hex hash for record seq of chain `mark` (a: the original, b: a rewrite)."""
    return f"{mark}{seq:03d}".ljust(64, "0")


def store(chains: dict[str, list[str]]):
    """lookup and last_seq over {agent: [hash of #1, hash of #2, …]} (None marks a missing record)."""
    def lookup(agent: str, seq: int) -> str | None:
        chain = chains.get(agent, [])
        return chain[seq - 1] if 0 < seq <= len(chain) else None

    return lookup, lambda agent: len(chains.get(agent, []))


def heads(agent: str, *seqs: int, mark: str = "a") -> list[AgentHead]:
    return [AgentHead(agent, seq, h(seq, mark), T) for seq in seqs]


ORIGINAL = [h(n) for n in range(1, 21)]
REWRITTEN_FROM_8 = ORIGINAL[:7] + [h(n, "b") for n in range(8, 21)]

CASES = {
    # name: (anchors, store chains, [(agent, seq, words…)] expected problems)
    "no anchors": ({}, {"vm": ORIGINAL}, []),
    "all match": ({"vm": heads("vm", 4, 12, 20)}, {"vm": ORIGINAL}, []),
    "store beyond the newest anchor": ({"vm": heads("vm", 4, 12)}, {"vm": ORIGINAL}, []),
    "rewritten from #8": ({"vm": heads("vm", 4, 12, 20)}, {"vm": REWRITTEN_FROM_8},
                          [("vm", 12, "rewritten", "#4", "#5-#12", "1 later anchored record(s) differ")]),
    "rewritten from #1": ({"vm": heads("vm", 4, 12)}, {"vm": [h(n, "b") for n in range(1, 21)]},
                          [("vm", 4, "rewritten", "no earlier anchor matches", "#1-#4")]),
    "tail cut below the newest anchor": ({"vm": heads("vm", 4, 12, 20)}, {"vm": ORIGINAL[:15]},
                                         [("vm", 20, "up to #15", "#16-#20", "cut off")]),
    "store emptied": ({"vm": heads("vm", 4)}, {}, [("vm", 4, "no records of vm", "#1-#4")]),
    "cut and rewritten": ({"vm": heads("vm", 4, 12, 20)}, {"vm": REWRITTEN_FROM_8[:15]},
                          [("vm", 20, "cut off"), ("vm", 12, "rewritten")]),
    "a record inside the chain missing": ({"vm": heads("vm", 4, 12)}, {"vm": ORIGINAL[:11] + [None] + ORIGINAL[12:]},
                                          [("vm", 12, "missing from the store")]),
    "two anchors of one record disagree": ({"vm": [*heads("vm", 4, 12), AgentHead("vm", 12, h(12, "b"), T)]},
                                           {"vm": ORIGINAL}, [("vm", 12, "anchors disagree")]),
    "per agent": ({"vm": heads("vm", 4), "nas": heads("nas", 3, 9)},
                  {"vm": ORIGINAL, "nas": [h(n, "n") for n in range(1, 10)]},
                  [("nas", 3, "rewritten")]),
    "an agent missing from the store": ({"vm": heads("vm", 4), "gone": heads("gone", 2)}, {"vm": ORIGINAL},
                                        [("gone", 2, "no records of gone", "cut off")]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_check_anchors(name: str) -> None:
    anchors, chains, expected = CASES[name]
    problems = check_anchors(anchors, *store(chains))
    assert [(p.agent, p.seq) for p in problems] == [(agent, seq) for agent, seq, *_ in expected], problems
    for problem, (_, _, *words) in zip(problems, expected, strict=True):
        for word in words:
            assert word in str(problem), str(problem)


@pytest.mark.parametrize(("newest", "last", "words"), [
    (20, 20, None),
    (12, 20, ["#13-#20", "newest anchor (#12)"]),
    (0, 5, ["no anchor yet", "#1-#5"]),
    (0, 0, None),
])
def test_unanchored_tail(newest: int, last: int, words: list[str] | None) -> None:
    anchors = {"vm": heads("vm", newest)} if newest else {}
    note = unanchored_tail(anchors, "vm", last)
    if words is None:
        assert note is None
    else:
        assert note is not None and all(word in note for word in words), note


def test_object_layout() -> None:
    head = AgentHead("agent-host-1", 42, h(42), T)
    assert anchor_key("anchors/", head) == f"anchors/agent-host-1/000000000042-{h(42)}.json"
    assert json.loads(anchor_body(head)) == {"agent": "agent-host-1", "seq": 42, "hash": h(42),
                                             "time": "2026-11-29T20:00:00Z"}
    assert AgentHead.from_json(json.loads(anchor_body(head))) == head
    assert group([AgentHead("b", 2, h(2), T), AgentHead("a", 9, h(9), T), AgentHead("b", 1, h(1), T)]) == {
        "a": [AgentHead("a", 9, h(9), T)], "b": [AgentHead("b", 1, h(1), T), AgentHead("b", 2, h(2), T)]}


@pytest.mark.parametrize("document", [
    {"agent": "vm", "seq": 0, "hash": h(1), "time": "2026-11-29T20:00:00Z"},
    {"agent": "vm", "seq": True, "hash": h(1), "time": "2026-11-29T20:00:00Z"},
    {"agent": "vm", "seq": 1, "hash": "abc", "time": "2026-11-29T20:00:00Z"},
    {"agent": "../x", "seq": 1, "hash": h(1), "time": "2026-11-29T20:00:00Z"},
    {"agent": "vm", "seq": 1, "hash": h(1), "time": "yesterday"},
    {"agent": "vm", "seq": 1, "hash": h(1), "time": "2026-11-29T20:00:00Z", "extra": 1},
    [1, 2],
])
def test_a_document_that_is_not_an_anchor_is_refused(document) -> None:
    with pytest.raises(ValueError):
        AgentHead.from_json(document)


@pytest.mark.parametrize(("text", "expected"), [
    ("5y30d", (5, 30 * 86400.0)),
    ("6y", (6, 0.0)),
    ("400d", (0, 400 * 86400.0)),
    ("P5Y30D", (5, 30 * 86400.0)),
    ("P1Y", (1, 0.0)),
    ("1y 12h", (1, 12 * 3600.0)),
    (86400, (0, 86400.0)),
])
def test_parse_retention(text, expected) -> None:
    assert parse_retention(text) == expected


@pytest.mark.parametrize("text", ["", "12h", "0d", "5 years", "101y", "y", -5, "5y-1d", True])
def test_parse_retention_refuses(text) -> None:
    with pytest.raises(ValueError):
        parse_retention(text)


@pytest.mark.parametrize(("moment", "years", "seconds", "expected"), [
    (datetime(2026, 11, 29, 20, 0, tzinfo=UTC), 5, 30 * 86400, datetime(2031, 12, 29, 20, 0, tzinfo=UTC)),
    (datetime(2028, 2, 29, 12, 0, tzinfo=UTC), 5, 0, datetime(2033, 3, 1, 12, 0, tzinfo=UTC)),
    (datetime(2026, 1, 1, tzinfo=UTC), 0, 86400, datetime(2026, 1, 2, tzinfo=UTC)),
])
def test_retain_until(moment, years, seconds, expected) -> None:
    assert retain_until(moment, AnchorSettings("b", retain_years=years, retain_seconds=seconds)) == expected


@pytest.mark.parametrize(("prefix", "expected"), [("anchors/", "anchors/"), ("/audit/anchors", "audit/anchors/")])
def test_normal_prefix(prefix: str, expected: str) -> None:
    assert normal_prefix(prefix) == expected


@pytest.mark.parametrize("prefix", ["/", "a//b", "a/../b", "./x"])
def test_normal_prefix_refuses(prefix: str) -> None:
    with pytest.raises(ValueError):
        normal_prefix(prefix)


# -- records.anchor in targets.yaml ----------------------------------------------------------------


def load(records: object, tmp_path: Path):
    document = minimal()
    document["records"] = records
    return parse_config(document, tmp_path / "targets.yaml", environ={})


def test_anchor_settings_and_defaults(tmp_path: Path) -> None:
    assert load({}, tmp_path).records.anchor is None
    anchor = load({"anchor": {"target": "bucket"}}, tmp_path).records.anchor
    assert anchor == AnchorSettings("bucket", "anchors/", "5y30d", 5, 30 * 86400.0)
    anchor = load({"anchor": {"target": "bucket", "prefix": "/audit/heads", "retain": "6y"}}, tmp_path).records.anchor
    assert load({"anchor": {"target": "bucket", "prefix": "dd/"}}, tmp_path).records.anchor.prefix == "dd/"
    assert (anchor.prefix, anchor.retain_years, anchor.retain_seconds) == ("audit/heads/", 6, 0.0)


@pytest.mark.parametrize(("records", "words"), [
    ({"anchor": {"target": "nope"}}, ["records.anchor.target", "unknown target 'nope'", "bucket"]),
    ({"anchor": {"target": "disk"}}, ["records.anchor.target", "'local' target", "s3 target"]),
    ({"anchor": {"target": "nas"}}, ["records.anchor.target", "'ssh' target"]),
    ({"anchor": {"target": "bucket", "retain": "12h"}}, ["records.anchor.retain", "shorter than a day"]),
    ({"anchor": {"target": "bucket", "retain": "forever"}}, ["records.anchor.retain", "5y30d"]),
    ({"anchor": {"target": "bucket", "prefix": "a/../b"}}, ["records.anchor.prefix", "anchors/"]),
    ({"anchor": {"target": "bucket", "prefix": ""}}, ["records.anchor.prefix", "must not be empty"]),
    ({"anchor": {"prefix": "x/"}}, ["records.anchor", "'target' is required"]),
    ({"anchor": {"target": "bucket", "mode": "GOVERNANCE"}}, ["records.anchor", "unknown key"]),
    ({"anchors": {"target": "bucket"}}, ["records", "unknown key", "anchor"]),
    # minimal()'s dataset d has an objects copy at d/ on the bucket target
    ({"anchor": {"target": "bucket", "prefix": "d/anchors/"}}, ["records.anchor.prefix", "datasets.d.copies[2].path"]),
    ({"anchor": {"target": "bucket", "prefix": "d"}}, ["records.anchor.prefix", "overlaps"]),
])
def test_bad_anchor_settings_name_the_key(tmp_path: Path, records: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as raised:
        load(records, tmp_path)
    text = str(raised.value)
    assert str(tmp_path / "targets.yaml") in text
    for word in words:
        assert word in text, text


# -- the pending file ------------------------------------------------------------------------------


def test_pending_heads_round_trip_and_vanish_when_none_are_left(tmp_path: Path) -> None:
    path = tmp_path / "anchors-pending.json"
    assert read_pending(path) == []
    waiting = heads("vm", 3, 7)
    write_pending(path, waiting)
    assert read_pending(path) == waiting
    write_pending(path, [])
    assert not path.exists()


def test_an_unreadable_pending_file_reads_as_empty(tmp_path: Path, caplog) -> None:
    path = tmp_path / "anchors-pending.json"
    path.write_text("{not json")
    assert read_pending(path) == []
    assert "unreadable" in caplog.text


# -- write_anchor against servers that cannot run here ---------------------------------------------


class LaxServer:
    """Stands in for S3Client: a server that accepts the object-lock headers but does not hold the
    object as asked (no retention, a shorter one, no version id). SeaweedFS and AWS honour them,
    so such a server cannot be run here; the real server is tests/integration/s3/test_s3_anchors.py."""

    def __init__(self, version: str | None, retention: dict | None):
        self.version, self.retention = version, retention
        self.bucket = type("Bucket", (), {"where": "s3 bucket lax at http://127.0.0.1:9"})()
        self.puts: list[tuple[str, bytes, str, datetime]] = []

    def put_locked_object(self, key: str, body: bytes, mode: str, until: datetime) -> str | None:
        self.puts.append((key, body, mode, until))
        return self.version

    def object_retention(self, key: str, version_id: str) -> dict | None:
        return self.retention


SETTINGS = AnchorSettings("audit")


@pytest.mark.parametrize(("version", "retention", "words"), [
    ("v1", None, ["holds it under no retention", "not COMPLIANCE until 2031-12-29"]),
    ("v1", {"Mode": "GOVERNANCE", "RetainUntilDate": datetime(2031, 12, 29, 20, tzinfo=UTC)}, ["GOVERNANCE"]),
    ("v1", {"Mode": "COMPLIANCE", "RetainUntilDate": datetime(2027, 1, 1, tzinfo=UTC)}, ["until 2027-01-01"]),
    (None, None, ["no version id", "not protected"]),
])
def test_an_anchor_the_server_does_not_hold_as_asked_is_not_written(version, retention, words) -> None:
    from agent.errors import TargetUnavailable
    from agent.records.anchors import write_anchor

    server = LaxServer(version, retention)
    with pytest.raises(TargetUnavailable) as raised:
        write_anchor(server, SETTINGS, AgentHead("vm", 7, h(7), T), T)  # type: ignore[arg-type]
    for word in words:
        assert word in str(raised.value), str(raised.value)
    ((key, body, mode, until),) = server.puts
    assert (key, mode, until) == (f"anchors/vm/000000000007-{h(7)}.json", "COMPLIANCE",
                                  datetime(2031, 12, 29, 20, tzinfo=UTC))


def test_an_anchor_held_as_asked_returns_its_version() -> None:
    from agent.records.anchors import write_anchor

    server = LaxServer("v1", {"Mode": "COMPLIANCE", "RetainUntilDate": datetime(2031, 12, 29, 20, tzinfo=UTC)})
    assert write_anchor(server, SETTINGS, AgentHead("vm", 7, h(7), T), T) == "v1"  # type: ignore[arg-type]


def test_an_agent_name_that_cannot_be_a_key_part_is_refused_before_any_request() -> None:
    from agent.errors import TargetUnavailable
    from agent.records.anchors import write_anchor

    server = LaxServer("v1", None)
    with pytest.raises(TargetUnavailable, match="agent.name"):
        write_anchor(server, SETTINGS, AgentHead("a/../b", 7, h(7), T), T)  # type: ignore[arg-type]
    assert server.puts == []
