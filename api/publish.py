"""Posting clips over HTTP: `POST /api/jobs/{job_id}/clips/{index}/publish` starts a post (now,
or a scheduled run of the publish-clip deployment at `at`), `DELETE .../posts/{post_id}`
cancels a scheduled one, `GET /api/jobs/{job_id}/webhooks` lists the webhook deliveries.

Handlers read the request and call one PublishService method (api/publishing.py).
"""

from __future__ import annotations

from litestar import Request, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from api.body import read_json_object
from api.jobs import api_key
from api.openapi import PublishOperation, errors
from api.schemas import PostOut, WebhookDeliveries

BODY_LIMIT = 64 * 1024


@post(
    "/api/jobs/{job_id:str}/clips/{index:int}/publish",
    status_code=200,
    summary="Post a clip to social platforms, now or at a time",
    responses=errors(400, 404, 409, 413, 503),
    operation_class=PublishOperation,
)
async def publish(
    job_id: FromPath[str], index: FromPath[int], request: Request, state: State
) -> PostOut:
    """JSON body: `platforms` (tiktok, instagram, youtube, facebook, linkedin, x, threads,
    pinterest), `at` (an ISO time with its zone; null: now), `texts` (per platform
    `{"title", "description"}` replacing the clip's own; `"default"` for all), `profile` (the
    Upload-Post profile; default UPLOAD_POST_USER), `webhook_url`, `version` (a later look).
    Header `X-Upload-Post-Key`, unless the server has a key of its own. Answers with the
    post's record, state `scheduled`; /api/status shows it posted or failed later."""
    fields = await read_json_object(request, BODY_LIMIT, '{"platforms": ["tiktok"]}')
    key = api_key(request, "X-Upload-Post-Key")
    return await state.publishing.publish(job_id, index, fields, key)


@delete(
    "/api/jobs/{job_id:str}/clips/{index:int}/posts/{post_id:str}",
    status_code=200,
    summary="Cancel a scheduled post",
    responses=errors(404, 409, 503),
)
async def cancel_post(
    job_id: FromPath[str], index: FromPath[int], post_id: FromPath[str], state: State
) -> PostOut:
    """Cancels the post's scheduled run; 409 once it is being sent or was sent."""
    return await state.publishing.cancel(job_id, index, post_id)


@get(
    "/api/jobs/{job_id:str}/webhooks",
    summary="A job's webhook deliveries and attempts",
    responses=errors(404, 503),
)
async def webhook_deliveries(job_id: FromPath[str], state: State) -> WebhookDeliveries:
    return await state.publishing.webhooks(job_id)
