"""Poisoned targets.yaml: values no setting can honour, and documents built to exhaust the loader.

Each row writes a config (a mutation of a small valid one, or raw YAML text), loads it in-process
with load_config, and expects a ConfigError that names the file and the key path, says what is
wrong, prints nothing unreadable, and comes within a second. Nothing here may end in another
exception (a traceback is exit 3, not the exit 2 a bad config gets), and nothing may load.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import load_config, parse_config
from agent.errors import ConfigError
from tests.support.configs import assert_readable, minimal

D = ["datasets", "d"]
P = ["processes", "p"]
NAS = ["targets", "nas"]
DURATION_TOO_LONG = "not a duration the agent can honour"
NOT_FINITE = "not a finite number"
TOO_LARGE = "too large to honour"
CONTROL = "control character U+"


def _set(path: list, value: Any):
    def mutate(document: dict) -> None:
        node = document
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return mutate


def _rename(path: list, new_key: Any):
    def mutate(document: dict) -> None:
        node = document
        for part in path[:-1]:
            node = node[part]
        node[new_key] = node.pop(path[-1])
    return mutate


# Mutations of the minimal config, written to YAML by PyYAML (so .nan, .inf, "\0" escapes and
# 400-digit integers reach the loader as a user would write them): (mutation, fragments expected
# in one problem).
MUTATIONS = {
    # lists and mappings where a name or a path belongs
    "operator-list": (_set(["agent", "operator"], ["a"]), ["agent.operator", "expected string"]),
    "host-list": (_set([*NAS, "host"], ["x"]), ["targets.nas.host", "expected string"]),
    "path-mapping": (_set([*D, "primary", "path"], {"a": 1}), ["datasets.d.primary.path", "expected string"]),
    "target-list": (_set([*D, "copies", 0, "target"], ["disk"]), ["datasets.d.copies[0].target", "expected string"]),
    "process-list": (_set([*D, "process"], ["p"]), ["datasets.d.process", "expected string"]),
    "kind-list": (_set([*NAS, "kind"], ["ssh"]), ["targets.nas.kind", "not allowed"]),
    "medium-mapping": (_set([*NAS, "medium"], {"nas": True}), ["targets.nas.medium", "expected string"]),
    "tags-string": (_set([*D, "copies", 1, "snapshot_filter", "tags"], "d"),
                    ["datasets.d.copies[1].snapshot_filter.tags", "expected array"]),
    # NUL and other control characters in values and keys
    "nul-in-operator": (_set(["agent", "operator"], "王\0婧"), ["agent.operator", CONTROL + "0000"]),
    "nul-in-path": (_set([*D, "copies", 0, "path"], "copy\0/etc"), ["datasets.d.copies[0].path", CONTROL + "0000"]),
    "nul-in-state-dir": (_set(["agent", "state_dir"], "st\0ate"), ["agent.state_dir", CONTROL + "0000"]),
    "nul-in-target-key": (_rename([*NAS], "n\0as"), ["targets: key 'n\\x00as'", CONTROL + "0000"]),
    "nul-in-option-key": (_set(["agent", "x\0"], 1), ["agent: key 'x\\x00'", CONTROL]),
    "escape-in-medium": (_set([*NAS, "medium"], "\x1b[2Jnas"), ["targets.nas.medium", CONTROL + "001B"]),
    "newline-in-target-name": (_rename([*NAS], "nas\n"), ["targets: key 'nas\\n'", CONTROL + "000A"]),
    "newline-in-password-command": (_set([*D, "copies", 1, "password_file"], "pw\nrm -rf /"),
                                    ["datasets.d.copies[1].password_file", CONTROL]),
    "surrogate-in-operator": (_set(["agent", "operator"], "\ud800"), ["agent.operator", "surrogate"]),
    # integers of 400 digits, booleans and floats where counts belong
    "port-400-digits": (_set([*NAS, "port"], 10**400), ["targets.nas.port", TOO_LARGE]),
    "concurrency-400-digits": (_set(["agent", "concurrency"], 10**400), ["agent.concurrency", TOO_LARGE]),
    "sample-files-400-digits": (_set([*D, "restore_test", "sample_files"], 10**400),
                                ["datasets.d.restore_test.sample_files", TOO_LARGE]),
    "policy-copies-400-digits": (_set(["policy", "copies"], 10**400), ["policy.copies", TOO_LARGE]),
    "dataset-policy-negative-huge": (_set([*D, "policy", "offsite"], -(10**400)), ["datasets.d.policy.offsite", TOO_LARGE]),
    "policy-copies-too-many": (_set(["policy", "copies"], 10**6), ["policy.copies", "above the maximum of 100"]),
    "sample-files-too-many": (_set([*D, "restore_test", "sample_files"], 2**40),
                              ["datasets.d.restore_test.sample_files", "above the maximum"]),
    "copies-true": (_set(["policy", "copies"], True), ["policy.copies", "expected integer, got bool"]),
    "copies-float": (_set(["policy", "copies"], 3.0), ["policy.copies", "expected integer, got float"]),
    "concurrency-float": (_set(["agent", "concurrency"], 4.0), ["agent.concurrency", "expected integer, got float"]),
    "port-nan": (_set([*NAS, "port"], float("nan")), ["targets.nas.port", NOT_FINITE]),
    "negative-offsite": (_set(["policy", "offsite"], -1), ["policy.offsite", "below the minimum of 0"]),
    "negative-sample-files": (_set([*D, "restore_test", "sample_files"], -5), ["sample_files", "below the minimum"]),
    "negative-concurrency": (_set(["agent", "concurrency"], -1), ["agent.concurrency", "below the minimum"]),
    "hash-workers-zero": (_set(["agent", "hash_workers"], 0), ["agent.hash_workers", "below the minimum of 1"]),
    "hash-workers-billion": (_set(["agent", "hash_workers"], 10**9), ["agent.hash_workers", "above the maximum of 64"]),
    "port-zero": (_set([*NAS, "port"], 0), ["targets.nas.port", "below the minimum of 1"]),
    # durations: NaN, infinities, numbers past a century
    "rpo-nan": (_set([*P, "rpo"], float("nan")), ["processes.p.rpo", NOT_FINITE]),
    "rpo-inf": (_set([*P, "rpo"], float("inf")), ["processes.p.rpo", NOT_FINITE]),
    "rto-minus-inf": (_set([*P, "rto"], float("-inf")), ["processes.p.rto", NOT_FINITE]),
    "command-timeout-nan": (_set(["agent", "command_timeout"], float("nan")), ["agent.command_timeout", NOT_FINITE]),
    "run-budget-inf": (_set(["agent", "run_budget"], float("inf")), ["agent.run_budget", NOT_FINITE]),
    "rpo-1e400-text": (_set([*P, "rpo"], "1e400"), ["processes.p.rpo", "expected a duration"]),
    "rpo-1e300-seconds": (_set([*P, "rpo"], 1e300), ["processes.p.rpo", DURATION_TOO_LONG]),
    "rpo-400-digit-seconds": (_set([*P, "rpo"], 10**400), ["processes.p.rpo", TOO_LARGE]),
    "rpo-huge-days": (_set([*P, "rpo"], "999999999999999d"), ["processes.p.rpo", DURATION_TOO_LONG]),
    "rto-huge-iso": (_set([*P, "rto"], "P99999999999W"), ["processes.p.rto", DURATION_TOO_LONG]),
    "rto-101-years": (_set([*P, "rto"], f"{101 * 365}d"), ["processes.p.rto", DURATION_TOO_LONG]),
    "every-huge": (_set([*D, "restore_test", "every"], "9" * 400 + "s"), ["datasets.d.restore_test.every", DURATION_TOO_LONG]),
    "connect-timeout-huge": (_set([*NAS, "connect_timeout"], "99999999999h"), ["targets.nas.connect_timeout", DURATION_TOO_LONG]),
    "min-retention-nan": (_set(["targets", "bucket", "min_retention"], float("nan")),
                          ["targets.bucket.min_retention", NOT_FINITE]),
    "rpo-true": (_set([*P, "rpo"], True), ["processes.p.rpo", "got bool"]),
    # sizes
    "sample-bytes-huge-text": (_set([*D, "restore_test", "sample_bytes"], "9" * 400 + "TiB"),
                               ["datasets.d.restore_test.sample_bytes", "not a size the agent can honour"]),
    "sample-bytes-huge-int": (_set([*D, "restore_test", "sample_bytes"], 2**62),
                              ["datasets.d.restore_test.sample_bytes", "not a size the agent can honour"]),
    "s3-sample-bytes-negative": (_set(["targets", "bucket", "sample_bytes"], -1), ["targets.bucket.sample_bytes", "positive"]),
    # keys YAML reads as something other than a name, names too long, strings empty or huge
    "integer-target-name": (_rename([*NAS], 1), ["targets[1]", "a key must be a name"]),
    "boolean-dataset-name": (_rename([*D], True), ["datasets[True]", "a key must be a name"]),
    "null-process-name": (_rename([*P], None), ["processes[None]", "a key must be a name"]),
    "name-too-long": (_rename([*NAS], "n" * 65), ["targets", "must be 1 to 64"]),
    "empty-operator": (_set(["agent", "operator"], ""), ["agent.operator", "must not be empty"]),
    "empty-host": (_set([*NAS, "host"], ""), ["targets.nas.host", "must not be empty"]),
    "path-too-long": (_set([*D, "copies", 0, "path"], "x" * 5000), ["datasets.d.copies[0].path", "5000 characters"]),
    # 3-2-1 counts media and locations by their text: two spellings of one must not count twice
    "location-case": (_set(["targets", "disk", "location"], "SGP"), ["targets.disk.location", "differ only in case"]),
    "medium-spelling": (_set([*NAS, "medium"], "Cloud VM"), ["targets.nas.medium", "two media"]),
    # a stamp dates the copy: it must be a file inside it
    "stamp-absolute": (_set([*D, "copies", 0, "stamp"], "/etc/hostname"), ["datasets.d.copies[0].stamp", "inside the copy"]),
    "stamp-parent": (_set([*D, "copies", 0, "stamp"], "../primary/.done"), ["datasets.d.copies[0].stamp", "inside the copy"]),
    "stamp-dot": (_set([*D, "primary", "stamp"], "."), ["datasets.d.primary.stamp", "inside the copy"]),
    "stamp-empty": (_set([*D, "primary", "stamp"], ""), ["datasets.d.primary.stamp", "must not be empty"]),
}


def _anchors(levels: int, width: int) -> str:
    """Billion laughs: each anchor a list of `width` aliases to the one before."""
    lines = [f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines)


VALID = yaml.safe_dump(minimal(), allow_unicode=True, sort_keys=False)
# Raw text: (text, fragments expected in one problem).
TEXTS = {
    "alias-bomb": ("x-bomb:\n" + _anchors(9, 9) + "\n" + VALID, ["x-bomb.l", "holds, or its aliases expand to, more than 25000 values"]),
    "alias-bomb-in-a-dataset": (VALID.replace("    copies:\n", "    copies: &c9\n", 1).replace(
        "datasets:\n", "x-lol:\n" + _anchors(10, 10) + "\ndatasets:\n", 1), ["x-lol.l", "holds, or its aliases expand to, more than"]),
    "alias-bomb-at-top": (_anchors(12, 10).replace("  ", "", 12) + "\n", ["holds, or its aliases expand to, more than"]),
    "alias-bomb-of-mappings": ("a: &a {x: 1, y: 1, z: 1, w: 1}\n" + "\n".join(
        f"{chr(98 + i)}: &{chr(98 + i)} {{k1: *{chr(97 + i)}, k2: *{chr(97 + i)}, k3: *{chr(97 + i)}, "
        f"k4: *{chr(97 + i)}, k5: *{chr(97 + i)}, k6: *{chr(97 + i)}, k7: *{chr(97 + i)}, k8: *{chr(97 + i)}}}"
        for i in range(10)) + "\n", ["holds, or its aliases expand to, more than"]),
    "alias-loop": ("processes: &a [*a]\n", ["processes[0]", "alias *a is used inside the collection it names"]),
    "merge-loop": ("processes: &a {<<: *a}\n", ["processes", "alias *a"]),
    "deep-sequences": ("processes: " + "[" * 1000 + "]" * 1000 + "\n", ["processes[0][0]", "deeper than 32 levels"]),
    "deep-mappings": ("processes: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n", ["processes.a.a", "deeper than 32"]),
    "deep-block": ("processes:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 200)) + "  " * 200 + "v\n",
                   ["processes.k1.k2", "deeper than 32"]),
    "integer-5000-digits": (VALID.replace("concurrency: 2", "concurrency: " + "9" * 5000),
                            ["agent.concurrency", "5000 characters"]),
    "hex-integer-huge": (VALID.replace("port: 22", "port: 0x" + "f" * 200), ["targets.nas.port", "202 characters"]),
    "nul-raw-in-value": (VALID.replace("operator: 王婧", "operator: 王\0婧"),
                         ["agent.operator: line", "U+0000"]),
    "nul-raw-in-key": (VALID.replace("  here:", "  he\0re:", 1), ["targets", "line", "U+0000"]),
    "escape-raw": (VALID.replace("medium: hdd", "medium: \x1b]0;owned\x07hdd"), ["targets.disk.medium", "U+001B"]),
    "nul-escaped-key": (VALID.replace("  here:", '  "he\\0re":', 1), ["targets: key 'he\\x00re'", CONTROL]),
    "sexagesimal-rpo": (VALID.replace("rpo: 1h", "rpo: 1:30"), ["processes.p.rpo", "YAML reads 1:30 as the number 90"]),
    "octal-port": (VALID.replace("port: 22", "port: 022"), ["targets.nas.port", "YAML reads 022 as the number 18"]),
    "nan-yaml": (VALID.replace("rpo: 1h", "rpo: .nan"), ["processes.p.rpo", NOT_FINITE]),
    "inf-yaml": (VALID.replace("rto: 4h", "rto: .inf"), ["processes.p.rto", NOT_FINITE]),
    "minus-inf-yaml": (VALID.replace("rto: 4h", "rto: -.inf"), ["processes.p.rto", NOT_FINITE]),
    "float-overflow-yaml": (VALID.replace("rpo: 1h", "rpo: 1.0e+400"), ["processes.p.rpo", NOT_FINITE]),
    "yes-as-key": (VALID.replace("  here:", "  yes:", 1), ["targets[True]", "quote it"]),
    "date-as-key": (VALID.replace("  here:", "  2024-01-01:", 1), ["a key must be"]),
    "huge-file": (VALID + "# " + "x" * 300_000 + "\n", ["larger than 256 KiB"]),
}


def _problems(run) -> ConfigError:
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        run()
    assert time.monotonic() - started < 1.0
    return caught.value


def _assert_names(error: ConfigError, path: Path, fragments: list[str]) -> None:
    assert_readable(error, path)
    assert any(all(f in problem for f in fragments) for problem in error.problems), \
        f"no single problem has {fragments}:\n{error}"


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_poisoned_value_is_refused_naming_its_key(tmp_path: Path, case: str) -> None:
    mutate, fragments = MUTATIONS[case]
    document = minimal()
    mutate(document)
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    _assert_names(_problems(lambda: load_config(path)), path, fragments)
    # The same document handed over in-process (no YAML in between) is refused the same way.
    _assert_names(_problems(lambda: parse_config(document, path)), path, fragments)


@pytest.mark.parametrize("case", sorted(TEXTS))
def test_poisoned_text_is_refused_naming_its_key(tmp_path: Path, case: str) -> None:
    text, fragments = TEXTS[case]
    path = tmp_path / "targets.yaml"
    path.write_text(text, encoding="utf-8")
    _assert_names(_problems(lambda: load_config(path)), path, fragments)


def test_an_integer_python_cannot_print_is_refused(tmp_path: Path) -> None:
    """Python refuses to turn an integer of more than 4300 digits into text; the message must not try."""
    document = minimal()
    document["agent"]["concurrency"] = 10**5000
    error = _problems(lambda: parse_config(document, tmp_path / "t.yaml"))
    _assert_names(error, tmp_path / "t.yaml", ["agent.concurrency", "about 5001 digits"])


def test_a_deep_document_handed_over_in_process_is_refused(tmp_path: Path) -> None:
    document = minimal()
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    document["agent"]["operator"] = deep
    _assert_names(_problems(lambda: parse_config(document, tmp_path / "t.yaml")), tmp_path / "t.yaml",
                  ["agent.operator[0][0]", "deeper than 32"])


def test_an_endless_file_is_refused_unread() -> None:
    """--config /dev/zero: the loader reads past its cap by one byte, never to the end."""
    _assert_names(_problems(lambda: load_config("/dev/zero")), "/dev/zero", ["larger than 256 KiB"])


def test_every_problem_of_a_poisoned_document_is_listed(tmp_path: Path) -> None:
    document = minimal()
    document["agent"]["operator"] = "a\0b"
    document["processes"]["p"]["rpo"] = float("nan")
    document["targets"]["nas"]["port"] = 10**400
    error = _problems(lambda: parse_config(document, tmp_path / "t.yaml"))
    assert [p.split(":")[0] for p in error.problems] == ["agent.operator", "processes.p.rpo", "targets.nas.port"]


def test_anchors_within_the_budget_still_load(tmp_path: Path) -> None:
    """Aliases are budgeted, not banned: shared target settings written once keep working."""
    text = VALID.replace("  nas:\n", "  nas:\n    <<: &ssh {user: backup, key_file: k, known_hosts: kh}\n", 1)
    text = text.replace("datasets:\n", "  nas2: {<<: *ssh, kind: ssh, host: nas2.lan, medium: nas, location: attic}\n"
                        "datasets:\n", 1)
    path = tmp_path / "targets.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_config(path).targets["nas2"].options["known_hosts"] == str(tmp_path / "kh")


def test_the_minimal_and_the_repository_configs_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", "/etc/backup-agent/credentials")  # the repository's secrets
    path = tmp_path / "targets.yaml"
    path.write_text(VALID, encoding="utf-8")
    config = load_config(path)
    assert config.datasets["d"].restore_test.sample_files == 5
    from tests.support.configs import REPO
    assert len(load_config(REPO / "targets.yaml").datasets) >= 4


def test_a_removable_medium_is_recognised_in_any_case(tmp_path: Path) -> None:
    """`medium: SSD` is the same removable disk as `ssd`: it must be mounted to count."""
    document = minimal()
    document["targets"]["disk"]["medium"] = "HDD"
    del document["targets"]["disk"]["require_mount"]
    assert parse_config(document, tmp_path / "t.yaml").targets["disk"].require_mount
