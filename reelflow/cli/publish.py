"""`reelflow publish <job> <clip> --platforms tiktok,instagram [--at ISO]`: post a clip.

A post is a run of the publish-clip deployment, scheduled for its time, on the service named
by PREFECT_API_URL (`make up` serves it), like `reelflow batch`. The Upload-Post key comes from
UPLOAD_POST_API_KEY here (it goes into a per-post Secret block, never into the run's
parameters), else the worker's own UPLOAD_POST_KEY_BLOCK.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from reelflow.cli.common import fail, json_object

POLL_S = 2
NO_SERVICE = (
    "reelflow publish runs on the service: start it with `make up` and set "
    "PREFECT_API_URL=http://127.0.0.1:4200/api"
)


def add_command(sub) -> None:
    p = sub.add_parser(
        "publish",
        help="post a clip of a finished job to social platforms (now or at a time)",
        description="Starts a run of the publish-clip deployment on the running service; "
        "with --at it waits there, scheduled, until its time (cancel it in the Prefect UI or "
        "with DELETE /api/jobs/<job>/clips/<n>/posts/<post id>).",
    )
    p.add_argument("job", help="the job's id (or its folder)")
    p.add_argument("index", type=int, help="the clip's number")
    p.add_argument("--platforms", required=True,
                   help="comma-separated: tiktok, instagram, youtube, facebook, linkedin, x, "
                   "threads, pinterest")  # fmt: skip
    p.add_argument("--at", help="when, an ISO time with its zone (2026-05-01T18:00:00+02:00)")
    p.add_argument("--texts", type=json_object, metavar="JSON",
                   help='texts replacing the clip\'s own, per platform or "default": '
                   '\'{"tiktok": {"title": "..."}}\'')  # fmt: skip
    p.add_argument("--profile", help="the Upload-Post profile (default UPLOAD_POST_USER)")
    p.add_argument("--version", type=int, help="post a later look of the clip (clip_NN_vK)")
    p.add_argument("--webhook", dest="webhook_url", help="a URL told when it is posted or fails")
    p.add_argument("--wait", action="store_true", help="wait until it is posted or failed")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from prefect.settings import get_current_settings

    from reelflow.errors import ReelflowError

    if not get_current_settings().api.url:
        return fail(NO_SERVICE)
    job = args.job
    if Path(job).expanduser().is_dir():
        job = str(Path(job).expanduser().absolute())
    names = ("platforms", "at", "texts", "profile", "version", "webhook_url")
    fields = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    try:
        record = asyncio.run(_schedule(job, args.index, fields))
    except ReelflowError as exc:
        return fail(str(exc))
    when = record.at or "now"
    where = ", ".join(record.platforms)
    print(f"reelflow: post {record.post_id} of clip {args.index} to {where}: {when} "
          f"(run {record.run_id})", file=sys.stderr)  # fmt: skip
    if not args.wait:
        print(record.post_id)
        return 0
    return _wait(job, args.index, record.post_id)


async def _schedule(job: str, index: int, fields: dict):
    import httpx
    from prefect.client.orchestration import get_client

    from flows.publish_schedule import schedule_post
    from reelflow.errors import Unavailable
    from reelflow.settings import get_settings

    settings = get_settings()
    key = settings.upload_post_api_key.get_secret_value() if settings.upload_post_api_key else None
    try:
        async with get_client() as client:
            return await schedule_post(client, settings, job, index, fields, key)
    except httpx.HTTPError as exc:
        raise Unavailable(f"Cannot reach the Prefect server: {exc}") from exc


def _wait(job: str, index: int, post_id: str) -> int:
    from flows.restyle import job_folder
    from reelflow.manifest import read_manifest

    folder = job_folder(job)
    while True:
        post = read_manifest(folder).clip(index).post(post_id)
        if post is not None and post.state in ("posted", "failed", "cancelled"):
            break
        time.sleep(POLL_S)
    for platform, result in post.results.items():
        print(f"{platform}\t{result.state}\t{result.url or result.post_id or result.error or ''}")
    return 0 if post.state == "posted" else fail(post.error or f"the post was {post.state}")
