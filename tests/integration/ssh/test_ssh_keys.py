"""A passphrase-protected private key (real `ssh-keygen -N …`, OpenSSH, PEM and PKCS#8 formats),
against the real sshd: an `error` naming the key and what to do, never "check crashed: TypeError",
and the passphrase nowhere in the output, the records or the metrics (the agent never has it).
The key is authorised on the server, so only the passphrase stands between the agent and a login.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.records import RecordStore
from tests.support.sandbox import Sandbox, mirror

pytestmark = pytest.mark.integration

PASSPHRASE = "tr0ub4dor&3-passphrase-19-05"
REFUSAL = "passphrase-protected keys are not supported"
FORMATS = {"openssh-ed25519": ["-t", "ed25519"], "pem-rsa": ["-t", "rsa", "-b", "2048", "-m", "PEM"],
           "pkcs8-ecdsa": ["-t", "ecdsa", "-m", "PKCS8"]}


@pytest.fixture(params=sorted(FORMATS))
def protected_key(request, sshd, tmp_path: Path):
    key = tmp_path / "keys" / f"id_{request.param}"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", *FORMATS[request.param], "-N", PASSPHRASE, "-C", "", "-f", str(key)],
                   check=True)
    authorized = sshd.directory / "authorized_keys"
    original = authorized.read_text()
    authorized.write_text(original + key.with_suffix(".pub").read_text())
    try:
        yield key
    finally:
        authorized.write_text(original)


def test_the_handle_refuses_the_key_with_a_clear_error(ssh_target, protected_key, tmp_path):
    probe = ssh_target(key_file=str(protected_key)).probe(str(tmp_path), require_tree=True)
    assert not probe.ok
    assert REFUSAL in probe.detail and str(protected_key) in probe.detail
    assert "TypeError" not in probe.detail and PASSPHRASE not in probe.detail


def test_a_run_reports_error_and_never_the_passphrase(files_sandbox: Sandbox, sshd, protected_key, sample_tree):
    primary = mirror(sample_tree, files_sandbox.root / "droplet" / "data", stamp=None)
    remote = mirror(sample_tree, files_sandbox.root / "nas" / "data")
    files_sandbox.target("droplet", "cloud-vm", "do-sgp1")
    files_sandbox.targets["nas"] = {"kind": "ssh", "medium": "nas", "location": "office",
                                    **sshd.options(key_file=str(protected_key))}
    files_sandbox.dataset("ds", primary=files_sandbox.files_copy("droplet", primary, stamp=None),
                          copies=[files_sandbox.files_copy("nas", remote)], policy={"copies": 2, "media": 2, "offsite": 1})
    files_sandbox.config()
    done = subprocess.run([sys.executable, "-c", "from agent.cli import main; main()", "--config",
                           str(files_sandbox.root / "targets.yaml"), "verify", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    nas = next(c for c in json.loads(done.stdout)["datasets"][0]["copies"] if c["target"] == "nas")
    reachable = next(c for c in nas["checks"] if c["name"] == "reachable")
    assert nas["status"] == "error" and reachable["status"] == "error"
    assert REFUSAL in reachable["detail"] and "crashed" not in reachable["detail"]

    with RecordStore(files_sandbox.root / "state" / "records.sqlite") as store:
        records = json.dumps(list(store.rows()), ensure_ascii=False)
    metrics = (files_sandbox.root / "metrics" / "backup_agent.prom").read_text()
    for text in (done.stdout, done.stderr, records, metrics):
        assert PASSPHRASE not in text
    assert REFUSAL in records
