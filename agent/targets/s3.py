"""S3 targets: a bucket on an S3-compatible service (AWS, DigitalOcean Spaces, Backblaze B2, MinIO,
SeaweedFS). boto3 is reached only through agent.targets.s3_client, loaded when an s3 target is
opened; how object contents are proven is agent.targets.s3_verify.

Plain object copies are verified against the primary's SHA-256 manifest: by S3's full-object
SHA-256 where the server holds one, by an earlier verification of the unchanged object, or by
downloading a rotating sample bounded by the target's `sample_bytes` (default 256MiB per run);
what is left for a later run is counted as not verified, never as a match.
"""

from __future__ import annotations

import hashlib
import posixpath
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agent import interrupt
from agent.errors import TargetUnavailable
from agent.hashing import FileEntry, HashOutcome
from agent.identity import StorageIdentity, object_identity
from agent.names import show
from agent.targets import s3_verify
from agent.targets.base import (
    Immutability,
    Probe,
    ResticLocation,
    TargetContext,
    TargetHandle,
    receive_file,
    safe_relpath,
)
from agent.targets.options import DURATION_SCHEMA, SIZE_SCHEMA, KindOptions, Value, option

# Kept importable from here, where they were first defined.
from agent.targets.s3_verify import ObjectEntry, full_object_sha256  # noqa: F401

if TYPE_CHECKING:
    from agent.config import Target
    from agent.targets.s3_client import S3Client

DEFAULT_SAMPLE_BYTES = 256 * 2**20
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MIN_RETENTION = 30 * 86400.0
MAX_READ_TIMEOUT = 30.0  # per socket read: a server silent this long is dead, not slow
FETCH_WORKERS = 8  # concurrent downloads of a restore test (within the client's connection pool)
_STRING = {"type": "string", "minLength": 1}


@dataclass(frozen=True, kw_only=True)
class S3Options(KindOptions):
    """An s3 target's keys: the bucket, where it is, the credential reference and the sampling budget."""

    endpoint: str | None = option(_STRING, default=None)
    region: str | None = option(_STRING, default=None)
    bucket: str = option(_STRING)
    path_style: bool | None = option({"type": "boolean"}, default=None)
    credentials_file: str | None = option(
        {**_STRING, "description": "s3: AWS shared-credentials file, e.g. ${CREDENTIALS_DIRECTORY}/s3.ini."},
        default=None, value=Value.FILE)
    profile: str | None = option(_STRING, default=None)
    connect_timeout: float = option(DURATION_SCHEMA, default=DEFAULT_CONNECT_TIMEOUT, value=Value.DURATION)
    sample_bytes: int = option(SIZE_SCHEMA, default=DEFAULT_SAMPLE_BYTES, value=Value.SIZE)
    min_retention: float = option(
        {**DURATION_SCHEMA, "description": "s3: shortest default object-lock retention the immutability check "
                                           "accepts (default 30d).", "examples": ["30d"]},
        default=DEFAULT_MIN_RETENTION, value=Value.DURATION)


def bucket_client(target: Target, *, read_timeout: float = MAX_READ_TIMEOUT, connections: int = 4) -> S3Client:
    """Given an s3 target, return a client for its bucket (its endpoint, region, addressing style and
    credential reference); nothing is requested until it is used."""
    from agent.targets.s3_client import Bucket, S3Client  # boto3 loads only when an s3 target is opened

    settings: S3Options = target.settings
    return S3Client(Bucket(
        settings.bucket, (settings.endpoint or "").rstrip("/") or None, settings.region, settings.path_style,
        settings.credentials_file, settings.profile, connect_timeout=settings.connect_timeout,
        read_timeout=read_timeout, connections=connections))


class S3Target(TargetHandle):
    """One bucket, one boto3 client (thread-safe) for the whole run."""

    can_fetch = True
    can_tell_storage = True
    can_remove_restic_lock = True
    hash_chunk = 0  # every object in one call: the download sample budget is spent per call
    can_prove_immutability = True

    def __init__(self, target: Target, context: TargetContext):
        super().__init__(target, context)
        settings: S3Options = target.settings
        self.settings = settings
        self.bucket = settings.bucket
        self.endpoint = (settings.endpoint or "").rstrip("/") or None
        self.region = settings.region
        self.path_style = settings.path_style
        self.sample_bytes = settings.sample_bytes
        self.connect_timeout = settings.connect_timeout
        self.budget = s3_verify.SampleBudget(self.sample_bytes)
        self.s3: S3Client = bucket_client(target, read_timeout=min(MAX_READ_TIMEOUT, context.command_timeout),
                                          connections=max(s3_verify.HEAD_WORKERS, FETCH_WORKERS,
                                                          context.hash_workers) + 2)

    def client(self) -> Any:
        """Return the target's one boto3 client, creating it on first use. Raise TargetUnavailable."""
        return self.s3.client()

    def close(self) -> None:
        self.s3.close()

    @staticmethod
    def prefix(path: str) -> str:
        """A copy's path as a key prefix: no leading slash, one trailing slash ('' for the whole bucket)."""
        stripped = path.strip("/")
        return f"{stripped}/" if stripped else ""

    def cache_key(self, key: str) -> str:
        host = urlsplit(self.endpoint).netloc if self.endpoint else "aws"
        return f"s3://{host}/{self.bucket}/{key}"

    # -- TargetHandle -------------------------------------------------------------------------------

    def probe(self, path: str, *, require_tree: bool) -> Probe:
        """Given a prefix, say whether the bucket answers with these credentials (HeadBucket)."""
        facts = {"bucket": self.bucket, "endpoint": self.endpoint or "aws"}
        try:
            self.s3.check_bucket()
        except TargetUnavailable as error:
            return Probe(False, str(error), facts=facts)
        return Probe(True, f"bucket {self.bucket} answers ({self.endpoint or 'aws'})", facts=facts)

    def scan(self, path: str) -> dict[str, ObjectEntry]:
        """Return every object under the prefix, keyed by key relative to it.

        Keys ending in '/' (zero-byte "folder" markers some tools create) are not data and are left out.
        """
        prefix = self.prefix(path)
        entries: dict[str, ObjectEntry] = {}
        for item in self.s3.objects(prefix):
            key = item["Key"]
            if key.endswith("/"):
                continue
            relpath = key[len(prefix):]
            entries[relpath] = ObjectEntry(relpath, int(item["Size"]), item["LastModified"].timestamp(),
                                           etag=item.get("ETag", "").strip('"'))
        return entries

    def stat(self, path: str) -> ObjectEntry | None:
        """Return one object's entry (HeadObject with its checksum), or None when it does not exist."""
        key = path.strip("/")
        head = self.s3.head(key)
        if head is None:
            return None
        return ObjectEntry(posixpath.basename(key), int(head["ContentLength"]), head["LastModified"].timestamp(),
                           etag=head.get("ETag", "").strip('"'), checksum_sha256=head.get("ChecksumSHA256"),
                           checksum_type=head.get("ChecksumType"))

    def hash(self, path: str, entries: list[FileEntry],
             progress: Callable[[int], None] | None = None) -> HashOutcome:
        """Return SHA-256 of the given objects (agent.targets.s3_verify): objects left for a later
        run are listed in `not_verified`; how each was verified in `methods`."""
        return s3_verify.verify(self, path, entries, progress)

    def download_sha256(self, key: str) -> tuple[str, int]:
        """Stream one object and return (SHA-256 hex, bytes read). Raise TargetUnavailable."""
        def digest(chunks: Iterable[bytes]) -> tuple[str, int]:
            sha, size = hashlib.sha256(), 0
            for chunk in chunks:
                sha.update(chunk)
                size += len(chunk)
            return sha.hexdigest(), size

        return self.s3.read(key, digest, f"download {key}")

    def fetch(self, path: str, relpaths: list[str], destination: str,
              progress: Callable[[int], None] | None = None) -> int:
        """Download the given objects under the prefix into the local destination (a restore test's
        scratch directory), keeping their relative paths; return the bytes written.

        Objects come down FETCH_WORKERS at a time, as a restore with the usual S3 tools would (one
        at a time, the per-request latency of many small objects would dominate the measured
        throughput and so the projected restore time). Every key that would land outside
        destination (absolute, or with `..`) is refused before any request is made; a file is
        created exclusively, so nothing already there is overwritten. An object that vanished or
        cannot be read raises TargetUnavailable naming it; the other downloads then stop at their
        next chunk, and none is still writing when this returns or raises."""
        prefix = self.prefix(path)
        for relpath in relpaths:
            safe_relpath(relpath)
        self.client()  # credentials problems surface here, once, not from every worker
        stop = threading.Event()

        def until_stopped(chunks: Iterable[bytes]) -> Iterable[bytes]:
            for chunk in chunks:
                if stop.is_set():  # another download failed (a stop request is receive_file's to see)
                    raise TargetUnavailable("download stopped")
                yield chunk

        def download(relpath: str) -> int:
            if stop.is_set() or interrupt.cancelled.is_set():
                raise TargetUnavailable("download stopped")
            key = prefix + relpath
            return self.s3.read(key, lambda chunks: receive_file(until_stopped(chunks), destination, relpath, progress),
                                f"restore {show(relpath)} (download {show(key)})",
                                vanished=f"cannot restore {show(relpath)}: it vanished from {self.s3.bucket.where}")

        pool = ThreadPoolExecutor(max_workers=FETCH_WORKERS, thread_name_prefix="s3-fetch")
        try:
            futures = [pool.submit(download, relpath) for relpath in relpaths]
            return sum(future.result() for future in futures)
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def storage_identity(self, path: str) -> StorageIdentity:
        """Endpoint, bucket and prefix, as configured (no request: the bucket's answer is reachable's job).
        Two endpoints naming one service (an alias, a CDN) are not recognised; a restic repository
        reached both ways still is, by its id."""
        return object_identity(self.endpoint, self.region, self.bucket, path)

    def restic_location(self, path: str) -> ResticLocation:
        """Return the `s3:` repository URL and, for that one restic process, the resolved credentials."""
        frozen = self.s3.frozen_credentials()
        endpoint = self.endpoint or (f"s3.{self.region}.amazonaws.com" if self.region else "s3.amazonaws.com")
        repository = f"s3:{endpoint}/{self.bucket}/{path.strip('/')}".rstrip("/")
        options = []
        if self.region:
            options.append(f"s3.region={self.region}")
        if self.path_style is not None:
            options.append(f"s3.bucket-lookup={'path' if self.path_style else 'dns'}")
        env = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
        if frozen.token:
            env["AWS_SESSION_TOKEN"] = frozen.token
        return ResticLocation(repository=repository, options=tuple(options), env=env,
                              secrets=tuple(v for v in env.values() if v))

    def _remove_restic_lock(self, path: str, lock_id: str) -> None:
        # restic's S3 layout is its local one under the prefix; deleting a missing key succeeds.
        self.s3.call("remove a stale restic lock", "delete_object", Key=f"{self.prefix(path)}locks/{lock_id}")

    def immutability(self) -> Immutability:
        """Return the bucket's versioning status and default object-lock retention. Raise TargetUnavailable."""
        versioning = self.s3.call("read versioning", "get_bucket_versioning").get("Status", "")
        minimum = self.settings.min_retention
        lock = self.s3.lock_configuration()
        if lock is None:
            return Immutability(self.bucket, versioning, False, None, None, minimum)
        retention = (lock.get("Rule") or {}).get("DefaultRetention") or {}
        seconds = None
        if retention.get("Days"):
            seconds = float(retention["Days"]) * 86400
        elif retention.get("Years"):
            seconds = float(retention["Years"]) * 365 * 86400
        return Immutability(self.bucket, versioning, lock.get("ObjectLockEnabled") == "Enabled",
                            retention.get("Mode"), seconds, minimum)
