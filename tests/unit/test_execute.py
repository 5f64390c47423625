"""agent.execute's loggable form of a command: every secret value masked wherever it appears, the
values of secret environment variables never shown, the command quoted as a shell would read it.
(Running commands for real: tests/integration/test_execute.py.)"""

from __future__ import annotations

import pytest

from agent.execute import MASK, SECRET_ENV_NAMES, describe, mask

PASSWORD = "hunter2-correct-horse"


@pytest.mark.parametrize(("text", "secrets", "shown"), [
    ("no secret here", [PASSWORD], "no secret here"),
    (f"--password {PASSWORD}", [PASSWORD], f"--password {MASK}"),
    (f"{PASSWORD}:{PASSWORD}", [PASSWORD], f"{MASK}:{MASK}"),
    (f"s3://AKIA1:{PASSWORD}@host", ["AKIA1", PASSWORD], f"s3://{MASK}:{MASK}@host"),
    ("anything", ["", None], "anything"),  # an empty secret masks nothing (not every gap between characters)
    ("", [PASSWORD], ""),
    ("密码 hunter2", ["hunter2"], f"密码 {MASK}"),
], ids=["none", "flag", "twice", "two-secrets", "empty-secret", "empty-text", "unicode"])
def test_mask(text: str, secrets: list, shown: str) -> None:
    assert mask(text, secrets) == shown


@pytest.mark.parametrize(("argv", "env", "secrets", "shown"), [
    (["restic", "snapshots"], None, [], "restic snapshots"),
    (["restic", "--repo", "/srv/a b"], {}, [], "restic --repo '/srv/a b'"),
    (["restic", "-o", f"s3.secret={PASSWORD}"], None, [PASSWORD], f"restic -o s3.secret={MASK}"),
    (["restic"], {"RESTIC_PASSWORD": PASSWORD}, [], f"RESTIC_PASSWORD={MASK} restic"),
    (["restic"], {"AWS_SECRET_ACCESS_KEY": "sk", "AWS_ACCESS_KEY_ID": "ak"}, [],
     f"AWS_SECRET_ACCESS_KEY={MASK} AWS_ACCESS_KEY_ID={MASK} restic"),
    (["restic"], {"RESTIC_CACHE_DIR": "/var/cache/r"}, [], "RESTIC_CACHE_DIR=/var/cache/r restic"),
    (["restic"], {"RESTIC_REPOSITORY": f"s3:https://k:{PASSWORD}@h/b"}, [PASSWORD],
     f"RESTIC_REPOSITORY=s3:https://k:{MASK}@h/b restic"),
    (["sh", "-c", "echo $HOME; rm -rf -- -x"], None, [], "sh -c 'echo $HOME; rm -rf -- -x'"),
], ids=["plain", "quoted", "secret-in-argv", "secret-env", "aws-env", "plain-env", "secret-in-plain-env", "shell"])
def test_describe(argv: list[str], env: dict | None, secrets: list[str], shown: str) -> None:
    assert describe(argv, env, secrets) == shown


@pytest.mark.parametrize("name", sorted(SECRET_ENV_NAMES))
def test_no_secret_environment_value_is_ever_shown(name: str) -> None:
    assert PASSWORD not in describe(["tool"], {name: PASSWORD}, [])
