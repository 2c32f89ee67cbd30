"""A job's manifest and clip files wherever the job ran: this machine's data dir, or S3.

With several workers on several machines (README "Several machines"), a job's folder is on the
machine whose worker ran it, and the API may be on another. The worker uploads the folder to
S3 when the job is done, manifest last (tasks/upload.py), so the API reads
`<S3_PREFIX>/jobs/<job id>/manifest.json` when it has no local copy, and answers a clip or
thumbnail request with a redirect to a presigned S3 link (Range requests then go to S3).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from reelflow.errors import NotFound
from reelflow.jobs import is_expired, job_dir
from reelflow.manifest import MANIFEST, Manifest, Rendering, read_manifest
from reelflow.settings import Settings
from reelflow.storage import (
    S3Storage,
    StorageError,
    StorageNotFound,
    get_storage,
    job_prefix,
    translate,
)

# A status poll every second should not cost an S3 GET every second.
REMOTE_MANIFEST_TTL_S = 2.0
_cache: dict[str, tuple[float, Manifest | None]] = {}


@dataclass(frozen=True)
class ClipFile:
    name: str
    path: Path | None = None  # a file on this machine
    url: str | None = None  # else a presigned link to its S3 copy


def job_manifest(job_id: str, settings: Settings) -> Manifest | None:
    """The job's manifest: the local one, else (S3 configured, no local folder) the uploaded
    one; None when there is neither yet."""
    folder = job_dir(job_id)
    if folder.exists():
        return read_manifest(folder)
    storage = get_storage(settings)
    if not isinstance(storage, S3Storage):
        return None
    now = time.monotonic()
    cached = _cache.get(job_id)
    if cached and now - cached[0] < REMOTE_MANIFEST_TTL_S:
        return cached[1]
    manifest = _read_remote(storage, job_id)
    _cache[job_id] = (now, manifest)
    if len(_cache) > 1000:
        _cache.clear()
    return manifest


def locate_clip(
    job_id: str, index: int, kind: str, settings: Settings, version: int | None = None
) -> ClipFile | None:
    """Where clip `index`'s (or its version `version`'s) video, thumbnail or caption file can
    be read; None when it is nowhere (NotFound when the clip was made without captions)."""
    folder = job_dir(job_id)
    manifest = job_manifest(job_id, settings)
    clip = manifest.clip(index) if manifest else None
    if clip is not None and version is not None:
        clip = next((v for v in clip.versions if v.version == version), None)
    if clip is None or is_expired(folder):
        return None
    name = clip_file_name(clip, kind)
    if not name:
        raise NotFound(f"Clip {index} of job {job_id} has no captions")
    if (folder / name).exists():
        return ClipFile(name=name, path=folder / name)
    storage = get_storage(settings)
    if folder.exists() or not isinstance(storage, S3Storage):
        return None
    # The manifest came from S3, which it reaches only after every other file of the job.
    key = job_prefix(storage, job_id) + name
    return ClipFile(name=name, url=storage.url(key, settings.s3_presign_seconds))


def clip_file_name(clip: Rendering, kind: str) -> str | None:
    names = {"video": clip.file, "thumbnail": clip.thumbnail, "srt": clip.captions_srt,
             "vtt": clip.captions_vtt}  # fmt: skip
    return names[kind]


def _read_remote(storage: S3Storage, job_id: str) -> Manifest | None:
    key = job_prefix(storage, job_id) + MANIFEST
    try:
        answer = storage.client.get_object(Bucket=storage.bucket, Key=key)
        return Manifest.model_validate_json(answer["Body"].read())
    except Exception as exc:
        error = exc if isinstance(exc, StorageError) else translate(exc, f"Reading {key}")
        if isinstance(error, StorageNotFound):
            return None
        raise error from exc
