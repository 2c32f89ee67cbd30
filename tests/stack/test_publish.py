"""Publishing and webhooks on the real stack (Prefect server, worker, API on 127.0.0.1), with
the Upload-Post stand-in and a webhook receiver that checks signatures: a job tells its
webhook it completed (after a failed first attempt, retried as a scheduled run), a post
scheduled a few seconds ahead waits in Prefect and goes out at its time through a 429, and
`reelflow publish --wait` posts from the command line."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.helpers.media import talk_with_pause
from tests.helpers.servers import running_stack, stack_env
from tests.helpers.upload_post_server import UploadPostStandIn
from tests.helpers.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.slow

SECRET = "whsec-stack-5b7e"
UP_KEY = "up-stack-key-77c1"
JOB = {"provider": "local", "clips": 1, "min_seconds": 15, "max_seconds": 25}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, ffmpeg):
    home = tmp_path_factory.mktemp("stack")
    video = talk_with_pause(ffmpeg, home / "talk.mp4")
    with UploadPostStandIn(key=UP_KEY) as upload_post, WebhookReceiver(SECRET) as receiver:
        env = stack_env(
            home, 2, UPLOAD_POST_BASE_URL=upload_post.url, UPLOAD_POST_USER="creator",
            WEBHOOK_SECRET=SECRET, WEBHOOK_RETRY_DELAY_S="1", PUBLISH_RETRY_DELAY_S="0.2",
        )  # fmt: skip
        with running_stack(home, env) as running:
            running.upload_post, running.receiver, running.video = upload_post, receiver, video
            yield running


@pytest.fixture(scope="module")
def api(stack):
    with httpx.Client(base_url=stack.api_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def job(api, stack):
    """A finished job whose webhook failed once before it answered."""
    stack.receiver.fail_first = 1
    with stack.video.open("rb") as fh:
        r = api.post("/api/process", files={"file": ("talk.mp4", fh, "video/mp4")},
                     data={**{k: str(v) for k, v in JOB.items()},
                           "webhook_url": stack.receiver.url},
                     headers={"X-Gemini-Key": "unused"})  # fmt: skip
    assert r.status_code == 200, r.text
    job_id = r.json()["job_id"]
    got = stack.receiver.wait_for(2, timeout_s=420)
    assert api.get(f"/api/status/{job_id}").json()["status"] == "completed"
    return job_id, got


def test_a_job_tells_its_webhook_and_retries_on_the_server(api, job):
    job_id, got = job
    assert [(r.event, r.answered) for r in got[:2]] == [("completed", 500), ("completed", 200)]
    assert all(r.signature_ok for r in got)
    body = got[1].body
    assert body["job_id"] == job_id and body["status"] == "completed"
    assert body["result"]["clips"][0]["index"] == 1
    assert got[0].raw == got[1].raw, "every attempt sends the same body"
    deliveries = api.get(f"/api/jobs/{job_id}/webhooks").json()["deliveries"]
    assert [len(d["attempts"]) for d in deliveries] == [2]
    assert deliveries[0]["state"] == "delivered"


def test_a_scheduled_post_goes_out_at_its_time(api, stack, job):
    job_id, _ = job
    before = len(stack.receiver.received)
    stack.upload_post.rate_limit(retry_after="1")
    at = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)
    r = api.post(f"/api/jobs/{job_id}/clips/1/publish",
                 json={"platforms": ["tiktok", "youtube"], "at": at.isoformat()},
                 headers={"X-Upload-Post-Key": UP_KEY})  # fmt: skip
    assert r.status_code == 200, r.text
    post_id = r.json()["post"]["post_id"]
    assert _post(api, job_id, post_id)["state"] == "scheduled"
    (told,) = stack.receiver.wait_for(before + 1, timeout_s=180)[before:]
    sent_at = datetime.now(UTC)
    assert told.signature_ok and told.event == "posted", told.body
    assert sent_at >= at, "not before its time"
    post = _post(api, job_id, post_id)
    assert post["state"] == "posted" and post["attempts"] == 2, post
    assert post["results"]["youtube"]["url"].startswith("https://youtube.example/p/")
    clip = api.get(f"/api/jobs/{job_id}/clips/1").content
    sent = stack.upload_post.uploads[-1]
    assert sent.video_sha256 == hashlib.sha256(clip).hexdigest(), "the clip itself went up"
    assert sent.get("user") == "creator" and sent.all("platform[]") == ["tiktok", "youtube"]


def test_reelflow_publish_posts_from_the_command_line(stack, job):
    job_id, _ = job
    env = {
        **os.environ, "PREFECT_API_URL": stack.prefect_url, "UPLOAD_POST_API_KEY": UP_KEY,
        "REELFLOW_DATA_DIR": str(stack.home / "data"), "UPLOAD_POST_USER": "creator",
    }  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "reelflow.cli", "publish", job_id, "1", "--platforms",
         "instagram", "--texts", '{"instagram": {"title": "From the CLI"}}', "--wait"],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("instagram\tposted\thttps://instagram.example/p/")
    assert stack.upload_post.uploads[-1].get("instagram_title") == "From the CLI"
    assert UP_KEY not in done.stderr + done.stdout
    print(f"CLI post took {time.monotonic() - started:.1f} s")


def _post(api, job_id: str, post_id: str) -> dict:
    clips = api.get(f"/api/status/{job_id}").json()["result"]["clips"]
    return next(p for p in clips[0]["posts"] if p["post_id"] == post_id)
