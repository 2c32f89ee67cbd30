"""`GET /api/jobs/{job_id}/clips/{index}/captions/{srt|vtt}`: a clip's caption lines as a
subtitle file, for platforms that take one beside the video (captions are also burned in)."""

from __future__ import annotations

from typing import Literal

from litestar import Request, get
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect, Stream

from api.files import serve_clip_file
from api.openapi import CaptionsOperation, errors

CaptionFormat = Literal["srt", "vtt"]


@get(
    "/api/jobs/{job_id:str}/clips/{index:int}/captions/{fmt:str}",
    summary="A clip's captions as an .srt or .vtt file",
    responses=errors(404, 416, 503),
    operation_class=CaptionsOperation,
)
async def clip_captions(
    job_id: FromPath[str], index: FromPath[int], fmt: FromPath[CaptionFormat], request: Request,
    state: State,
) -> Stream | Redirect:  # fmt: skip
    """404 when the clip was rendered without captions (`captions` in the request)."""
    return serve_clip_file(request, await state.jobs.clip_file(job_id, index, fmt))
