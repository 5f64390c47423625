"""One bucket through boto3: credentials, client set-up and every S3 error in the agent's words.
The only module that imports boto3 and botocore.

Credentials come from a reference, never from targets.yaml itself: `credentials_file` (an AWS
shared-credentials INI file; section `profile` or `default`), a named `profile` of the standard
AWS config files, or else boto3's standard chain (environment, config files, instance role).

Every failure raises TargetUnavailable naming the S3 error code and what was being done, never a
secret (failure(), a pure mapping with a table test).
"""

from __future__ import annotations

import configparser
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import boto3
import botocore.exceptions
from botocore.config import Config as BotoConfig

from agent.errors import TargetUnavailable
from agent.hashing import CHUNK

TOTAL_ATTEMPTS = 3  # one try and two retries: a dead endpoint is an error within seconds, not minutes
# The codes that mean "no such object": HeadObject's 404 has no body, so its code is the status.
NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
NO_LOCK_CONFIGURATION = frozenset({"ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound", "404"})
# GetObjectRetention on a version held under no retention (AWS; SeaweedFS answers as for the bucket).
NO_RETENTION = NO_LOCK_CONFIGURATION | {"NoSuchObjectLockConfiguration"}
_CREDENTIAL_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"})
_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError)
Result = TypeVar("Result")


@dataclass(frozen=True)
class Bucket:
    """Which bucket, where, and how to reach it (an s3 target's options, as the client needs them)."""

    name: str
    endpoint: str | None  # None: AWS
    region: str | None
    path_style: bool | None  # None: boto3 chooses
    credentials_file: str | None
    profile: str | None
    connect_timeout: float
    read_timeout: float
    connections: int

    @property
    def where(self) -> str:
        return f"s3 bucket {self.name}" + (f" at {self.endpoint}" if self.endpoint else "")


def error_code(error: BaseException) -> str | None:
    """The S3 error code of a ClientError, as text ("?" when the response has none); None for any other error."""
    if not isinstance(error, botocore.exceptions.ClientError):
        return None
    return str(error.response.get("Error", {}).get("Code", "?"))


def failure(error: BaseException, doing: str, bucket: str, where: str) -> TargetUnavailable:
    """Given a boto3/botocore error met while `doing` on a bucket, return a TargetUnavailable naming
    the S3 error code and a hint, never a secret."""
    if isinstance(error, TargetUnavailable):
        return error
    code = error_code(error)
    if code is not None:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")  # type: ignore[attr-defined]
        if code in ("NoSuchBucket", "404") and doing == "head bucket":
            return TargetUnavailable(f"bucket {bucket} does not exist ({where}, HTTP {status})")
        if code == "NoSuchBucket":
            return TargetUnavailable(f"bucket {bucket} does not exist ({where})")
        hint = ""
        if code in _CREDENTIAL_CODES:
            hint = "; check the credentials the target is configured with"
        elif code in ("AccessDenied", "403"):
            hint = "; the credentials lack permission for this bucket"
        return TargetUnavailable(f"{doing} on {where} failed: S3 error {code} (HTTP {status}){hint}")
    name = type(error).__name__
    if isinstance(error, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return TargetUnavailable(f"{doing}: no usable S3 credentials ({name})")
    if isinstance(error, botocore.exceptions.ConnectTimeoutError | botocore.exceptions.ReadTimeoutError):
        return TargetUnavailable(f"{doing} on {where} timed out ({name})")
    if isinstance(error, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectionError):
        return TargetUnavailable(f"{doing}: cannot reach {where} ({name})")
    if isinstance(error, botocore.exceptions.BotoCoreError | OSError):
        return TargetUnavailable(f"{doing} on {where} failed: {name}: {error}")
    return TargetUnavailable(f"{doing} on {where} failed: {name}")


def _credentials_file_session(path: str, section: str, region: str | None) -> boto3.session.Session:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as error:
        raise TargetUnavailable(f"cannot read credentials_file {path}: {error.strerror or error}") from error
    except configparser.Error as error:
        raise TargetUnavailable(f"credentials_file {path} is not an INI file ({type(error).__name__})") from error
    if not parser.has_section(section):
        raise TargetUnavailable(f"credentials_file {path} has no [{section}] section")
    values = parser[section]
    key_id = values.get("aws_access_key_id")
    secret = values.get("aws_secret_access_key")
    if not key_id or not secret:
        raise TargetUnavailable(f"credentials_file {path} [{section}] needs aws_access_key_id "
                                "and aws_secret_access_key")
    return boto3.session.Session(aws_access_key_id=key_id.strip(), aws_secret_access_key=secret.strip(),
                                 aws_session_token=(values.get("aws_session_token") or "").strip() or None,
                                 region_name=region)


def session(bucket: Bucket) -> boto3.session.Session:
    """Return a boto3 session holding the configured credential source. Raise TargetUnavailable."""
    if bucket.credentials_file:
        return _credentials_file_session(bucket.credentials_file, bucket.profile or "default", bucket.region)
    try:
        return boto3.session.Session(profile_name=bucket.profile, region_name=bucket.region)
    except botocore.exceptions.ProfileNotFound as error:
        raise TargetUnavailable(f"AWS profile {bucket.profile!r} not found in the AWS config files") from error


class S3Client:
    """One bucket, one boto3 client (thread-safe), created on first use and kept for the run."""

    def __init__(self, bucket: Bucket):
        self.bucket = bucket
        self._lock = threading.Lock()
        self._client: Any = None
        self._credentials: Any = None

    def client(self) -> Any:
        """Return the boto3 client, creating it on first use. Raise TargetUnavailable."""
        with self._lock:
            if self._client is None:
                chosen = session(self.bucket)
                credentials = chosen.get_credentials()
                if credentials is None:
                    raise TargetUnavailable("no S3 credentials found: set credentials_file or profile on the target, "
                                            "or provide them through the standard AWS chain")
                style = self.bucket.path_style
                config = BotoConfig(
                    connect_timeout=self.bucket.connect_timeout,
                    read_timeout=self.bucket.read_timeout,
                    retries={"mode": "standard", "total_max_attempts": TOTAL_ATTEMPTS},
                    max_pool_connections=self.bucket.connections,
                    s3={"addressing_style": "auto" if style is None else ("path" if style else "virtual")},
                )
                self._client = chosen.client("s3", endpoint_url=self.bucket.endpoint, region_name=self.bucket.region,
                                             config=config)
                self._credentials = credentials
            return self._client

    def frozen_credentials(self) -> Any:
        """The resolved credentials (access key, secret, token) for a restic process. Raise TargetUnavailable."""
        self.client()
        return self._credentials.get_frozen_credentials()

    def failure(self, error: BaseException, doing: str) -> TargetUnavailable:
        return failure(error, doing, self.bucket.name, self.bucket.where)

    def call(self, doing: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Call one client operation on this bucket. Raise TargetUnavailable."""
        try:
            return getattr(self.client(), operation)(Bucket=self.bucket.name, **kwargs)
        except _ERRORS as error:
            raise self.failure(error, doing) from error

    def check_bucket(self) -> None:
        """HeadBucket. Its error responses carry no body, so a 403 or 400 is followed by one
        ListObjectsV2 whose error names the real cause (InvalidAccessKeyId, SignatureDoesNotMatch,
        AccessDenied). Raise TargetUnavailable."""
        try:
            self.client().head_bucket(Bucket=self.bucket.name)
        except _ERRORS as error:
            if error_code(error) in ("403", "400"):
                self.call("list bucket", "list_objects_v2", MaxKeys=1)
            raise self.failure(error, "head bucket") from error

    def objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        """Yield every object under prefix (paginated ListObjectsV2). Raise TargetUnavailable."""
        try:
            paginator = self.client().get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket.name, Prefix=prefix):
                yield from page.get("Contents", [])
        except _ERRORS as error:
            raise self.failure(error, f"list {prefix or '(whole bucket)'}") from error

    def head(self, key: str) -> dict[str, Any] | None:
        """HeadObject with its checksum; None when the object does not exist. Raise TargetUnavailable."""
        try:
            return self.client().head_object(Bucket=self.bucket.name, Key=key, ChecksumMode="ENABLED")
        except _ERRORS as error:
            if error_code(error) in NOT_FOUND:
                return None
            raise self.failure(error, f"head {key}") from error

    def read(self, key: str, consume: Callable[[Iterable[bytes]], Result], doing: str,
             vanished: str | None = None) -> Result:
        """Stream one object's bytes into consume(chunks) and return what it returns. A missing
        object raises TargetUnavailable(vanished) when given; every other failure names `doing`."""
        try:
            body = self.client().get_object(Bucket=self.bucket.name, Key=key)["Body"]
            try:
                return consume(body.iter_chunks(CHUNK))
            finally:
                body.close()
        except _ERRORS as error:
            if vanished is not None and error_code(error) in NOT_FOUND:
                raise TargetUnavailable(vanished) from error
            raise self.failure(error, doing) from error

    def lock_configuration(self) -> dict[str, Any] | None:
        """The bucket's ObjectLockConfiguration; None when it has none. Raise TargetUnavailable."""
        try:
            answer = self.client().get_object_lock_configuration(Bucket=self.bucket.name)
        except _ERRORS as error:
            if error_code(error) in NO_LOCK_CONFIGURATION:
                return None
            raise self.failure(error, "read object lock configuration") from error
        return answer.get("ObjectLockConfiguration", {})

    def put_locked_object(self, key: str, body: bytes, mode: str, retain_until: datetime) -> str | None:
        """PutObject under object lock (mode COMPLIANCE or GOVERNANCE) until retain_until, with a SHA-256
        checksum (object-lock writes need one); return the new version's id. Raise TargetUnavailable."""
        answer = self.call(f"write {key} under object lock", "put_object", Key=key, Body=body,
                           ContentType="application/json", ChecksumAlgorithm="SHA256",
                           ObjectLockMode=mode, ObjectLockRetainUntilDate=retain_until)
        return answer.get("VersionId")

    def object_retention(self, key: str, version_id: str) -> dict[str, Any] | None:
        """One version's Retention ({Mode, RetainUntilDate}); None when it has none. Raise TargetUnavailable."""
        try:
            answer = self.client().get_object_retention(Bucket=self.bucket.name, Key=key, VersionId=version_id)
        except _ERRORS as error:
            if error_code(error) in NO_RETENTION:
                return None
            raise self.failure(error, f"read the retention of {key}") from error
        return answer.get("Retention") or None

    def object_versions(self, prefix: str) -> Iterator[dict[str, Any]]:
        """Yield every version of every object under prefix (delete markers left out: they hide no
        version from this listing). Raise TargetUnavailable."""
        try:
            paginator = self.client().get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=self.bucket.name, Prefix=prefix):
                yield from page.get("Versions", [])
        except _ERRORS as error:
            raise self.failure(error, f"list versions under {prefix or '(whole bucket)'}") from error

    def get_bytes(self, key: str, version_id: str, limit: int) -> bytes:
        """One version's first `limit` bytes. Raise TargetUnavailable."""
        try:
            body = self.client().get_object(Bucket=self.bucket.name, Key=key, VersionId=version_id)["Body"]
            try:
                return body.read(limit)
            finally:
                body.close()
        except _ERRORS as error:
            raise self.failure(error, f"read {key}") from error

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
