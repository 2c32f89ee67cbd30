"""Jobs over HTTP: submit a video, follow it, list, cancel or delete, download its clips.

Handlers read the request and call one JobService method (api/service.py); errors are
reelflow's own, answered by api/errors.py.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, Parameter
from litestar.response import Redirect, Stream

from api.body import content_length, read_json_object
from api.files import serve_clip_file
from api.openapi import (
    MAX_KEY_LENGTH,
    FileOperation,
    SubmitOperation,
    binary,
    errors,
)
from api.schemas import Deleted, JobList, JobStatusOut, Submitted
from api.uploads import parse_upload, too_large
from reelflow.errors import InvalidRequest
from reelflow.settings import Settings
from reelflow.status import JobStatus

JSON_LIMIT = 1024 * 1024
# Past a database's integer range an offset is a server error there; no list is this long.
MAX_OFFSET = 1_000_000_000
# Room for the multipart framing and text fields around the file itself.
FORM_SLACK = 1024 * 1024
MAX_IDEMPOTENCY_KEY = 255


@post(
    "/api/process",
    request_max_body_size=None,
    status_code=200,
    summary="Submit a video",
    responses=errors(400, 413, 503),
    operation_class=SubmitOperation,
)
async def process(request: Request, state: State) -> Submitted:
    """Submit a video by URL (JSON `{"url": ...}` or form field `url`) or as a multipart `file`.

    Header `X-Gemini-Key` is required. Optional: `clips`, `min_seconds`, `max_seconds`,
    `provider` (`gemini`, the default, or `local`), `captions`, `hook`, `effects`. Answers at
    once with the job id. With an `Idempotency-Key` header, a repeat of the same request within
    24 hours answers the first job's id (and keeps no second upload); the same key with another
    request is 422. 429 with `Retry-After` when MAX_QUEUED_JOBS jobs already wait.
    """
    key = gemini_key(request, required=True)
    idempotency_key = _idempotency_key(request)
    fields, upload = await read_submission(request, state.settings)
    return Submitted(job_id=await state.jobs.submit(fields, upload, key, idempotency_key))


@get(
    "/api/status/{job_id:str}",
    summary="A job's status, progress, logs and clips",
    responses=errors(404, 503),
)
async def status(job_id: FromPath[str], request: Request, state: State) -> JobStatusOut:
    base = str(request.base_url).rstrip("/")

    def clip_url(job: str, index: int, kind: str) -> str:
        return f"{base}{clip_path(job, index, kind)}"

    return await state.jobs.status(job_id, clip_url)


@get("/api/jobs", summary="Jobs, newest first", responses=errors(400, 503))
async def list_jobs(
    state: State,
    status: FromQuery[JobStatus | None] = None,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    offset: Annotated[int, Parameter(ge=0, le=MAX_OFFSET)] = 0,
) -> JobList:
    jobs = await state.jobs.list(status, limit, offset)
    return JobList(jobs=jobs, limit=limit, offset=offset)


@delete(
    "/api/jobs/{job_id:str}",
    status_code=200,
    summary="Cancel a job, or delete its files",
    responses=errors(404, 503),
)
async def cancel_job(job_id: FromPath[str], state: State) -> Deleted:
    return await state.jobs.cancel_or_delete(job_id)


@get(
    "/api/jobs/{job_id:str}/clips/{index:int}",
    summary="Download or stream a clip",
    responses={**binary("video/mp4", "The clip (MP4)"), **errors(404, 416, 503)},
    operation_class=FileOperation,
)
async def clip_video_file(
    job_id: FromPath[str], index: FromPath[int], request: Request, state: State
) -> Stream | Redirect:
    return serve_clip_file(request, await state.jobs.clip_file(job_id, index, "video"))


@get(
    "/api/jobs/{job_id:str}/clips/{index:int}/thumbnail",
    summary="A clip's thumbnail",
    responses={**binary("image/jpeg", "The thumbnail (JPEG)"), **errors(404, 416, 503)},
    operation_class=FileOperation,
)
async def clip_thumbnail(
    job_id: FromPath[str], index: FromPath[int], request: Request, state: State
) -> Stream | Redirect:
    return serve_clip_file(request, await state.jobs.clip_file(job_id, index, "thumbnail"))


def _idempotency_key(request: Request) -> str:
    key = (request.headers.get("idempotency-key") or "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise InvalidRequest(
            f"Idempotency-Key must be printable text of at most {MAX_IDEMPOTENCY_KEY} characters"
        )
    return key


def clip_path(job_id: str, index: int, kind: str) -> str:
    """The path of a clip's file: kind is video, thumbnail, srt or vtt."""
    suffix = {"video": "", "thumbnail": "/thumbnail", "srt": "/captions/srt",
              "vtt": "/captions/vtt"}[kind]  # fmt: skip
    return f"/api/jobs/{job_id}/clips/{index}{suffix}"


def gemini_key(request: Request, *, required: bool = False) -> str:
    """The X-Gemini-Key header: required for a job, optional for a re-render ("" when absent)."""
    key = request.headers.get("x-gemini-key")
    if required and not (key or "").strip():
        raise InvalidRequest("Missing X-Gemini-Key header")
    return api_key(request, "X-Gemini-Key")


def api_key(request: Request, header: str) -> str:
    """An API key header ("" when absent). Sent, it must look like a key: 1-256 printable
    ASCII characters (servers strip surrounding blanks before we see it)."""
    key = request.headers.get(header.lower())
    if key is None:
        return ""
    if not key or len(key) > MAX_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
        raise InvalidRequest(
            f"{header} must be an API key: 1-{MAX_KEY_LENGTH} printable ASCII characters, no spaces"
        )
    return key


async def read_submission(request: Request, settings: Settings) -> tuple[dict, Any]:
    """(text fields, uploaded file or None): JSON, or multipart with the file streamed
    straight to disk and held to MAX_FILE_SIZE_MB."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.partition(";")[0].strip().lower()
    length = content_length(request)
    if media_type == "multipart/form-data":
        if length > settings.max_file_size_mb * 1024 * 1024 + FORM_SLACK:
            raise too_large(settings.max_file_size_mb)
        form = await parse_upload(
            request.stream(), _boundary(content_type), settings.uploads_dir,
            settings.max_file_size_mb,
        )  # fmt: skip
        return form.fields, form.file_path
    if media_type == "application/json":
        return await read_json_object(request, JSON_LIMIT, '{"url": ...}'), None
    raise InvalidRequest(
        "Send JSON like {\"url\": ...} or multipart/form-data with a 'file' (or 'url') field"
    )


def _boundary(content_type: str) -> bytes:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "boundary" and value.strip('"'):
            boundary = value.strip('"')
            # RFC 2046: 1-70 characters of a small set; anything else never frames a body.
            if len(boundary) > 70 or not boundary.isascii() or not boundary.isprintable():
                raise InvalidRequest("The multipart boundary must be 1-70 ASCII characters")
            return boundary.encode()
    raise InvalidRequest("multipart/form-data without a boundary")
