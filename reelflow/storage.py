"""Where job files live besides the job folder: one small interface, two implementations.

`LocalStorage` is the embedded default. The data dir already holds `jobs/<job id>/...`, so its
keys are paths under the data dir and storing a job's file is a no-op. `S3Storage` (boto3) puts
files in a bucket under `<S3_PREFIX>/jobs/<job id>/<file>` and `<S3_PREFIX>/uploads/<id>/<file>`,
with content types, multipart transfers from S3_MULTIPART_MB up, and presigned links for the
API. `get_storage()` picks one from the settings: S3 when S3_BUCKET is set.

Credentials come from boto3's own chain and never pass through reelflow: nothing here reads,
logs or stores them, and error messages are built from S3's error codes, not from requests.
Errors are translated where they enter: `StorageUnavailable` (network, 5xx, throttling) is
worth a retry, `StorageRefused` (no such bucket or key, access denied, bad credentials) is not.
"""

from __future__ import annotations

import mimetypes
import os
import re
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from reelflow.errors import ReelflowError
from reelflow.settings import Settings, get_settings

MIB = 2**20
# S3 takes at most 1000 keys per DeleteObjects call.
DELETE_BATCH = 1000
_CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".json": "application/json",
    ".csv": "text/csv",
    ".srt": "application/x-subrip",
    ".vtt": "text/vtt",
    ".ass": "text/x-ssa",
}
# S3 answers that a retry can fix; any other error code is a refusal.
_TRANSIENT_CODES = {
    "InternalError", "ServiceUnavailable", "SlowDown", "Throttling", "ThrottlingException",
    "RequestTimeout", "RequestTimeTooSkewed", "ExpiredToken",
}  # fmt: skip


class StorageError(ReelflowError):
    """Storing or fetching a file failed."""


class StorageUnavailable(StorageError):
    """S3 could not be reached or answered with a server error: a later try may work."""

    permanent = False


class StorageRefused(StorageError):
    """S3 refused the request (no such bucket, access denied, bad credentials)."""


class StorageNotFound(StorageRefused):
    """The object does not exist."""


class Storage(Protocol):
    remote: bool  # False: files are already where they belong, nothing to upload

    def key(self, *parts: str) -> str: ...
    def uri(self, key: str) -> str: ...
    def put_file(self, path: Path, key: str) -> None: ...
    def get_file(self, key: str, dest: Path) -> None: ...
    def head(self, key: str) -> dict[str, Any]: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def url(self, key: str, expires_s: int) -> str | None: ...


def content_type(path: Path | str) -> str:
    suffix = Path(path).suffix.lower()
    return (
        _CONTENT_TYPES.get(suffix)
        or mimetypes.guess_type(str(path))[0]
        or ("application/octet-stream")
    )


class LocalStorage:
    """Keys are paths under `root` (the data dir), so a job's files are stored where they are."""

    remote = False

    def __init__(self, root: Path):
        self.root = root

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in parts if p)

    def uri(self, key: str) -> str:
        return str(self.root / key)

    def put_file(self, path: Path, key: str) -> None:
        dest = self.root / key
        if dest.exists() and dest.samefile(path):
            return
        _copy_atomic(path, dest)

    def get_file(self, key: str, dest: Path) -> None:
        src = self.root / key
        if not src.is_file():
            raise StorageNotFound(f"{key} does not exist")
        _copy_atomic(src, dest)

    def head(self, key: str) -> dict[str, Any]:
        src = self.root / key
        if not src.is_file():
            raise StorageNotFound(f"{key} does not exist")
        stat = src.stat()
        return {"size": stat.st_size, "etag": f"{stat.st_size}-{stat.st_mtime_ns}"}

    def delete_prefix(self, prefix: str) -> int:
        target = self.root / prefix
        if not target.exists():
            return 0
        count = sum(1 for p in target.rglob("*") if p.is_file()) if target.is_dir() else 1
        shutil.rmtree(target) if target.is_dir() else target.unlink()
        return count

    def url(self, key: str, expires_s: int) -> str | None:
        return None  # the API serves local files itself


class S3Storage:
    """One bucket and key prefix, reached with boto3 (any S3-compatible endpoint)."""

    remote = True

    def __init__(self, bucket: str, prefix: str, client: Any, multipart_mb: int = 64):
        from boto3.s3.transfer import TransferConfig

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client
        # Parts of the threshold's size: a file just over it goes in two parts, not one big PUT.
        size = multipart_mb * MIB
        self.transfer = TransferConfig(
            multipart_threshold=size, multipart_chunksize=size, max_concurrency=4
        )

    @classmethod
    def from_settings(cls, settings: Settings, bucket: str | None = None) -> S3Storage:
        client = s3_client(settings.s3_endpoint_url, settings.s3_region, settings.s3_timeout_s)
        return cls(
            bucket or settings.s3_bucket or "",
            settings.s3_prefix if bucket is None else "",
            client,
            settings.s3_multipart_mb,
        )

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put_file(self, path: Path, key: str) -> None:
        extra = {"ContentType": content_type(path)}
        try:
            self.client.upload_file(
                str(path), self.bucket, key, ExtraArgs=extra, Config=self.transfer
            )
        except Exception as exc:
            raise translate(exc, f"Upload of {path.name} to {self.uri(key)}") from exc

    def get_file(self, key: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        try:
            self.client.download_file(self.bucket, key, str(tmp), Config=self.transfer)
            os.replace(tmp, dest)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            raise translate(exc, f"Download of {self.uri(key)}") from exc

    def head(self, key: str) -> dict[str, Any]:
        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise translate(exc, f"Reading {self.uri(key)}") from exc
        return {"size": answer["ContentLength"], "etag": answer.get("ETag", "").strip('"')}

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix` (end it with '/' for a folder)."""
        deleted = 0
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                for i in range(0, len(keys), DELETE_BATCH):
                    batch = keys[i : i + DELETE_BATCH]
                    answer = self.client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                    )
                    if errors := answer.get("Errors"):
                        first = errors[0]
                        raise StorageRefused(
                            f"S3 kept {len(errors)} object(s) under {self.uri(prefix)}: "
                            f"{first.get('Code')} ({first.get('Key')})"
                        )
                    deleted += len(batch)
        except StorageError:
            raise
        except Exception as exc:
            raise translate(exc, f"Deleting {self.uri(prefix)}") from exc
        return deleted

    def url(self, key: str, expires_s: int) -> str:
        """A presigned GET link: computed locally, no request is made."""
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )


@lru_cache(maxsize=8)
def s3_client(endpoint_url: str | None, region: str | None, timeout_s: float) -> Any:
    """One boto3 client per endpoint and process (clients are thread-safe; building one
    costs tens of milliseconds). Credentials are resolved by boto3's chain, refreshed by it."""
    import boto3
    from botocore.config import Config

    custom = endpoint_url is not None
    config = Config(
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        retries={"max_attempts": 3, "mode": "standard"},
        signature_version="s3v4",
        # Other stores (MinIO, Ceph, R2) want bucket names in the path, not in the host name,
        # and some reject the CRC checksums boto3 adds by default since 1.36.
        s3={"addressing_style": "path" if custom else "auto"},
        request_checksum_calculation="when_required" if custom else "when_supported",
        response_checksum_validation="when_required" if custom else "when_supported",
    )
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def get_storage(settings: Settings | None = None) -> Storage:
    settings = settings or get_settings()
    if settings.s3_bucket:
        return S3Storage.from_settings(settings)
    return LocalStorage(settings.data_dir)


def translate(exc: BaseException, what: str) -> StorageError:
    """Turn a boto3/botocore error into a StorageError with a message that names S3's error
    code, never the request (whose headers hold the signature)."""
    from botocore.exceptions import (
        ClientError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError

    cause = exc
    # boto3's upload_file wraps a ClientError in S3UploadFailedError.
    while not isinstance(cause, ClientError) and (cause.__cause__ or cause.__context__):
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    if isinstance(cause, ClientError):
        error = cause.response.get("Error", {})
        code = str(error.get("Code") or "")
        status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        text = f"{what} failed: S3 answered {code or status}"
        if error.get("Message"):
            text += f" ({error['Message']})"
        if code in {"NoSuchKey", "404", "NotFound"}:
            return StorageNotFound(text)
        if code in _TRANSIENT_CODES or status >= 500:
            return StorageUnavailable(text)
        return StorageRefused(text)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return StorageRefused(
            f"{what} failed: no usable S3 credentials (set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or give the machine a role)"
        )
    if isinstance(exc, FileNotFoundError):
        return StorageRefused(f"{what} failed: the local file is gone")
    unreachable = (BotoConnectionError, HTTPClientError, TimeoutError, ConnectionError)
    if isinstance(exc, unreachable) or isinstance(cause, unreachable):
        return StorageUnavailable(f"{what} failed: S3 could not be reached ({type(exc).__name__})")
    return StorageRefused(f"{what} failed: {type(exc).__name__}")


def is_s3_uri(source: str) -> bool:
    return source[:5].lower() == "s3://"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[5:].partition("/")
    if not is_s3_uri(uri) or not bucket or not key or key.endswith("/"):
        raise StorageRefused(f"Not an S3 object address: {uri[:120]} (expected s3://bucket/key)")
    return bucket, key


def storage_for_uri(uri: str, settings: Settings | None = None) -> tuple[S3Storage, str]:
    """The storage and key behind an `s3://bucket/key` address (any bucket the chain can read)."""
    bucket, key = parse_s3_uri(uri)
    return S3Storage.from_settings(settings or get_settings(), bucket=bucket), key


def job_prefix(storage: Storage, job_id: str) -> str:
    return storage.key("jobs", job_id) + "/"


def store_upload(storage: Storage, path: Path) -> str:
    """Put an API upload (uploads/<id>/<name>) at <prefix>/uploads/<id>/<name>; its address."""
    key = storage.key("uploads", path.parent.name, path.name)
    storage.put_file(path, key)
    return storage.uri(key)


def remove_stored_upload(source: str, settings: Settings | None = None) -> int:
    """Delete the S3 copy of an API upload; any other address (a user's own bucket) is left."""
    settings = settings or get_settings()
    if not (settings.s3_bucket and is_s3_uri(source)):
        return 0
    storage = S3Storage.from_settings(settings)
    bucket, key = parse_s3_uri(source)
    uploads = storage.key("uploads") + "/"
    folder, _, name = key[len(uploads) :].partition("/")
    ours = bucket == storage.bucket and key.startswith(uploads)
    if not ours or not re.fullmatch(r"[0-9a-f]{32}", folder) or not name or "/" in name:
        return 0  # exactly uploads/<32 hex>/<name>
    return storage.delete_prefix(f"{uploads}{folder}/")


def remove_remote_copies(job_id: str, source: str = "", settings: Settings | None = None) -> int:
    """When a job's local files go (retention, DELETE), its S3 objects and uploaded source go
    too, unless S3_KEEP_AFTER_RETENTION. `source` is the S3 address of the upload the job read
    (`reelflow.jobs.stored_upload_source`: from what the job recorded), or "". Returns how
    many objects were deleted."""
    settings = settings or get_settings()
    if not settings.s3_bucket or settings.s3_keep_after_retention:
        return 0
    storage = S3Storage.from_settings(settings)
    return storage.delete_prefix(job_prefix(storage, job_id)) + remove_stored_upload(
        source, settings
    )


def _copy_atomic(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
