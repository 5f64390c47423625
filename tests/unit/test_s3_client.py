"""agent.targets.s3_client's error mapping and agent.targets.s3_verify's pure parts, as tables.
botocore's own exception classes are built here as botocore raises them; the real server
(SeaweedFS) answers in tests/integration/s3."""

from __future__ import annotations

import base64
import hashlib

import botocore.exceptions
import pytest

from agent.errors import TargetUnavailable
from agent.hash_cache import CacheRow
from agent.targets.s3_client import NO_LOCK_CONFIGURATION, NOT_FOUND, error_code, failure
from agent.targets.s3_verify import (
    ObjectEntry,
    SampleBudget,
    full_object_sha256,
    legacy_identity,
    same_object,
)

WHERE = "s3 bucket b at http://127.0.0.1:9"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def client_error(code: str | None, status: int = 400, operation: str = "GetObject") -> botocore.exceptions.ClientError:
    response: dict = {"ResponseMetadata": {"HTTPStatusCode": status}}
    if code is not None:
        response["Error"] = {"Code": code, "Message": f"the secret is {SECRET}"}
    return botocore.exceptions.ClientError(response, operation)


@pytest.mark.parametrize("error, code", [
    (client_error("NoSuchKey", 404), "NoSuchKey"),
    (client_error("404", 404, "HeadObject"), "404"),  # HeadObject's 404 has no body: the status is the code
    (client_error(None), "?"),
    (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), None),
    (OSError("reset"), None),
])
def test_error_code(error, code):
    assert error_code(error) == code


def test_the_not_found_codes():
    assert {"404", "NoSuchKey", "NotFound"} == NOT_FOUND
    assert {"ObjectLockConfigurationNotFoundError", "404"} <= NO_LOCK_CONFIGURATION


@pytest.mark.parametrize("error, doing, message", [
    (client_error("NoSuchBucket", 404), "head bucket", f"bucket b does not exist ({WHERE}, HTTP 404)"),
    (client_error("404", 404), "head bucket", f"bucket b does not exist ({WHERE}, HTTP 404)"),
    (client_error("NoSuchBucket", 404), "list x/", f"bucket b does not exist ({WHERE})"),
    (client_error("404", 404), "head x", f"head x on {WHERE} failed: S3 error 404 (HTTP 404)"),
    (client_error("InvalidAccessKeyId", 403), "list x/",
     f"list x/ on {WHERE} failed: S3 error InvalidAccessKeyId (HTTP 403); check the credentials the target is "
     "configured with"),
    (client_error("SignatureDoesNotMatch", 403), "head bucket",
     f"head bucket on {WHERE} failed: S3 error SignatureDoesNotMatch (HTTP 403); check the credentials"),
    (client_error("ExpiredToken", 400), "download k", "S3 error ExpiredToken (HTTP 400); check the credentials"),
    (client_error("AccessDenied", 403), "download k",
     f"download k on {WHERE} failed: S3 error AccessDenied (HTTP 403); the credentials lack permission for this bucket"),
    (client_error("403", 403), "head bucket", "S3 error 403 (HTTP 403); the credentials lack permission"),
    (client_error("SlowDown", 503), "download k", f"download k on {WHERE} failed: S3 error SlowDown (HTTP 503)"),
    (botocore.exceptions.NoCredentialsError(), "list x/", "list x/: no usable S3 credentials (NoCredentialsError)"),
    (botocore.exceptions.PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"), "list x/",
     "list x/: no usable S3 credentials (PartialCredentialsError)"),
    (botocore.exceptions.ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"), "head bucket",
     f"head bucket on {WHERE} timed out (ConnectTimeoutError)"),
    (botocore.exceptions.ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), "download k",
     f"download k on {WHERE} timed out (ReadTimeoutError)"),
    (botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "head bucket",
     f"head bucket: cannot reach {WHERE} (EndpointConnectionError)"),
    (ConnectionResetError(104, "Connection reset by peer"), "download k",
     f"download k on {WHERE} failed: ConnectionResetError: [Errno 104] Connection reset by peer"),
    (ValueError("odd"), "download k", f"download k on {WHERE} failed: ValueError"),
])
def test_failure_names_the_code_and_never_the_message(error, doing, message):
    found = failure(error, doing, "b", WHERE)
    assert isinstance(found, TargetUnavailable)
    assert message in str(found)
    assert SECRET not in str(found)


def test_failure_passes_a_target_unavailable_through():
    already = TargetUnavailable("no S3 credentials found")
    assert failure(already, "head bucket", "b", WHERE) is already


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.mark.parametrize("checksum, checksum_type, expected", [
    (sha256_b64(b"x"), None, hashlib.sha256(b"x").hexdigest()),
    (sha256_b64(b"x"), "FULL_OBJECT", hashlib.sha256(b"x").hexdigest()),
    (sha256_b64(b"x"), "COMPOSITE", None),
    (sha256_b64(b"x") + "-3", None, None),  # a multipart composite: a hash of the parts' hashes
    (None, None, None),
    ("", None, None),
    ("not base64!", None, None),
    (base64.b64encode(b"short").decode(), None, None),
])
def test_full_object_sha256(checksum, checksum_type, expected):
    assert full_object_sha256(checksum, checksum_type) == expected


ENTRY = ObjectEntry("a", 10, 1700000000.5, etag="abc123")


def row(size: int = 10, mtime_ns: int = ENTRY.mtime_ns, identity: str | None = "abc123") -> CacheRow:
    return CacheRow(size, mtime_ns, 0, 0, "d" * 64, 1.0, identity=identity, method="download")


@pytest.mark.parametrize("cached, same", [
    (row(), True),
    (row(identity=legacy_identity("abc123")), True),  # a version-1 cache's row of this very object
    (row(identity=legacy_identity("other")), False),
    (row(identity="other"), False),
    (row(identity=None), False),  # a row without an identity (a file's) is never an object's
    (row(size=11), False),
    (row(mtime_ns=ENTRY.mtime_ns + 1), False),
    (None, False),
])
def test_same_object(cached, same):
    assert same_object(cached, ENTRY) is same


def test_legacy_identity_is_the_token_version_1_kept():
    token = int.from_bytes(hashlib.sha256(b"abc123").digest()[:7], "big")
    assert legacy_identity("abc123") == f"etag-sha256-56:{token}"


def candidate(name: str, size: int, hashed_at: float | None = None) -> tuple[ObjectEntry, CacheRow | None]:
    entry = ObjectEntry(name, size, 1.0, etag=name)
    if hashed_at is None:
        return entry, None
    return entry, CacheRow(size, entry.mtime_ns, 0, 0, "d" * 64, hashed_at, identity=name, method="download")


@pytest.mark.parametrize("budget, candidates, chosen", [
    (100, [candidate("new", 50), candidate("old", 50, hashed_at=5.0), candidate("older", 50, hashed_at=1.0)],
     ["new", "older"]),  # never verified first, then the longest unverified
    (10, [candidate("big", 500)], ["big"]),  # one object larger than the budget is still taken first
    (10, [candidate("a", 5), candidate("big", 500), candidate("empty", 0)], ["a", "empty"]),
    (0, [candidate("empty", 0)], ["empty"]),
])
def test_sample_budget_choose(budget, candidates, chosen):
    assert [entry.relpath for entry, _ in SampleBudget(budget).choose(candidates)] == chosen


def test_sample_budget_is_shared_across_calls():
    budget = SampleBudget(100)
    assert [e.relpath for e, _ in budget.choose([candidate("a", 80)])] == ["a"]
    assert budget.choose([candidate("b", 80)]) == []
