"""`POST /api/jobs/{job_id}/clips/{index}/render`: render one clip of a finished job again with
a new look, as a flow run of the restyle_clip deployment: a job of its own, whose id works with
/api/status and /api/jobs/{id}/clips/{index} like any other.
"""

from __future__ import annotations

from litestar import Request, post
from litestar.datastructures import State
from litestar.params import FromPath

from api.body import read_json_object
from api.jobs import gemini_key
from api.openapi import RestyleOperation, errors
from api.schemas import RestyleSubmitted

BODY_LIMIT = 64 * 1024


@post(
    "/api/jobs/{job_id:str}/clips/{index:int}/render",
    status_code=200,
    summary="Render a clip again with new captions, hook title or effects",
    responses=errors(400, 404, 409, 413, 503),
    operation_class=RestyleOperation,
)
async def restyle(
    job_id: FromPath[str], index: FromPath[int], request: Request, state: State
) -> RestyleSubmitted:
    """JSON body with any of `captions` (a preset name or a style), `hook`, `effects`, and
    `reframe`: corrections to the framing, per-scene layouts (`{"layouts": [{"scene": 2,
    "layout": "split"}]}`) or crop keyframes (`{"keyframes": [{"t": 3.5, "x": 820}]}`).
    Header `X-Gemini-Key` is optional (Gemini-planned effects). Answers at once with the new
    job's id; the earlier files of the clip stay."""
    fields = await read_json_object(request, BODY_LIMIT, '{"captions": "bold"}')
    return await state.jobs.restyle(job_id, index, fields, gemini_key(request))
