"""The reelflow REST API (Litestar): submit videos, follow jobs, download clips.

    uvicorn api.app:app --port 8000      (or `make up`, which starts everything)

Jobs are Prefect flow runs of the clip_video deployment; see api/service.py.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import anyio
from litestar import Litestar, Request, delete, get, post
from litestar.datastructures import State
from litestar.exceptions import ClientException, HTTPException, NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromPath, FromQuery, Parameter
from litestar.response import Response, Stream
from litestar.static_files import create_static_files_router
from pydantic import ValidationError

from api.body import read_json_object
from api.files import file_response
from api.restyle import look_fields, restyle
from api.security import install_auth
from api.service import JobService
from api.status import JobStatus
from api.uploads import parse_upload, too_large
from reelflow.errors import ReelflowError
from reelflow.jobs import ClipRequest, job_dir, read_manifest
from reelflow.netguard import precheck_url
from reelflow.secrets import delete_key_block, save_key_block
from reelflow.settings import Settings, get_settings
from reelflow.storage import StorageError, get_storage, remove_stored_upload, store_upload

JSON_LIMIT = 1024 * 1024
# Room for the multipart framing and text fields around the file itself.
FORM_SLACK = 1024 * 1024
logger = logging.getLogger(__name__)
OPTION_FIELDS = ("clips", "min_seconds", "max_seconds", "provider")


@post("/api/process", request_max_body_size=None, status_code=200, summary="Submit a video")
async def process(request: Request, state: State) -> dict[str, str]:
    """Submit a video by URL (JSON `{"url": ...}` or form field `url`) or as a multipart `file`.

    Header `X-Gemini-Key` is required. Optional: `clips`, `min_seconds`, `max_seconds`,
    `provider` (`gemini`, the default, or `local`). Answers at once with the job id.
    """
    settings: Settings = state.settings
    key = (request.headers.get("x-gemini-key") or "").strip()
    if not key:
        raise ClientException("Missing X-Gemini-Key header")
    fields, upload = await _read_submission(request, settings)
    stored = None
    try:
        job_request = _job_request(fields, upload)
        if upload is not None and (stored := await _store_upload(upload, settings)):
            job_request = job_request.model_copy(update={"source": stored})
        key_block = await save_key_block(key) if job_request.provider == "gemini" else None
        job_request = job_request.model_copy(update={"gemini_key_block": key_block})
        try:
            job_id = await state.jobs.submit(job_request)
        except BaseException:
            await delete_key_block(key_block)
            raise
    except BaseException:
        if upload is not None:
            _remove_upload_folder(upload)
        if stored:
            await _forget_stored_upload(stored, settings)
        raise
    if stored:
        _remove_upload_folder(upload)  # the worker reads the S3 copy
    return {"job_id": job_id, "status": "queued"}


async def _store_upload(upload: Path, settings: Settings) -> str | None:
    """With S3 configured, an upload goes to <prefix>/uploads/<id>/<name> and the job gets its
    s3:// address, so a worker on any machine can read it; None when storage is local."""
    storage = get_storage(settings)
    if not storage.remote:
        return None
    try:
        return await anyio.to_thread.run_sync(store_upload, storage, upload)
    except StorageError as exc:
        logger.warning("Could not store an upload on S3: %s", exc)
        raise HTTPException(
            status_code=503, detail="Could not store the upload; try again later"
        ) from exc


async def _forget_stored_upload(source: str, settings: Settings) -> None:
    try:
        await anyio.to_thread.run_sync(remove_stored_upload, source, settings)
    except StorageError as exc:
        logger.warning("Could not delete an unused upload from S3: %s", exc)


async def _read_submission(request: Request, settings: Settings) -> tuple[dict, Any]:
    content_type = request.headers.get("content-type", "")
    length = int(request.headers.get("content-length") or 0)
    if content_type.startswith("multipart/form-data"):
        if length > settings.max_file_size_mb * 1024 * 1024 + FORM_SLACK:
            raise too_large(settings.max_file_size_mb)
        boundary = _boundary(content_type)
        form = await parse_upload(
            request.stream(), boundary, settings.uploads_dir, settings.max_file_size_mb
        )
        return form.fields, form.file_path
    if content_type.startswith("application/json"):
        return await read_json_object(request, JSON_LIMIT, '{"url": ...}'), None
    raise ClientException(
        "Send JSON like {\"url\": ...} or multipart/form-data with a 'file' (or 'url') field"
    )


def _boundary(content_type: str) -> bytes:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode()
    raise ClientException("multipart/form-data without a boundary")


def _job_request(fields: dict, upload: Any) -> ClipRequest:
    url = fields.get("url")
    url = url.strip() if isinstance(url, str) else url
    if not url and upload is None:
        raise ClientException("Provide either url or file")
    if url and upload is not None:
        raise ClientException("Provide either url or file, not both")
    options = {k: fields[k] for k in OPTION_FIELDS if fields.get(k) not in (None, "")}
    options.update(look_fields(fields))  # captions, hook, effects
    options.setdefault("provider", "gemini")
    try:
        request = ClipRequest(source=str(upload) if upload is not None else str(url), **options)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors()
        )
        raise ClientException(f"Invalid options: {reasons}") from exc
    if upload is None:
        _precheck(url)
    return request


def _precheck(url: Any) -> None:
    """Refuse at once what needs no DNS to refuse (scheme, literal address, allowlist); the
    download itself checks every address it connects to."""
    if not isinstance(url, str):
        raise ClientException("url must be a string")
    try:
        precheck_url(url)
    except ReelflowError as exc:
        raise ClientException(str(exc)) from exc


def _remove_upload_folder(upload: Any) -> None:
    from reelflow.jobs import remove_upload

    remove_upload(str(upload))


@get("/api/status/{job_id:str}", summary="A job's status, progress, logs and clips")
async def status(job_id: FromPath[str], request: Request, state: State) -> dict:
    base = str(request.base_url).rstrip("/")

    def clip_url(job: str, index: int, kind: str) -> str:
        suffix = "" if kind == "video" else "/thumbnail"
        return f"{base}/api/jobs/{job}/clips/{index}{suffix}"

    return await state.jobs.status(job_id, clip_url)


@get("/api/jobs", summary="Jobs, newest first")
async def list_jobs(
    state: State,
    status: FromQuery[JobStatus | None] = None,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    offset: Annotated[int, Parameter(ge=0)] = 0,
) -> dict:
    jobs = await state.jobs.list(status, limit, offset)
    return {"jobs": jobs, "limit": limit, "offset": offset}


@delete("/api/jobs/{job_id:str}", status_code=200, summary="Cancel a job, or delete its files")
async def cancel_job(job_id: FromPath[str], state: State) -> dict:
    return await state.jobs.cancel_or_delete(job_id)


@get("/api/jobs/{job_id:str}/clips/{index:int}", summary="Download or stream a clip")
async def clip_video_file(
    job_id: FromPath[str], index: FromPath[int], request: Request, state: State
) -> Stream:
    return await _clip_file(job_id, index, request, state, "file")


@get("/api/jobs/{job_id:str}/clips/{index:int}/thumbnail", summary="A clip's thumbnail")
async def clip_thumbnail(
    job_id: FromPath[str], index: FromPath[int], request: Request, state: State
) -> Stream:
    return await _clip_file(job_id, index, request, state, "thumbnail")


async def _clip_file(job_id: str, index: int, request: Request, state: State, field: str):
    await state.jobs.read_run(job_id)
    folder = job_dir(job_id)
    clip = next(
        (c for c in (read_manifest(folder) or {}).get("clips", []) if c["index"] == index), None
    )
    if clip is None or not (folder / clip[field]).exists():
        raise NotFoundException(detail=f"Job {job_id} has no clip {index} (or its files expired)")
    return file_response(request, folder / clip[field], clip[field])


@get("/health", summary="API and Prefect reachable")
async def health(state: State) -> Response[dict]:
    problem = await state.prefect.api_healthcheck()
    body = {"api": "ok", "prefect": "ok" if problem is None else "unreachable"}
    return Response(body, status_code=200 if problem is None else 503)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()

    @asynccontextmanager
    async def prefect_client(app: Litestar) -> AsyncIterator[None]:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            app.state.prefect = client
            app.state.jobs = JobService(client)
            yield

    return Litestar(
        route_handlers=[
            process,
            status,
            list_jobs,
            cancel_job,
            clip_video_file,
            clip_thumbnail,
            restyle,
            health,
            _swagger_assets(),
        ],
        lifespan=[prefect_client],
        state=State({"settings": settings}),
        openapi_config=_openapi(),
        on_app_init=[partial(install_auth, settings=settings)],
    )


def _openapi() -> OpenAPIConfig:
    assets = "/static/swagger"
    return OpenAPIConfig(
        title="reelflow",
        version="0.1.0",
        description="Turn long videos into short vertical clips.",
        path="/docs",
        render_plugins=[
            SwaggerRenderPlugin(
                js_url=f"{assets}/swagger-ui-bundle.js",
                css_url=f"{assets}/swagger-ui.css",
                standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js",
                path="/",
            )
        ],
    )


def _swagger_assets():
    """Swagger UI's files from the swagger-ui-bundle wheel: the docs page works offline."""
    from swagger_ui_bundle import swagger_ui_path

    return create_static_files_router(
        path="/static/swagger", directories=[swagger_ui_path], include_in_schema=False
    )


def __getattr__(name: str) -> Any:
    # `uvicorn api.app:app` builds the app on first use, never at import.
    if name == "app":
        return create_app()
    raise AttributeError(name)
