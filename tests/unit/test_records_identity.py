"""Who a record belongs to and how its hash is taken, without a server: agent names, the
records_db URL (a password in it is refused), the chain formats, per-agent chain reports, and the
local store's refusal to mix agents. The stores themselves are tested on SQLite and PostgreSQL in
tests/integration/test_records_backends.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.agent_name import agent_name_from, is_agent_name
from agent.chain_head import Anchor, parse_anchor
from agent.config import parse_config
from agent.errors import AgentError, ConfigError
from agent.records import GENESIS, ChainReport, ChainReports, RecordStore, record_hash
from agent.records.chain import reaches, walk
from agent.records.fields import normalize
from agent.records_url import display_url, url_problem
from tests.support.records import make_rows


def document(**agent: object) -> dict:
    return {"agent": {"operator": "王婧", **agent}, "processes": {"p": {"rpo": "1h", "rto": "4h"}},
            "targets": {"t": {"kind": "local", "medium": "ssd", "location": "office", "require_mount": False}},
            "datasets": {"d": {"process": "p", "primary": {"target": "t", "form": "files", "path": "/p"}}}}


@pytest.mark.parametrize(("host", "name"), [
    ("nas-01", "nas-01"), ("NAS_01.Office.LAN", "nas_01.office.lan"), ("Büro PC", "b-ro-pc"), ("-x", "x"),
    ("a" * 80, "a" * 64),
])
def test_the_default_agent_name_is_the_host_name_made_valid(host: str, name: str) -> None:
    assert agent_name_from(host) == name and is_agent_name(name)


def test_agent_name_defaults_to_agent_host_and_can_be_set(tmp_path: Path) -> None:
    assert parse_config(document(host="Office-NAS"), tmp_path / "t.yaml").agent.name == "office-nas"
    assert parse_config(document(host="x", name="kc-home"), tmp_path / "t.yaml").agent.name == "kc-home"


@pytest.mark.parametrize("name", ["Office", "-x", "a b", "a" * 65, ""])
def test_a_bad_agent_name_is_a_config_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="agent.name"):
        parse_config(document(name=name), tmp_path / "t.yaml")


def test_a_shared_store_url_keeps_the_outbox_in_the_state_directory(tmp_path: Path) -> None:
    url = "postgresql://agent_office@audit.example.com:5432/qef?sslmode=verify-full&sslrootcert=/etc/ca.pem"
    agent = parse_config(document(records_db=url, state_dir="/var/lib/ba", records_password_file="rec.pass"),
                         tmp_path / "t.yaml").agent
    assert agent.records_url == url and agent.records_db == Path("/var/lib/ba/records.sqlite")
    assert agent.records_password_file == tmp_path / "rec.pass"
    assert display_url(url) == "postgresql://agent_office@audit.example.com:5432/qef"


@pytest.mark.parametrize("url", ["postgresql://agent:s3cret-pw@db:5432/qef", "postgresql://agent@db/qef?password=s3cret-pw",
                                 "postgres://:s3cret-pw@db/qef"])
def test_a_password_in_the_url_is_refused_and_not_repeated(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(document(records_db=url), tmp_path / "t.yaml")
    assert "agent.records_db: the URL carries a password" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)
    assert url_problem("postgresql://agent@db:5432/qef") is None


def test_a_password_file_without_a_shared_store_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="agent.records_password_file: only a shared store"):
        parse_config(document(records_password_file="x.pass"), tmp_path / "t.yaml")


def test_values_are_kept_as_the_stores_hand_them_back() -> None:
    assert normalize("bytes_verified", 4096.0) == 4096 and isinstance(normalize("rpo_seconds", 3600), float)
    assert normalize("detail", "a\x00b\udcff") == "a\\x00b\\xff"
    with pytest.raises(ValueError):
        normalize("bytes_verified", 1.5)


def test_chain_formats_hash_what_they_always_hashed() -> None:
    """Format 1 hashes record_no (its seq where it has one); format 2 hashes agent, seq and chain
    but never record_no (a shared store assigns it after the agent hashed the record)."""
    row = {**make_rows(1)[0], "record_no": 7}
    v1 = record_hash(GENESIS, row)
    assert record_hash(GENESIS, {**row, "chain": 1, "seq": 7, "record_no": 4711, "agent": "x"}) == v1
    assert record_hash(GENESIS, {**row, "record_no": 8}) != v1
    v2 = {**row, "agent": "vm", "seq": 7, "chain": 2}
    assert record_hash(GENESIS, {**v2, "record_no": 4711}) == record_hash(GENESIS, v2)
    for change in ({"agent": "other"}, {"seq": 8}, {"chain": 3}):
        assert record_hash(GENESIS, {**v2, **change}) != record_hash(GENESIS, v2)
    assert record_hash(GENESIS, {**v2, "chain": 3}) is None, "an unknown format never matches"


def _chain(count: int, agent: str = "vm") -> list[dict]:
    rows, prev = [], GENESIS
    for seq, row in enumerate(make_rows(count), 1):
        full = {**row, "agent": agent, "seq": seq, "chain": 2, "prev_hash": prev}
        full["hash"] = prev = record_hash(prev, full)
        rows.append(full)
    return rows


def test_a_walk_reports_the_first_break_and_anchors_beyond_the_end() -> None:
    rows = _chain(5)
    assert walk(rows, [], "vm") == ChainReport(True, 5, None, "", 1, 5, rows[-1]["hash"], "vm")
    downgraded = [*rows[:3], {**rows[3], "chain": 1}, rows[4]]
    assert walk(downgraded, [], "vm").broken_at == 4
    anchored = [Anchor(7, "ab" * 32, "S3 anchor", "vm")]
    cut = reaches(walk(rows, anchored, "vm"), anchored)
    assert (cut.ok, cut.broken_at, cut.reason) == (False, 6, "records 6-7 are missing: the S3 anchor says the chain "
                                                             "reached #7")


def test_reports_of_several_agents_sum_up_and_name_the_first_broken_one() -> None:
    reports = ChainReports({"b": ChainReport(False, 3, 2, "link", agent="b"), "a": ChainReport(True, 4, agent="a")})
    assert not reports.ok and reports.records == 7 and reports.broken_at == 2 and reports.reason == "agent b: link"
    assert reports.first is None and ChainReports().ok and ChainReports().records == 0


def test_anchors_may_name_their_agent() -> None:
    assert parse_anchor("office-nas/12:" + "a" * 13) == Anchor(12, "a" * 13, "--anchor", "office-nas")
    assert parse_anchor("12:" + "A" * 64).agent is None


def test_a_local_store_holds_one_agents_chain(tmp_path: Path) -> None:
    with RecordStore(tmp_path / "r.sqlite", agent="vm") as store:
        assert store.append(make_rows(2)) == (1, 2)
        with pytest.raises(AgentError, match="cannot go into agent 'vm'"):
            store.append([{**make_rows(1)[0], "agent": "other"}])
    with pytest.raises(AgentError, match="holds the hash chain of agent 'vm', but this agent is named 'kc-home'"):
        RecordStore(tmp_path / "r.sqlite", agent="kc-home")
    with RecordStore(tmp_path / "r.sqlite", readonly=True, agent="kc-home") as store:
        assert store.agent == "vm" and [r["agent"] for r in store.rows()] == ["vm", "vm"]
    with RecordStore(tmp_path / "new.sqlite", agent="vm"):
        pass
    with RecordStore(tmp_path / "new.sqlite", agent="kc-home") as store:  # no records yet: the new name holds
        assert store.append(make_rows(1)) == (1, 1) and store.head().agent == "kc-home"
