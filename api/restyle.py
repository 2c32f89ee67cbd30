"""Looks over the API: the `captions`, `hook` and `effects` fields of a submission, and
`POST /api/jobs/{job_id}/clips/{index}/render`, which renders one clip of a finished job again
with a new look as a flow run of the restyle_clip deployment: a job of its own, whose id works
with /api/status and /api/jobs/{id}/clips/{index} like any other.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from litestar import Request, post
from litestar.datastructures import State
from litestar.exceptions import ClientException, HTTPException, NotFoundException
from litestar.params import FromPath
from prefect.client.orchestration import PrefectClient
from prefect.exceptions import ObjectNotFound
from pydantic import ValidationError

from api.body import read_json_object
from deployments.names import RESTYLE_DEPLOYMENT_PATH
from reelflow.jobs import job_dir, read_manifest
from reelflow.secrets import delete_key_block, save_key_block
from reelflow.styles import RestyleRequest

LOOK_FIELDS = ("captions", "hook", "effects")
BODY_LIMIT = 64 * 1024
_deployment_ids: dict[int, uuid.UUID] = {}


def look_fields(fields: dict) -> dict:
    """The look options of a submission. A form sends each as text: JSON (`{"preset":
    "pop"}`, `true`) or a bare preset name (`karaoke`)."""
    out = {}
    for name in LOOK_FIELDS:
        value = fields.get(name)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = value.strip()
        if value not in (None, ""):
            out[name] = value
    return out


async def restyle_deployment_id(client: PrefectClient) -> uuid.UUID | None:
    """The restyle deployment's id, or None while the worker has not registered it."""
    if id(client) not in _deployment_ids:
        try:
            deployment = await client.read_deployment_by_name(RESTYLE_DEPLOYMENT_PATH)
        except ObjectNotFound:
            return None
        _deployment_ids[id(client)] = deployment.id
    return _deployment_ids[id(client)]


@post(
    "/api/jobs/{job_id:str}/clips/{index:int}/render",
    status_code=200,
    summary="Render a clip again with new captions, hook title or effects",
)
async def restyle(
    job_id: FromPath[str], index: FromPath[int], request: Request, state: State
) -> dict[str, Any]:
    """JSON body with any of `captions` (a preset name or a style), `hook`, `effects`. Header
    `X-Gemini-Key` is optional (Gemini-planned effects). Answers at once with the new job's id;
    the earlier files of the clip stay."""
    await state.jobs.read_run(job_id)  # 404 for an unknown job
    manifest = read_manifest(job_dir(job_id)) or {}
    if not any(c.get("index") == index for c in manifest.get("clips", [])):
        raise NotFoundException(detail=f"Job {job_id} has no clip {index} (or its files expired)")
    if manifest.get("status") != "completed":
        raise HTTPException(status_code=409, detail=f"Job {job_id} has not finished yet")
    options = look_fields(await read_json_object(request, BODY_LIMIT, '{"captions": "bold"}'))
    try:
        restyle_request = RestyleRequest(job=job_id, index=index, **options)
    except ValidationError as exc:
        raise ClientException(f"Invalid options: {_reasons(exc)}") from exc
    deployment = await restyle_deployment_id(state.prefect)
    if deployment is None:
        raise HTTPException(status_code=503, detail="The restyle deployment is not registered")
    key = (request.headers.get("x-gemini-key") or "").strip()
    key_block = await save_key_block(key) if key and restyle_request.effects else None
    restyle_request = restyle_request.model_copy(update={"gemini_key_block": key_block})
    try:
        run = await state.prefect.create_flow_run_from_deployment(
            deployment,
            parameters={"request": restyle_request.model_dump(mode="json")},
            tags=["reelflow", "api", "restyle"],
        )
    except BaseException:
        await delete_key_block(key_block)
        raise
    return {"job_id": str(run.id), "status": "queued", "restyle_of": job_id, "index": index}


def _reasons(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
        for e in exc.errors()
    )
