"""The shipped targets.yaml is the README's deployment: its secrets are read under
${CREDENTIALS_DIRECTORY}, the systemd units load exactly the credentials it names (and cron's
directory holds the same names), and the README's example lines pasted into it are valid YAML and
a valid config. In-process; the README step 9 command itself runs in tests/e2e/test_config_cli.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.config import load_config
from agent.errors import ConfigError
from tests.support.configs import REPO

SHIPPED = REPO / "targets.yaml"
UNIT_DIRECTORY = "/run/credentials/backup-agent.service"
SOURCE_DIRECTORY = "/etc/backup-agent/credentials"  # LoadCredential= sources; cron's CREDENTIALS_DIRECTORY
SECRET_KEYS = ("password_file", "key_file", "credentials_file")


def install_section() -> str:
    """The README's "Install on Debian 12" shell block."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("### Install on Debian 12")
    return readme[start:readme.index("\n```\n", readme.index("```sh", start))]


def readme_secret_lines() -> dict[str, str]:
    """The README's example `key: value` lines for each secret key, from the install section."""
    found = dict(re.findall(rf"^#\s+({'|'.join(SECRET_KEYS)}): (.+)$", install_section(), re.M))
    assert set(found) == set(SECRET_KEYS), found
    return found


def credentials_named_in_targets() -> set[str]:
    return set(re.findall(r"\$\{CREDENTIALS_DIRECTORY\}/([\w.-]+)", SHIPPED.read_text(encoding="utf-8")))


def load_credentials(unit: str) -> dict[str, str]:
    """{name: source} of a unit's LoadCredential= lines."""
    text = (REPO / "systemd" / unit).read_text(encoding="utf-8")
    return dict(re.findall(r"^LoadCredential=([^:\n]+):(\S+)$", text, re.M))


def test_the_shipped_config_reads_every_secret_under_the_credentials_directory() -> None:
    config = load_config(SHIPPED, environ={"CREDENTIALS_DIRECTORY": UNIT_DIRECTORY})
    secrets = [target.options[key] for target in config.targets.values() for key in SECRET_KEYS
               if key in target.options]
    secrets += [copy.password.file for dataset in config.datasets.values() for copy in dataset.all_copies
                if copy.form == "restic"]
    assert len(secrets) >= 6 and None not in secrets, "every restic copy has a password_file"
    assert all(path.startswith(UNIT_DIRECTORY + "/") for path in secrets), secrets
    assert "/run/credentials/" not in SHIPPED.read_text(encoding="utf-8"), "no unit's directory written out"


def test_the_shipped_config_without_the_credentials_directory_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(SHIPPED, environ={})
    (problem,) = caught.value.problems
    assert "${CREDENTIALS_DIRECTORY} is not set" in problem and "targets.droplet.key_file" in problem
    offline = load_config(SHIPPED, environ={}, tolerate_unset=True)
    assert {u.variable for u in offline.unexpanded} == {"CREDENTIALS_DIRECTORY"}


def test_the_readme_lines_pasted_into_the_shipped_config_load(tmp_path: Path) -> None:
    """Each README example line replaces every line of its key in targets.yaml — in block mappings
    and inside {...} flow mappings — and the result is valid YAML and a valid config."""
    text = SHIPPED.read_text(encoding="utf-8")
    for key, value in readme_secret_lines().items():
        # A value as targets.yaml writes it: quoted, or plain up to a comma, brace or comment.
        text, count = re.subn(rf"\b{key}: (\"[^\"]*\"|[^,}}\s#]+)", lambda _m, k=key, v=value: f"{k}: {v}", text)
        assert count, f"{key} does not occur in targets.yaml"
    pasted = tmp_path / "targets.yaml"  # every path in it is absolute: the folder does not matter
    pasted.write_text(text, encoding="utf-8")
    config = load_config(pasted, environ={"CREDENTIALS_DIRECTORY": UNIT_DIRECTORY})
    assert config.targets["offsite"].options["credentials_file"] == f"{UNIT_DIRECTORY}/s3.ini"
    assert config.datasets["platform-db"].copies[0].password.file == f"{UNIT_DIRECTORY}/restic.pass"


@pytest.mark.parametrize("unit", ["backup-agent.service", "backup-agent-restore-test.service"])
def test_the_verify_units_load_exactly_the_credentials_the_config_names(unit: str) -> None:
    loaded = load_credentials(unit)
    assert set(loaded) == credentials_named_in_targets()
    assert all(source == f"{SOURCE_DIRECTORY}/{name}" for name, source in loaded.items()), loaded


def test_units_that_need_no_secret_load_none() -> None:
    for unit in ("backup-agent-report.service", "backup-agent-exporter.service"):
        assert load_credentials(unit) == {}


def test_cron_and_the_readme_install_every_credential() -> None:
    """cron's CREDENTIALS_DIRECTORY holds the same names; README step 6 installs each of them there."""
    cron = (REPO / "systemd" / "cron.example").read_text(encoding="utf-8")
    assert f"CREDENTIALS_DIRECTORY={SOURCE_DIRECTORY}" in cron
    install = install_section()
    names = credentials_named_in_targets()
    assert {"restic.pass", "restic-finance.pass", "id_ed25519", "s3.ini"} <= names
    for name in names:
        assert re.search(rf"(^|\s){re.escape(name)}(\s|$)", cron, re.M), f"{name} not listed in cron.example"
        assert f"{SOURCE_DIRECTORY}/{name}\n" in install, f"README step 6 does not install {name}"


def test_readme_step_9_gives_config_check_the_credentials_directory() -> None:
    (line,) = [line for line in install_section().splitlines() if line.rstrip().endswith(" config check")]
    assert line.startswith(f"CREDENTIALS_DIRECTORY={SOURCE_DIRECTORY} backup-agent "), line

