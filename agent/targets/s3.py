"""S3 targets: a bucket on an S3-compatible service (AWS, DigitalOcean Spaces, Backblaze B2, MinIO,
SeaweedFS), reached with boto3. The only module that imports boto3.

Credentials come from a reference, never from targets.yaml itself: `credentials_file` (an AWS
shared-credentials INI file; section `profile` or `default`), a named `profile` of the standard
AWS config files, or else boto3's standard chain (environment, config files, instance role).

Plain object copies are verified against the primary's SHA-256 manifest without trusting what S3
says an object is unless S3 really says it:
- an object uploaded with a full-object SHA-256 (`ChecksumSHA256` without a `-N` part suffix) is
  compared by that value: the server computed and checked it on upload, no bytes are moved;
- every other object can only be proven by reading it: each run downloads and hashes a sample
  bounded by the target's `sample_bytes` (default 256MiB per run), objects never verified or
  changed since (new ETag, size or LastModified) first, then the longest-unverified ones, so the
  sample rotates through the bucket;
- an ETag is never compared as an MD5: a multipart ETag (`…-N`) is an MD5 of part MD5s, and
  SSE-KMS ETags are not MD5s at all;
- what is not verified this run is counted as such (HashOutcome.not_verified), never as a match.
Hashes are remembered in the agent's HashCache keyed by object identity (size, LastModified,
ETag), so an object that was hashed earlier and has not changed since counts as verified until
`agent.rehash_every` expires.
"""

from __future__ import annotations

import base64
import binascii
import configparser
import hashlib
import logging
import posixpath
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.exceptions
from botocore.config import Config as BotoConfig

from agent import interrupt
from agent.clock import in_future
from agent.errors import TargetUnavailable
from agent.hashing import CHUNK, FileEntry, HashOutcome
from agent.identity import StorageIdentity, object_identity
from agent.names import show
from agent.targets.base import Probe, ResticLocation, TargetHandle, receive_file, safe_relpath
from agent.units import parse_duration, parse_size

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_BYTES = 256 * 2**20
DEFAULT_CONNECT_TIMEOUT = 10.0
MAX_READ_TIMEOUT = 30.0  # per socket read: a server silent this long is dead, not slow
TOTAL_ATTEMPTS = 3  # one try and two retries: a dead endpoint is an error within seconds, not minutes
HEAD_WORKERS = 8
FETCH_WORKERS = 8  # concurrent downloads of a restore test (within the client's connection pool)
# How a cached digest was obtained (kept in the HashCache's inode column for s3 rows).
BY_CHECKSUM = 1
BY_DOWNLOAD = 2


@dataclass(frozen=True)
class ObjectEntry(FileEntry):
    """One object under a copy's prefix: FileEntry (mtime = LastModified) plus what S3 says of it."""

    etag: str = ""
    checksum_sha256: str | None = None  # base64, as S3 returns it; None when unknown or absent
    checksum_type: str | None = None  # FULL_OBJECT or COMPOSITE when the server says


@dataclass(frozen=True)
class Immutability:
    """What the bucket says about versioning and object lock (read by checks/immutability.py)."""

    bucket: str
    versioning: str  # Enabled, Suspended or "" (never enabled)
    object_lock: bool
    mode: str | None  # GOVERNANCE or COMPLIANCE (default retention), None without a rule
    retention_seconds: float | None


def full_object_sha256(checksum: str | None, checksum_type: str | None) -> str | None:
    """Given ChecksumSHA256 and ChecksumType as S3 returns them, return the content's SHA-256 in hex.

    Return None when the value is not the hash of the content: absent, a composite multipart
    checksum (a hash of the parts' hashes, written with a `-N` part count) or not decodable.
    """
    if not checksum or checksum_type == "COMPOSITE" or "-" in checksum:
        return None
    try:
        raw = base64.b64decode(checksum, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def _identity_token(etag: str) -> int:
    """A 56-bit integer standing for an ETag in the HashCache's integer ctime column."""
    return int.from_bytes(hashlib.sha256(etag.encode()).digest()[:7], "big")


class S3Target(TargetHandle):
    """One bucket, one boto3 client (thread-safe) for the whole run."""

    def __init__(self, target, context):
        super().__init__(target, context)
        options = target.options
        self.bucket: str = options["bucket"]
        self.endpoint: str | None = (options.get("endpoint") or "").rstrip("/") or None
        self.region: str | None = options.get("region")
        self.path_style: bool | None = options.get("path_style")
        self.sample_bytes = parse_size(options.get("sample_bytes", DEFAULT_SAMPLE_BYTES))
        self.connect_timeout = parse_duration(options.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT))
        self._lock = threading.Lock()
        self._client: Any = None
        self._credentials: Any = None
        self._budget_left = self.sample_bytes
        self._took_any = False
        self._budget_lock = threading.Lock()

    # -- connection -------------------------------------------------------------------------------

    def _session(self) -> boto3.session.Session:
        """Return a boto3 session holding the configured credential source. Raise TargetUnavailable."""
        options = self.target.options
        profile = options.get("profile")
        credentials_file = options.get("credentials_file")
        if credentials_file:
            section = profile or "default"
            parser = configparser.ConfigParser(interpolation=None)
            try:
                with open(credentials_file, encoding="utf-8") as handle:
                    parser.read_file(handle)
            except OSError as error:
                raise TargetUnavailable(f"cannot read credentials_file {credentials_file}: "
                                        f"{error.strerror or error}") from error
            except configparser.Error as error:
                raise TargetUnavailable(f"credentials_file {credentials_file} is not an INI file "
                                        f"({type(error).__name__})") from error
            if not parser.has_section(section):
                raise TargetUnavailable(f"credentials_file {credentials_file} has no [{section}] section")
            values = parser[section]
            key_id = values.get("aws_access_key_id")
            secret = values.get("aws_secret_access_key")
            if not key_id or not secret:
                raise TargetUnavailable(f"credentials_file {credentials_file} [{section}] needs aws_access_key_id "
                                        "and aws_secret_access_key")
            return boto3.session.Session(aws_access_key_id=key_id.strip(), aws_secret_access_key=secret.strip(),
                                         aws_session_token=(values.get("aws_session_token") or "").strip() or None,
                                         region_name=self.region)
        try:
            return boto3.session.Session(profile_name=profile, region_name=self.region)
        except botocore.exceptions.ProfileNotFound as error:
            raise TargetUnavailable(f"AWS profile {profile!r} not found in the AWS config files") from error

    def client(self) -> Any:
        """Return the target's one S3 client, creating it on first use. Raise TargetUnavailable."""
        with self._lock:
            if self._client is None:
                session = self._session()
                credentials = session.get_credentials()
                if credentials is None:
                    raise TargetUnavailable("no S3 credentials found: set credentials_file or profile on the target, "
                                            "or provide them through the standard AWS chain")
                addressing = "auto" if self.path_style is None else ("path" if self.path_style else "virtual")
                config = BotoConfig(
                    connect_timeout=self.connect_timeout,
                    read_timeout=min(MAX_READ_TIMEOUT, self.context.command_timeout),
                    retries={"mode": "standard", "total_max_attempts": TOTAL_ATTEMPTS},
                    max_pool_connections=max(HEAD_WORKERS, FETCH_WORKERS, self.context.hash_workers) + 2,
                    s3={"addressing_style": addressing},
                )
                self._client = session.client("s3", endpoint_url=self.endpoint, region_name=self.region, config=config)
                self._credentials = credentials
            return self._client

    def _where(self) -> str:
        return f"s3 bucket {self.bucket}" + (f" at {self.endpoint}" if self.endpoint else "")

    def _unavailable(self, error: Exception, doing: str) -> TargetUnavailable:
        """Given a boto3/botocore error, return a TargetUnavailable naming the S3 error code, never a secret."""
        if isinstance(error, TargetUnavailable):
            return error
        if isinstance(error, botocore.exceptions.ClientError):
            code = str(error.response.get("Error", {}).get("Code", "?"))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("NoSuchBucket", "404") and doing == "head bucket":
                return TargetUnavailable(f"bucket {self.bucket} does not exist ({self._where()}, HTTP {status})")
            if code == "NoSuchBucket":
                return TargetUnavailable(f"bucket {self.bucket} does not exist ({self._where()})")
            hint = ""
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"):
                hint = "; check the credentials the target is configured with"
            elif code in ("AccessDenied", "403"):
                hint = "; the credentials lack permission for this bucket"
            return TargetUnavailable(f"{doing} on {self._where()} failed: S3 error {code} (HTTP {status}){hint}")
        if isinstance(error, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
            return TargetUnavailable(f"{doing}: no usable S3 credentials ({type(error).__name__})")
        if isinstance(error, botocore.exceptions.ConnectTimeoutError | botocore.exceptions.ReadTimeoutError):
            return TargetUnavailable(f"{doing} on {self._where()} timed out ({type(error).__name__})")
        if isinstance(error, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectionError):
            return TargetUnavailable(f"{doing}: cannot reach {self._where()} ({type(error).__name__})")
        if isinstance(error, botocore.exceptions.BotoCoreError | OSError):
            return TargetUnavailable(f"{doing} on {self._where()} failed: {type(error).__name__}: {error}")
        return TargetUnavailable(f"{doing} on {self._where()} failed: {type(error).__name__}")

    def _call(self, doing: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self.client(), operation)(**kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError) as error:
            raise self._unavailable(error, doing) from error

    # -- paths ------------------------------------------------------------------------------------

    @staticmethod
    def _prefix(path: str) -> str:
        """A copy's path as a key prefix: no leading slash, one trailing slash ('' for the whole bucket)."""
        stripped = path.strip("/")
        return f"{stripped}/" if stripped else ""

    def _cache_key(self, key: str) -> str:
        host = urlsplit(self.endpoint).netloc if self.endpoint else "aws"
        return f"s3://{host}/{self.bucket}/{key}"

    # -- TargetHandle -----------------------------------------------------------------------------

    def probe(self, path: str, *, require_tree: bool) -> Probe:
        """Given a prefix, say whether the bucket answers with these credentials (HeadBucket).

        HeadBucket's error responses carry no body, so a 403 is followed by one ListObjectsV2 whose
        error names the real cause (InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied).
        """
        facts = {"bucket": self.bucket, "endpoint": self.endpoint or "aws"}
        try:
            self.client().head_bucket(Bucket=self.bucket)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError,
                TargetUnavailable) as error:
            if isinstance(error, botocore.exceptions.ClientError) and str(error.response["Error"].get("Code")) in (
                    "403", "400"):
                try:
                    self._call("list bucket", "list_objects_v2", Bucket=self.bucket, MaxKeys=1)
                except TargetUnavailable as named:
                    return Probe(False, str(named), facts=facts)
            return Probe(False, str(self._unavailable(error, "head bucket")), facts=facts)
        return Probe(True, f"bucket {self.bucket} answers ({self.endpoint or 'aws'})", facts=facts)

    def scan(self, path: str) -> dict[str, ObjectEntry]:
        """Return every object under the prefix (paginated ListObjectsV2), keyed by key relative to it.

        Keys ending in '/' (zero-byte "folder" markers some tools create) are not data and are left out.
        """
        prefix = self._prefix(path)
        entries: dict[str, ObjectEntry] = {}
        try:
            paginator = self.client().get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if key.endswith("/"):
                        continue
                    relpath = key[len(prefix):]
                    entries[relpath] = ObjectEntry(relpath, int(item["Size"]), item["LastModified"].timestamp(),
                                                   etag=item.get("ETag", "").strip('"'))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError) as error:
            raise self._unavailable(error, f"list {prefix or '(whole bucket)'}") from error
        return entries

    def stat(self, path: str) -> ObjectEntry | None:
        """Return one object's entry (HeadObject with its checksum), or None when it does not exist."""
        key = path.strip("/")
        try:
            head = self.client().head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except botocore.exceptions.ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._unavailable(error, f"head {key}") from error
        except (botocore.exceptions.BotoCoreError, OSError) as error:
            raise self._unavailable(error, f"head {key}") from error
        return self._entry_from_head(posixpath.basename(key), head)

    @staticmethod
    def _entry_from_head(relpath: str, head: dict[str, Any]) -> ObjectEntry:
        return ObjectEntry(relpath, int(head["ContentLength"]), head["LastModified"].timestamp(),
                           etag=head.get("ETag", "").strip('"'), checksum_sha256=head.get("ChecksumSHA256"),
                           checksum_type=head.get("ChecksumType"))

    def hash(self, path: str, entries: list[FileEntry],
             progress: Callable[[int], None] | None = None) -> HashOutcome:
        """Return SHA-256 of the given objects: from S3's full-object checksum, from an earlier
        verification of the unchanged object, or by downloading a bounded rotating sample. Objects
        left for a later run are listed in `not_verified`; how each was verified in `methods`."""
        prefix = self._prefix(path)
        cache = self.context.hash_cache
        now = self.context.now
        digests: dict[str, str] = {}
        methods: dict[str, str] = {}
        unreadable: dict[str, str] = {}
        pending: list[tuple[ObjectEntry, tuple | None]] = []
        for entry in entries:
            entry = entry if isinstance(entry, ObjectEntry) else ObjectEntry(entry.relpath, entry.size, entry.mtime)
            row = cache.lookup(self._cache_key(prefix + entry.relpath))
            if (row and self._same_object(row, entry) and now - row[5] < self.context.rehash_every
                    and not in_future(row[5], now)):
                digests[entry.relpath] = row[4]
                # A remembered S3 checksum of this very object version is what HeadObject would say again.
                methods[entry.relpath] = "checksum" if row[2] == BY_CHECKSUM else "earlier"
            else:
                pending.append((entry, row))
        from_cache = len(digests)

        # Where S3 holds a full-object SHA-256, that is the content hash: no bytes need to move.
        def head(item: tuple[ObjectEntry, tuple | None]):
            entry, row = item
            try:
                found = self.stat(prefix + entry.relpath)
            except TargetUnavailable as error:
                return entry, row, None, str(error)
            if found is None:
                return entry, row, None, "object disappeared during the check"
            return ObjectEntry(entry.relpath, found.size, found.mtime, etag=found.etag,
                               checksum_sha256=found.checksum_sha256, checksum_type=found.checksum_type), row, None, None

        rows: list[tuple] = []
        to_download: list[tuple[ObjectEntry, tuple | None]] = []
        if pending:
            with ThreadPoolExecutor(max_workers=HEAD_WORKERS) as pool:
                for entry, row, _, problem in pool.map(head, pending):
                    if problem:
                        unreadable[entry.relpath] = problem
                        continue
                    digest = full_object_sha256(entry.checksum_sha256, entry.checksum_type)
                    if digest:
                        digests[entry.relpath] = digest
                        methods[entry.relpath] = "checksum"
                        rows.append(self._row(prefix, entry, BY_CHECKSUM, digest, now))
                    else:
                        to_download.append((entry, row))

        chosen = self._choose_sample(to_download)
        chosen_paths = {entry.relpath for entry, _ in chosen}
        not_verified = sorted(entry.relpath for entry, _ in to_download if entry.relpath not in chosen_paths)
        silently_changed: list[str] = []
        bytes_read = 0

        def download(item: tuple[ObjectEntry, tuple | None]):
            entry, row = item
            try:
                return entry, row, self._download_sha256(prefix + entry.relpath), None
            except TargetUnavailable as error:
                return entry, row, None, str(error)

        if chosen:
            with ThreadPoolExecutor(max_workers=max(1, self.context.hash_workers)) as pool:
                for entry, row, result, problem in pool.map(download, chosen):
                    if problem or result is None:
                        unreadable[entry.relpath] = problem or "unreadable"
                        continue
                    digest, size = result
                    bytes_read += size
                    if progress:
                        progress(size)
                    digests[entry.relpath] = digest
                    methods[entry.relpath] = "download"
                    if row and self._same_object(row, entry) and row[4] != digest:
                        # Same ETag, size and LastModified, different bytes: the provider lost data.
                        silently_changed.append(entry.relpath)
                    rows.append(self._row(prefix, entry, BY_DOWNLOAD, digest, now))
        cache.store_many(rows)
        return HashOutcome(digests, unreadable, sorted(silently_changed), bytes_read, from_cache,
                           not_verified=not_verified, methods=methods)

    def _same_object(self, row: tuple, entry: ObjectEntry) -> bool:
        return row[0] == entry.size and row[1] == entry.mtime_ns and row[3] == _identity_token(entry.etag)

    def _row(self, prefix: str, entry: ObjectEntry, method: int, digest: str, now: float) -> tuple:
        return (self._cache_key(prefix + entry.relpath), entry.size, entry.mtime_ns, method,
                _identity_token(entry.etag), digest, now)

    def _choose_sample(self, candidates: Iterable[tuple[ObjectEntry, tuple | None]]) -> list[tuple[ObjectEntry, tuple | None]]:
        """Pick what to download within the run's byte budget (shared by all copies on this target).

        Order: objects never hashed or changed since (their identity differs from the cached one)
        first, then those verified longest ago. One object larger than the whole budget is still
        taken when nothing else was downloaded this run, so a big object is not skipped forever;
        empty objects cost nothing and are always taken.
        """
        def order(item: tuple[ObjectEntry, tuple | None]) -> tuple:
            entry, row = item
            known = row is not None and self._same_object(row, entry)
            return (1 if known else 0, row[5] if known else 0.0, entry.relpath)

        chosen = []
        with self._budget_lock:
            for entry, row in sorted(candidates, key=order):
                if entry.size == 0 or entry.size <= self._budget_left or not self._took_any:
                    chosen.append((entry, row))
                    self._budget_left = max(0, self._budget_left - entry.size)
                    self._took_any = self._took_any or entry.size > 0
        return chosen

    def _download_sha256(self, key: str) -> tuple[str, int]:
        """Stream one object and return (SHA-256 hex, bytes read). Raise TargetUnavailable."""
        digest = hashlib.sha256()
        size = 0
        try:
            body = self.client().get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                for chunk in body.iter_chunks(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
            finally:
                body.close()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError) as error:
            raise self._unavailable(error, f"download {key}") from error
        return digest.hexdigest(), size

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
        prefix = self._prefix(path)
        for relpath in relpaths:
            safe_relpath(relpath)
        client = self.client()
        stop = threading.Event()

        def chunks_until_stopped(body) -> Iterable[bytes]:
            for chunk in body.iter_chunks(CHUNK):
                if stop.is_set():  # another download failed (a stop request is receive_file's to see)
                    raise TargetUnavailable("download stopped")
                yield chunk

        def download(relpath: str) -> int:
            if stop.is_set() or interrupt.cancelled.is_set():
                raise TargetUnavailable("download stopped")
            key = prefix + relpath
            try:
                body = client.get_object(Bucket=self.bucket, Key=key)["Body"]
                try:
                    return receive_file(chunks_until_stopped(body), destination, relpath, progress)
                finally:
                    body.close()
            except botocore.exceptions.ClientError as error:
                if str(error.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                    raise TargetUnavailable(f"cannot restore {show(relpath)}: it vanished from {self._where()}") from error
                raise self._unavailable(error, f"restore {show(relpath)} (download {show(key)})") from error
            except (botocore.exceptions.BotoCoreError, OSError) as error:
                raise self._unavailable(error, f"restore {show(relpath)} (download {show(key)})") from error

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
        self.client()
        frozen = self._credentials.get_frozen_credentials()
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
        self._call("remove a stale restic lock", "delete_object", Bucket=self.bucket,
                   Key=f"{self._prefix(path)}locks/{lock_id}")

    def immutability(self) -> Immutability:
        """Return the bucket's versioning status and default object-lock retention. Raise TargetUnavailable."""
        versioning = self._call("read versioning", "get_bucket_versioning", Bucket=self.bucket).get("Status", "")
        try:
            lock = self.client().get_object_lock_configuration(Bucket=self.bucket).get("ObjectLockConfiguration", {})
        except botocore.exceptions.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code"))
            if code in ("ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound", "404"):
                return Immutability(self.bucket, versioning, False, None, None)
            raise self._unavailable(error, "read object lock configuration") from error
        except (botocore.exceptions.BotoCoreError, OSError) as error:
            raise self._unavailable(error, "read object lock configuration") from error
        retention = (lock.get("Rule") or {}).get("DefaultRetention") or {}
        seconds = None
        if retention.get("Days"):
            seconds = float(retention["Days"]) * 86400
        elif retention.get("Years"):
            seconds = float(retention["Years"]) * 365 * 86400
        return Immutability(self.bucket, versioning, lock.get("ObjectLockEnabled") == "Enabled",
                            retention.get("Mode"), seconds)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
