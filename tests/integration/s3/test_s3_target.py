"""agent.targets.s3.S3Target against a real SeaweedFS: probe, listing, stat, hashing by checksum or
download sample, credentials from each source, and errors that name the S3 error code but never
the secret."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest

from agent.config import Target
from agent.hash_cache import HashCache
from agent.targets import open_target
from agent.targets.base import TargetContext
from agent.targets.s3 import S3Target, full_object_sha256
from tests.support.seaweed import free_ports

pytestmark = pytest.mark.integration


def make_handle(options: dict, *, cache: HashCache | None = None, now: float | None = None) -> S3Target:
    context = TargetContext(hash_cache=cache or HashCache(None), now=now or time.time(), rehash_every=30 * 86400,
                            hash_workers=2, command_timeout=60)
    handle = open_target(Target("offsite", "s3", "object-storage", "cloud-hk", options), context)
    assert isinstance(handle, S3Target)
    return handle


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_full_object_sha256_accepts_only_a_content_hash():
    data = b"hello"
    assert full_object_sha256(b64_sha256(data), None) == hashlib.sha256(data).hexdigest()
    assert full_object_sha256(b64_sha256(data), "FULL_OBJECT") == hashlib.sha256(data).hexdigest()
    # A composite multipart checksum is a hash of the parts' hashes: never the content's.
    assert full_object_sha256(b64_sha256(data) + "-2", None) is None
    assert full_object_sha256(b64_sha256(data), "COMPOSITE") is None
    assert full_object_sha256(None, None) is None
    assert full_object_sha256("not base64!", None) is None


def test_probe_scan_stat_and_hash(seaweed, bucket):
    client = seaweed.client()
    client.put_object(Bucket=bucket, Key="docs/a.txt", Body=b"alpha", ChecksumAlgorithm="SHA256")
    client.put_object(Bucket=bucket, Key="docs/sub/b.txt", Body=b"bravo")
    client.put_object(Bucket=bucket, Key="docs/folder/", Body=b"")  # a "folder" marker: not data
    client.put_object(Bucket=bucket, Key="other/c.txt", Body=b"charlie")
    handle = make_handle(seaweed.target_options(bucket))
    try:
        probe = handle.probe("docs", require_tree=False)
        assert probe.ok, probe.detail
        entries = handle.scan("docs")
        assert sorted(entries) == ["a.txt", "sub/b.txt"]
        assert entries["a.txt"].size == 5 and abs(entries["a.txt"].mtime - time.time()) < 120
        assert entries["sub/b.txt"].etag == hashlib.md5(b"bravo").hexdigest()  # noqa: S324 - what S3 computes
        assert handle.stat("docs/a.txt").checksum_sha256 == b64_sha256(b"alpha")
        assert handle.stat("docs/missing.txt") is None
        outcome = handle.hash("docs", list(entries.values()))
        assert outcome.digests == {"a.txt": hashlib.sha256(b"alpha").hexdigest(),
                                   "sub/b.txt": hashlib.sha256(b"bravo").hexdigest()}
        assert outcome.methods == {"a.txt": "checksum", "sub/b.txt": "download"}
        assert outcome.bytes_read == 5 and outcome.not_verified == []
    finally:
        handle.close()


def test_multipart_composite_checksum_is_not_taken_as_the_content_hash(seaweed, bucket):
    client = seaweed.client()
    parts_data = [b"x" * (5 * 2**20), b"tail"]
    upload = client.create_multipart_upload(Bucket=bucket, Key="big/mp.bin", ChecksumAlgorithm="SHA256")
    parts = []
    for number, data in enumerate(parts_data, 1):
        part = client.upload_part(Bucket=bucket, Key="big/mp.bin", PartNumber=number, UploadId=upload["UploadId"],
                                  Body=data, ChecksumAlgorithm="SHA256")
        parts.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumSHA256": part["ChecksumSHA256"]})
    client.complete_multipart_upload(Bucket=bucket, Key="big/mp.bin", UploadId=upload["UploadId"],
                                     MultipartUpload={"Parts": parts})
    handle = make_handle(seaweed.target_options(bucket))
    entries = handle.scan("big")
    assert entries["mp.bin"].etag.endswith("-2")  # a multipart ETag: not an MD5 of the content
    outcome = handle.hash("big", list(entries.values()))
    assert outcome.methods == {"mp.bin": "download"}
    assert outcome.digests["mp.bin"] == hashlib.sha256(b"".join(parts_data)).hexdigest()


def test_download_sample_is_bounded_and_rotates(seaweed, bucket):
    client = seaweed.client()
    for index in range(6):
        client.put_object(Bucket=bucket, Key=f"s/f{index}", Body=bytes([index]) * 1000)
    cache = HashCache(None)
    seen: set[str] = set()
    for run in range(3):
        handle = make_handle(seaweed.target_options(bucket, sample_bytes=2500), cache=cache, now=time.time() + run)
        entries = handle.scan("s")
        outcome = handle.hash("s", list(entries.values()))
        downloaded = {p for p, how in outcome.methods.items() if how == "download"}
        assert len(downloaded) == 2 and outcome.bytes_read == 2000, outcome
        assert not downloaded & seen, "the sample must move on to objects not verified yet"
        seen |= downloaded
        assert len(outcome.not_verified) == 6 - len(seen)
        assert set(outcome.digests) == seen  # earlier verifications of unchanged objects still count
    assert len(seen) == 6


def test_a_changed_object_is_downloaded_first(seaweed, bucket):
    client = seaweed.client()
    for index in range(4):
        client.put_object(Bucket=bucket, Key=f"s/f{index}", Body=bytes([index]) * 1000)
    cache = HashCache(None)
    options = seaweed.target_options(bucket, sample_bytes=4000)
    make_handle(options, cache=cache).hash("s", list(make_handle(options).scan("s").values()))
    client.put_object(Bucket=bucket, Key="s/f3", Body=b"Z" * 1000)  # overwritten: new ETag
    handle = make_handle(seaweed.target_options(bucket, sample_bytes=1000), cache=cache, now=time.time() + 10)
    outcome = handle.hash("s", list(handle.scan("s").values()))
    assert outcome.methods["f3"] == "download"
    assert outcome.digests["f3"] == hashlib.sha256(b"Z" * 1000).hexdigest()
    assert {outcome.methods[p] for p in ("f0", "f1", "f2")} == {"earlier"}


def test_bucket_missing_is_named(seaweed):
    handle = make_handle(seaweed.target_options("no-such-bucket-here"))
    probe = handle.probe("x", require_tree=False)
    assert not probe.ok
    assert "bucket no-such-bucket-here does not exist" in probe.detail


@pytest.mark.parametrize(("field", "code"), [("aws_access_key_id", "InvalidAccessKeyId"),
                                             ("aws_secret_access_key", "SignatureDoesNotMatch")])
def test_bad_credentials_name_the_s3_error_never_the_secret(seaweed, bucket, tmp_path, field, code):
    wrong = "wrong-" + field.replace("_", "")
    values = {"aws_access_key_id": seaweed.access_key, "aws_secret_access_key": seaweed.secret_key, field: wrong}
    credentials = tmp_path / "bad.ini"
    credentials.write_text("[default]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()))
    handle = make_handle(seaweed.target_options(bucket, credentials_file=str(credentials)))
    started = time.monotonic()
    probe = handle.probe("", require_tree=False)
    assert not probe.ok and code in probe.detail, probe.detail
    assert seaweed.secret_key not in probe.detail and wrong not in probe.detail
    assert time.monotonic() - started < 10


def test_credentials_from_a_named_profile_and_from_the_standard_chain(seaweed, bucket, tmp_path, monkeypatch):
    shared = tmp_path / "credentials"
    shared.write_text(f"[offsite]\naws_access_key_id = {seaweed.access_key}\n"
                      f"aws_secret_access_key = {seaweed.secret_key}\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    by_profile = make_handle(seaweed.target_options(bucket, credentials_file=None, profile="offsite"))
    assert by_profile.probe("", require_tree=False).ok
    unknown = make_handle(seaweed.target_options(bucket, credentials_file=None, profile="nope"))
    probe = unknown.probe("", require_tree=False)
    assert not probe.ok and "profile 'nope' not found" in probe.detail
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    by_chain = make_handle(seaweed.target_options(bucket, credentials_file=None))
    assert by_chain.probe("", require_tree=False).ok


def test_credentials_file_problems_are_errors(seaweed, bucket, tmp_path):
    missing = make_handle(seaweed.target_options(bucket, credentials_file=str(tmp_path / "absent.ini")))
    assert "cannot read credentials_file" in missing.probe("", require_tree=False).detail
    no_section = tmp_path / "other.ini"
    no_section.write_text("[work]\naws_access_key_id = a\naws_secret_access_key = b\n")
    handle = make_handle(seaweed.target_options(bucket, credentials_file=str(no_section)))
    assert "has no [default] section" in handle.probe("", require_tree=False).detail


def test_restic_location_passes_credentials_only_in_the_environment(seaweed, bucket):
    handle = make_handle(seaweed.target_options(bucket))
    location = handle.restic_location("/restic/lithera/")
    assert location.repository == f"s3:{seaweed.endpoint}/{bucket}/restic/lithera"
    assert location.env == {"AWS_ACCESS_KEY_ID": seaweed.access_key, "AWS_SECRET_ACCESS_KEY": seaweed.secret_key}
    assert seaweed.secret_key in location.secrets
    assert seaweed.secret_key not in location.repository + " ".join(location.options)
    assert "s3.bucket-lookup=path" in location.options


def test_dead_endpoint_is_an_error_within_seconds(seaweed, bucket):
    port = free_ports(1)[0]  # nothing listens there
    handle = make_handle(seaweed.target_options(bucket, endpoint=f"http://127.0.0.1:{port}"))
    started = time.monotonic()
    probe = handle.probe("", require_tree=False)
    assert not probe.ok and "cannot reach" in probe.detail, probe.detail
    assert time.monotonic() - started < 10


def test_endpoint_that_accepts_but_never_answers_is_an_error(seaweed, bucket, monkeypatch, silent_server):
    """A server that takes the TCP connection and then says nothing. The read timeout is lowered
    from 30 s to 1 s for the test (the mechanism, not the number, is under test): 3 attempts."""
    import agent.targets.s3 as s3_module

    monkeypatch.setattr(s3_module, "MAX_READ_TIMEOUT", 1.0)
    handle = make_handle(seaweed.target_options(bucket, endpoint=f"http://127.0.0.1:{silent_server}"))
    started = time.monotonic()
    probe = handle.probe("", require_tree=False)
    elapsed = time.monotonic() - started
    assert not probe.ok and "timed out" in probe.detail, probe.detail  # connected, then no answer
    assert elapsed < 10
