"""`backup-agent verify` on the demo sandbox: the --json contract (README), exit codes, filters.

The sandbox's shipping-docs is deliberately non-compliant (its HDD mirror is two days old
against a 4h RPO); every other dataset must pass."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from pathlib import Path

import yaml

from tests.support.cli import Completed
from tests.support.demo import EXPECTED_COPIES, Demo

STATUSES = {"pass", "fail", "error"}
CHECK_STATUSES = STATUSES | {"skip"}
RPO = {"platform-db": 3600, "platform-files": 3600, "finance-records": 86400, "shipping-docs": 14400}
RTO = {"platform-db": 14400, "platform-files": 14400, "finance-records": 172800, "shipping-docs": 86400}
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def parse_time(text: str) -> datetime:
    assert ISO_Z.match(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def by_name(document: dict) -> dict[str, dict]:
    return {d["name"]: d for d in document["datasets"]}


def test_demo_shows_the_designed_outcome_and_exits_0(demo: Demo) -> None:
    """The demo's own exit code says the demo worked: shipping-docs non-compliant, the rest pass
    (the verify inside it still exits 1, as test_verify_json_follows_the_contract shows)."""
    assert demo.build.returncode == 0, demo.build.stderr
    assert "as designed" in demo.build.stderr
    assert str(demo.records_db) in demo.build.stderr and str(demo.metrics_file) in demo.build.stderr
    assert demo.records_db.exists() and demo.metrics_file.exists()
    document = demo.build.json()
    statuses = {d["name"]: d["status"] for d in document["datasets"]}
    assert statuses == {"platform-db": "pass", "platform-files": "pass", "finance-records": "pass",
                        "shipping-docs": "fail"}


def test_verify_json_follows_the_contract(demo: Demo, verify_json: Completed) -> None:
    assert verify_json.returncode == 1, verify_json.stderr
    document = verify_json.json()
    uuid.UUID(document["run_id"])
    started, finished = parse_time(document["started_at"]), parse_time(document["finished_at"])
    assert started <= finished
    config = yaml.safe_load(demo.config.read_text(encoding="utf-8"))
    assert [d["name"] for d in document["datasets"]] == list(config["datasets"])
    for dataset in document["datasets"]:
        name = dataset["name"]
        assert dataset["process"] == config["datasets"][name]["process"]
        assert dataset["rpo_seconds"] == RPO[name] and dataset["rto_seconds"] == RTO[name]
        assert dataset["status"] in STATUSES
        policy = dataset["policy"]
        assert isinstance(policy["compliant"], bool)
        for count in ("verified_copies", "distinct_media", "offsite_copies"):
            assert isinstance(policy[count], int)
        copies = dataset["copies"]
        assert len(copies) == EXPECTED_COPIES[name]
        assert [c["role"] for c in copies].count("primary") == 1, "the primary is listed among copies"
        assert {c["role"] for c in copies} == {"primary", "backup"}
        declared = [config["datasets"][name]["primary"], *config["datasets"][name]["copies"]]
        assert [(c["target"], c["form"]) for c in copies] == [(d["target"], d["form"]) for d in declared]
        for copy in copies:
            target = config["targets"][copy["target"]]
            assert (copy["medium"], copy["location"]) == (target["medium"], target["location"])
            assert copy["status"] in STATUSES
            assert copy["checks"] and copy["checks"][0]["name"] == "reachable"
            for check in copy["checks"]:
                assert {"name", "status", "detail"} <= set(check)
                assert check["status"] in CHECK_STATUSES and isinstance(check["detail"], str) and check["detail"]
            assert set(copy) >= {"target", "role", "form", "medium", "location", "status", "last_backup_at",
                                 "age_seconds", "checks"}
            if copy["role"] == "backup":
                last = parse_time(copy["last_backup_at"])
                assert last <= finished
                assert abs((started - last).total_seconds() - copy["age_seconds"]) < 1
            if copy["status"] == "pass":
                assert all(c["status"] in ("pass", "skip") for c in copy["checks"])
        # A dataset passes only when its policy is met and every copy passed.
        expected = "pass" if policy["compliant"] and all(c["status"] == "pass" for c in copies) else dataset["status"]
        assert dataset["status"] == expected


def test_only_shipping_docs_is_non_compliant(verify_json: Completed) -> None:
    datasets = by_name(verify_json.json())
    for name in ("platform-db", "platform-files", "finance-records"):
        assert datasets[name]["status"] == "pass", datasets[name]
        assert datasets[name]["policy"]["compliant"] is True
        assert all(c["status"] == "pass" for c in datasets[name]["copies"])
    shipping = datasets["shipping-docs"]
    assert shipping["status"] == "fail" and shipping["policy"]["compliant"] is False
    assert shipping["policy"]["verified_copies"] == 2
    hdd = next(c for c in shipping["copies"] if c["target"] == "hdd")
    freshness = next(c for c in hdd["checks"] if c["name"] == "freshness")
    assert hdd["status"] == "fail" and freshness["status"] == "fail"
    assert hdd["age_seconds"] > shipping["rpo_seconds"]


def test_each_restic_copy_ran_its_integrity_checks(verify_json: Completed) -> None:
    for dataset in verify_json.json()["datasets"]:
        for copy in dataset["copies"]:
            names = {c["name"] for c in copy["checks"]}
            if copy["form"] == "restic":
                assert {"freshness", "restic-structure", "restic-read-data"} <= names
            elif copy["role"] == "backup":
                assert {"freshness", "files-checksum"} <= names


def test_verify_table_is_readable(verify_text: Completed) -> None:
    assert verify_text.returncode == 1
    out = verify_text.stdout
    assert re.search(r"^FAIL\s+shipping-docs", out, re.M)
    for name in ("platform-db", "platform-files", "finance-records"):
        assert re.search(rf"^PASS\s+{name}", out, re.M)
    assert "3/4 datasets pass" in out
    assert "\033[" not in out, "no colour codes when stdout is not a terminal"


def test_dataset_filter(demo: Demo) -> None:
    before = demo.record_count()
    metrics = demo.metrics_file.read_bytes()
    result = demo.run("verify", "--dataset", "finance-records", "--json")
    assert result.returncode == 0, result.stderr
    document = result.json()
    assert [d["name"] for d in document["datasets"]] == ["finance-records"]
    assert document["datasets"][0]["status"] == "pass"
    assert demo.record_count() > before, "a filtered run is recorded"
    assert demo.metrics_file.read_bytes() == metrics, "a filtered run does not rewrite the metrics file"
    # --dataset repeats; a selection holding the non-compliant dataset exits 1.
    result = demo.run("verify", "--dataset", "shipping-docs", "--dataset", "platform-files", "--json")
    assert result.returncode == 1
    assert {d["name"]: d["status"] for d in result.json()["datasets"]} == {"platform-files": "pass",
                                                                          "shipping-docs": "fail"}


def test_target_filter(demo: Demo) -> None:
    result = demo.run("verify", "--target", "ssd", "--json")
    assert result.returncode == 0, result.stderr
    datasets = by_name(result.json())
    assert set(datasets) == {"platform-db", "finance-records"}
    for dataset in datasets.values():
        assert [c["target"] for c in dataset["copies"]] == ["ssd"]
        assert dataset["policy"]["status"] == "skip", "3-2-1 cannot be judged on some copies"
    result = demo.run("verify", "--target", "hdd", "--json")
    assert result.returncode == 1
    datasets = by_name(result.json())
    assert set(datasets) == {"platform-db", "platform-files", "shipping-docs"}
    assert datasets["shipping-docs"]["status"] == "fail" and datasets["platform-db"]["status"] == "pass"


def test_unknown_dataset_or_target_is_a_usage_error(demo: Demo) -> None:
    before = demo.record_count()
    for option, value in (("--dataset", "no-such-dataset"), ("--target", "tape")):
        result = demo.run("verify", option, value)
        assert result.returncode == 2, result.stderr
        assert value in result.stderr and "Traceback" not in result.stderr
        assert result.stdout == ""
    assert demo.record_count() == before, "nothing checked, nothing written"


def test_demo_is_rebuilt_in_place_but_refuses_a_foreign_directory(demo: Demo, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    result = demo.run("demo", "--dir", str(foreign))
    assert result.returncode != 0 and (foreign / "precious.txt").read_text() == "keep me"
