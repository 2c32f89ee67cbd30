"""The storage interface without a server: the local implementation, content types, key layout,
error translation, and what may be deleted."""

from __future__ import annotations

import pytest

from reelflow.settings import Settings
from reelflow.storage import (
    LocalStorage,
    S3Storage,
    StorageNotFound,
    StorageRefused,
    StorageUnavailable,
    content_type,
    get_storage,
    job_prefix,
    parse_s3_uri,
    remove_remote_copies,
    remove_stored_upload,
    translate,
)


def test_local_storage_is_the_default_and_keys_are_paths_under_the_data_dir(tmp_path):
    storage = get_storage(Settings(REELFLOW_DATA_DIR=str(tmp_path)))
    assert isinstance(storage, LocalStorage) and not storage.remote
    assert job_prefix(storage, "abc") == "jobs/abc/"
    clip = tmp_path / "jobs" / "abc" / "clip_01.mp4"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"video")
    storage.put_file(clip, "jobs/abc/clip_01.mp4")  # already in place: nothing to do
    assert clip.read_bytes() == b"video"
    storage.put_file(clip, "archive/clip.mp4")
    storage.get_file("archive/clip.mp4", tmp_path / "copy.mp4")
    assert (tmp_path / "copy.mp4").read_bytes() == b"video"
    assert storage.head("archive/clip.mp4")["size"] == 5
    assert storage.url("archive/clip.mp4", 60) is None
    assert storage.delete_prefix("jobs/abc/") == 1 and not clip.exists()
    with pytest.raises(StorageNotFound):
        storage.get_file("jobs/abc/clip_01.mp4", tmp_path / "x")


def test_s3_keys_are_laid_out_under_the_prefix():
    storage = S3Storage("media", "/team/reelflow/", client=None)
    assert storage.key("jobs", "j1", "clip_01.mp4") == "team/reelflow/jobs/j1/clip_01.mp4"
    assert job_prefix(storage, "j1") == "team/reelflow/jobs/j1/"
    assert S3Storage("media", "", client=None).key("uploads", "u", "a.mp4") == "uploads/u/a.mp4"
    assert storage.uri("k/x.mp4") == "s3://media/k/x.mp4"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clip_01.mp4", "video/mp4"),
        ("clip_01.jpg", "image/jpeg"),
        ("manifest.json", "application/json"),
        ("clips.csv", "text/csv"),
        ("clip_01.srt", "application/x-subrip"),
        ("clip_01.vtt", "text/vtt"),
        ("blob", "application/octet-stream"),
    ],
)
def test_content_types(name, expected):
    assert content_type(name) == expected


def test_s3_addresses_are_parsed_strictly():
    assert parse_s3_uri("s3://media/a/b.mp4") == ("media", "a/b.mp4")
    for bad in ("s3://media", "s3://media/", "s3:///key", "s3://media/folder/", "http://x/y"):
        with pytest.raises(StorageRefused):
            parse_s3_uri(bad)


def _client_error(code: str, status: int):
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": "msg"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


def test_errors_are_translated_into_retryable_or_not():
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    assert isinstance(translate(_client_error("SlowDown", 503), "x"), StorageUnavailable)
    assert isinstance(translate(_client_error("InternalError", 500), "x"), StorageUnavailable)
    refused = translate(_client_error("AccessDenied", 403), "Upload of a")
    assert isinstance(refused, StorageRefused) and refused.permanent
    assert "AccessDenied" in str(refused)
    assert isinstance(translate(_client_error("NoSuchKey", 404), "x"), StorageNotFound)
    down = translate(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "x")
    assert isinstance(down, StorageUnavailable) and not down.permanent
    assert "could not be reached" in str(down)
    assert "credentials" in str(translate(NoCredentialsError(), "x"))
    # boto3's upload_file raises S3UploadFailedError while handling the ClientError.
    wrapped = S3UploadFailedError("Failed to upload clip_01.mp4")
    wrapped.__context__ = _client_error("NoSuchBucket", 404)
    assert "NoSuchBucket" in str(translate(wrapped, "x"))


def test_only_our_own_uploads_are_ever_deleted(monkeypatch):
    """A source someone gave as s3:// (their own media bucket, another prefix) is never
    deleted by retention or DELETE: only what the API itself stored under
    <prefix>/uploads/<32 hex>/."""
    deleted = []
    monkeypatch.setattr(S3Storage, "delete_prefix", lambda self, p: deleted.append(p) or 1)
    settings = Settings(S3_BUCKET="media", S3_PREFIX="rf")
    u1 = "0123456789abcdef" * 2
    for source in (
        f"s3://other/rf/uploads/{u1}/a.mp4",
        f"s3://media/rf/jobs/{u1}/a.mp4",
        f"s3://media/uploads/{u1}/a.mp4",
        "s3://media/rf/uploads/a.mp4",
        f"s3://media/rf/uploads/{u1}/sub/a.mp4",
        "s3://media/rf/uploads/u1/a.mp4",
        "s3://media/rf/uploads/../jobs/a.mp4",
        f"/data/uploads/{u1}/a.mp4",
    ):
        assert remove_stored_upload(source, settings) == 0, source
    assert deleted == []
    assert remove_stored_upload(f"s3://media/rf/uploads/{u1}/a.mp4", settings) == 1
    assert deleted == [f"rf/uploads/{u1}/"]
    deleted.clear()
    assert remove_remote_copies("j1", "", settings) == 1 and deleted == ["rf/jobs/j1/"]
    keep = Settings(S3_BUCKET="media", S3_PREFIX="rf", S3_KEEP_AFTER_RETENTION="true")
    assert remove_remote_copies("j1", f"s3://media/rf/uploads/{u1}/a.mp4", keep) == 0
    assert remove_remote_copies("j1", "", Settings()) == 0
