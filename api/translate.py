"""Clips in other languages over HTTP: translate or dub a finished job's clip, and download any
version of a clip (a new look, a translation, a dub).

    POST /api/jobs/{job_id}/clips/{index}/translate   {"languages": ["es", "de"], "dub": false}
    GET  /api/jobs/{job_id}/clips/{index}/versions/{version}   (and .../thumbnail)

A translation is a run of the translate_clip deployment: a job of its own whose id works with
/api/status; the original job lists each new file under the clip's `versions`. Keys come in
headers (`X-Gemini-Key` for translation, `X-ElevenLabs-Key` for dubbing), are kept in per-run
Prefect Secret blocks and deleted when the run ends; they are never stored in the run.
"""

from __future__ import annotations

from typing import Literal

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect, Stream
from pydantic import BaseModel, Field, ValidationError

from api.body import read_json_object
from api.files import serve_clip_file
from api.jobs import api_key
from api.openapi import FileOperation, TranslateOperation, binary, errors
from api.service import JobService
from flows.names import TRANSLATE_DEPLOYMENT_PATH
from reelflow.errors import Conflict, InvalidRequest, NotFound, describe_invalid
from reelflow.jobs import is_expired, job_dir
from reelflow.languages import name_of
from reelflow.manifest import read_manifest
from reelflow.secrets import ELEVENLABS_BLOCK_PREFIX, delete_key_block, save_key_block
from reelflow.translate_request import TranslateRequest

BODY_LIMIT = 16 * 1024
FIELDS = ("languages", "provider", "dub")


class TranslateSubmitted(BaseModel):
    job_id: str = Field(description="The translation's own job id: use it with /api/status.")
    status: str = "queued"
    translate_of: str = Field(description="The job whose clip is translated.")
    index: int
    languages: list[str]
    kind: Literal["translation", "dub"]


@post(
    "/api/jobs/{job_id:str}/clips/{index:int}/translate",
    status_code=200,
    summary="Make a clip in other languages: translated captions and texts, or dubbed",
    responses=errors(400, 404, 409, 413, 503),
    operation_class=TranslateOperation,
)
async def translate(
    job_id: FromPath[str], index: FromPath[int], request: Request, state: State
) -> TranslateSubmitted:
    """JSON `{"languages": ["es", "de"]}` (codes such as es, de, fr, pt, ja), optional
    `provider` (`gemini`, the default, or `offline`) and `dub` (true: the voice dubbed by
    ElevenLabs, captions from the dub). Headers: `X-Gemini-Key` to translate, `X-ElevenLabs-Key`
    to dub. 404 for an unknown job or clip, 409 while the job runs, 400 for bad options or a
    missing key. Answers at once with the new job's id."""
    fields = await read_json_object(request, BODY_LIMIT, '{"languages": ["es"]}')
    keys = (api_key(request, "X-Gemini-Key"), api_key(request, "X-ElevenLabs-Key"))
    return await submit_translation(state.jobs, job_id, index, fields, *keys)


@get(
    "/api/jobs/{job_id:str}/clips/{index:int}/versions/{version:int}",
    summary="A clip version",
    responses={**binary("video/mp4", "The version (MP4)"), **errors(404, 416, 503)},
    operation_class=FileOperation,
)
async def clip_version_file(
    job_id: FromPath[str], index: FromPath[int], version: FromPath[int], request: Request,
    state: State,
) -> Stream | Redirect:  # fmt: skip
    """Version K of clip n (see the clip's `versions` in /api/status): a look, a translation
    or a dub."""
    return serve_clip_file(request, await state.jobs.clip_file(job_id, index, "video", version))


@get(
    "/api/jobs/{job_id:str}/clips/{index:int}/versions/{version:int}/thumbnail",
    summary="A clip version's thumbnail",
    responses={**binary("image/jpeg", "The thumbnail (JPEG)"), **errors(404, 416, 503)},
    operation_class=FileOperation,
)
async def clip_version_thumbnail(
    job_id: FromPath[str], index: FromPath[int], version: FromPath[int], request: Request,
    state: State,
) -> Stream | Redirect:  # fmt: skip
    clip = await state.jobs.clip_file(job_id, index, "thumbnail", version)
    return serve_clip_file(request, clip)


async def submit_translation(
    jobs: JobService, job_id: str, index: int, fields: dict, gemini_key: str, elevenlabs_key: str
) -> TranslateSubmitted:
    """Check the job and the options, keep the keys in Secret blocks, start the run."""
    await jobs.find(job_id)
    folder = job_dir(job_id)
    manifest = read_manifest(folder)
    if manifest is None or manifest.clip(index) is None or is_expired(folder):
        raise NotFound(f"Job {job_id} has no clip {index} (or its files expired)")
    if manifest.status != "completed":
        raise Conflict(f"Job {job_id} has not finished yet")
    request = translate_request(job_id, index, fields)
    _check(request, manifest.language.code if manifest.language else None, gemini_key,
           elevenlabs_key)  # fmt: skip
    await jobs.deployment_id(TRANSLATE_DEPLOYMENT_PATH)
    gemini_block = await save_key_block(gemini_key) if gemini_key else None
    eleven_block = (
        await save_key_block(elevenlabs_key, ELEVENLABS_BLOCK_PREFIX) if request.dub else None
    )
    request = request.model_copy(
        update={"gemini_key_block": gemini_block, "elevenlabs_key_block": eleven_block}
    )
    try:
        run_id = await jobs.create_run(TRANSLATE_DEPLOYMENT_PATH, request, "translate")
    except BaseException:
        await delete_key_block(gemini_block)
        await delete_key_block(eleven_block)
        raise
    return TranslateSubmitted(job_id=run_id, translate_of=job_id, index=index,
                              languages=request.languages,
                              kind="dub" if request.dub else "translation")  # fmt: skip


def translate_request(job_id: str, index: int, fields: dict) -> TranslateRequest:
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise InvalidRequest(f"Unknown field(s) {', '.join(unknown)}: use {', '.join(FIELDS)}")
    try:
        return TranslateRequest(job=job_id, index=index, **fields)
    except ValidationError as exc:
        raise InvalidRequest(f"Invalid options: {describe_invalid(exc.errors())}") from exc


def _check(request: TranslateRequest, spoken: str | None, gemini_key: str,
           elevenlabs_key: str) -> None:  # fmt: skip
    if spoken and spoken in request.languages:
        raise InvalidRequest(f"The clip is already in {name_of(spoken)} ({spoken})")
    if request.dub:
        if not elevenlabs_key:
            raise InvalidRequest("Missing X-ElevenLabs-Key header: dubbing needs an ElevenLabs key")
        return
    if request.provider == "offline":
        from tasks.translate.offline import NOT_AVAILABLE

        raise InvalidRequest(NOT_AVAILABLE)
    if not gemini_key:
        raise InvalidRequest("Missing X-Gemini-Key header: translation asks Gemini")
