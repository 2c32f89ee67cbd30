"""Posting clips through the API, in this process against a real Prefect server with the
deployments registered and no worker: bad requests, a post scheduled as a Prefect run (its
key in a Secret block, never in the parameters) and cancelled, and posts run here the way the
worker runs them, against the Upload-Post stand-in, told to a signed webhook."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from reelflow.secrets import POST_KEY_BLOCK_PREFIX, load_secret_block
from tests.helpers.api import (
    api_client,
    read_run_parameters,
    register_deployments,
    wait_for_run_id,
)
from tests.helpers.media import make_media
from tests.helpers.upload_post_server import UploadPostStandIn
from tests.helpers.webhook_receiver import WebhookReceiver
from tests.unit.test_webhooks import SECRET, run_next_attempt

UP_KEY = "up-live-key-5c1e"
GEMINI = {"X-Gemini-Key": "AIzaSy-TEST"}


@pytest.fixture(scope="module")
def deployments(prefect_server):
    register_deployments()


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory, ffmpeg):
    out = tmp_path_factory.mktemp("clip") / "clip_01.mp4"
    return make_media(ffmpeg, out, "-f", "lavfi", "-i", "testsrc2=s=108x192:d=1:r=15",
                      "-c:v", "libx264", "-preset", "ultrafast")  # fmt: skip


@pytest.fixture
def env(deployments, data_dir, monkeypatch):
    from reelflow.settings import get_settings

    with UploadPostStandIn(key=UP_KEY) as upload_post:
        for name, value in {"UPLOAD_POST_BASE_URL": upload_post.url, "UPLOAD_POST_USER": "creator",
                            "PUBLISH_RETRY_DELAY_S": "0", "WEBHOOK_SECRET": SECRET,
                            "ALLOWED_URL_HOSTS": "127.0.0.1", "ALLOW_PRIVATE_URLS": "true",
                            }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        with api_client() as client:
            client.upload_post = upload_post
            yield client
    get_settings.cache_clear()


def finished_job(api, clip_file, status="completed", webhook_url=None) -> str:
    """A job as a worker leaves it: a queued run, and a folder with its clip and manifest."""
    from reelflow.files import link_or_copy
    from reelflow.jobs import job_dir
    from reelflow.manifest import ClipEntry, Manifest, write_manifest

    body = {"url": "http://127.0.0.1:9/talk.mp4", "provider": "local"}
    job_id = api.post("/api/process", json=body, headers=GEMINI).json()["job_id"]
    wait_for_run_id(api, job_id)  # a job the API reads back from its run, not its journal
    link_or_copy(clip_file, job_dir(job_id) / "clip_01.mp4")
    clip = ClipEntry(
        index=1, start=10, end=30, duration=20, file="clip_01.mp4", thumbnail="clip_01.jpg",
        title="Why do people quit?", description_tiktok="Week three breaks most plans.",
        hashtags=["#habits"],
    )  # fmt: skip
    request = {"webhook_url": webhook_url} if webhook_url else {}
    write_manifest(job_dir(job_id), Manifest(job_id=job_id, status=status, clips=[clip],
                                             request=request))  # fmt: skip
    return job_id


def publish(api, job_id, body, index=1, key=UP_KEY):
    headers = {"X-Upload-Post-Key": key} if key else {}
    return api.post(f"/api/jobs/{job_id}/clips/{index}/publish", json=body, headers=headers)


def run_post(job_id: str):
    """What the worker does with the post's run: run publish_clip with its parameters."""
    from flows.publish import publish_clip
    from reelflow.jobs import job_dir
    from reelflow.manifest import read_manifest
    from reelflow.posting import PublishRequest

    (post,) = read_manifest(job_dir(job_id)).clip(1).posts
    request = PublishRequest(**read_run_parameters(post.run_id)["request"])
    return publish_clip(request, return_state=True)


def posts_in_status(api, job_id):
    return api.get(f"/api/status/{job_id}").json()["result"]["clips"][0]["posts"]


SOON = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
PAST = (datetime.now(UTC) - timedelta(hours=1)).isoformat()


@pytest.mark.parametrize(
    ("body", "key", "status", "reason"),
    [
        ({}, UP_KEY, 400, "platforms"),
        ({"platforms": ["myspace"]}, UP_KEY, 400, "unknown platform 'myspace'"),
        ({"platforms": ["tiktok"], "at": "2030-01-01T10:00:00"}, UP_KEY, 400, "zone"),
        ({"platforms": ["tiktok"], "at": "tomorrow"}, UP_KEY, 400, "at"),
        ({"platforms": ["tiktok"], "at": PAST}, UP_KEY, 400, "in the past"),
        ({"platforms": ["tiktok"], "when": SOON}, UP_KEY, 400, "Unknown field 'when'"),
        ({"platforms": ["tiktok"], "webhook_url": "ftp://h.example/x"}, UP_KEY, 400, "ftp"),
        ({"platforms": ["tiktok"], "texts": {"youtube": {"title": "x"}}}, UP_KEY, 400, "among"),
        ({"platforms": ["tiktok"]}, None, 400, "Missing X-Upload-Post-Key"),
    ],
    ids=[
        "empty",
        "unknown-platform",
        "naive-time",
        "not-a-time",
        "past",
        "unknown-field",
        "bad-webhook",
        "texts-elsewhere",
        "no-key",
    ],
)
def test_bad_publish_requests_are_400(env, clip_file, body, key, status, reason):
    job_id = finished_job(env, clip_file)
    r = publish(env, job_id, body, key=key)
    assert r.status_code == status and reason in r.json()["detail"], r.text
    assert posts_in_status(env, job_id) == [], "a refused post leaves no record"


def test_publishing_needs_a_finished_clip(env, clip_file):
    import uuid

    job_id = finished_job(env, clip_file, status="processing")
    assert publish(env, job_id, {"platforms": ["tiktok"]}).status_code == 409
    assert publish(env, job_id, {"platforms": ["tiktok"]}, index=2).status_code == 404
    assert publish(env, str(uuid.uuid4()), {"platforms": ["tiktok"]}).status_code == 404
    assert publish(env, "..%2F..%2Fetc", {"platforms": ["tiktok"]}).status_code == 404
    r = env.delete(f"/api/jobs/{job_id}/clips/1/posts/nope")
    assert r.status_code == 404 and "no post nope" in r.json()["detail"]


def test_a_scheduled_post_waits_in_prefect_and_can_be_cancelled(env, clip_file):
    from prefect.client.orchestration import get_client

    at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    with WebhookReceiver(SECRET) as receiver:
        job_id = finished_job(env, clip_file, webhook_url=receiver.url)
        r = publish(env, job_id, {"platforms": ["tiktok", "youtube"], "at": at.isoformat()})
        assert r.status_code == 200, r.text
        post = r.json()["post"]
        assert (post["state"], post["at"], post["profile"]) == (
            "scheduled", at.isoformat(), "creator")  # fmt: skip
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(post["run_id"])
        assert run.state_type.value == "SCHEDULED" and run.expected_start_time == at
        assert run.name.startswith("post clip 1 of ") and run.name.endswith("tiktok, youtube")
        params = run.parameters["request"]
        assert UP_KEY not in json.dumps(run.parameters), "the key never rides in parameters"
        assert params["key_block"].startswith(POST_KEY_BLOCK_PREFIX)
        assert load_secret_block(params["key_block"]) == UP_KEY
        assert posts_in_status(env, job_id)[0]["state"] == "scheduled"

        r = env.delete(f"/api/jobs/{job_id}/clips/1/posts/{post['post_id']}")
        assert r.status_code == 200 and r.json()["post"]["state"] == "cancelled"
        with get_client(sync_client=True) as client:
            assert client.read_flow_run(post["run_id"]).state_type.value == "CANCELLED"
        assert load_secret_block(params["key_block"]) is None, "the key went with the post"
        again = env.delete(f"/api/jobs/{job_id}/clips/1/posts/{post['post_id']}")
        assert again.status_code == 409 and "cancelled" in again.json()["detail"]
        assert posts_in_status(env, job_id)[0]["state"] == "cancelled"
        _, state = run_next_attempt(job_id, set())
        assert state.is_completed()
        (told,) = receiver.received
    assert told.signature_ok and told.event == "cancelled"
    assert told.body["post"]["post_id"] == post["post_id"]
    # A cancelled post's run sends nothing, even if it starts anyway.
    assert run_post(job_id).is_completed() and env.upload_post.uploads == []


def test_a_post_goes_out_and_is_told(env, clip_file):
    with WebhookReceiver(SECRET) as receiver:
        job_id = finished_job(env, clip_file)
        env.upload_post.rate_limit(retry_after="0")
        body = {"platforms": ["tiktok", "instagram"], "webhook_url": receiver.url,
                "texts": {"instagram": {"title": "Made for Instagram"}}}  # fmt: skip
        r = publish(env, job_id, body)
        assert r.status_code == 200, r.text
        key_block = read_run_parameters(r.json()["post"]["run_id"])["request"]["key_block"]
        state = run_post(job_id)
        assert state.is_completed(), state.message
        _, second = env.upload_post.uploads
        assert second.get("tiktok_title") == "Week three breaks most plans. #habits"
        assert second.get("instagram_title") == "Made for Instagram"
        (post,) = posts_in_status(env, job_id)
        assert (post["state"], post["attempts"], post["error"]) == ("posted", 2, None)
        assert post["results"]["tiktok"]["url"] == "https://tiktok.example/p/2"
        assert post["results"]["instagram"]["post_id"] == "instagram-2"
        assert load_secret_block(key_block) is None, "the run's end deleted the key"
        _, told = run_next_attempt(job_id, set())
        assert told.is_completed()
        (got,) = receiver.received
    assert got.signature_ok and got.event == "posted"
    assert got.body["post"]["results"]["tiktok"]["state"] == "posted"
    assert got.body["clip"]["index"] == 1 and got.body["job_id"] == job_id
    deliveries = env.get(f"/api/jobs/{job_id}/webhooks").json()["deliveries"]
    assert [(d["event"], d["state"], len(d["attempts"])) for d in deliveries] == [
        ("posted", "delivered", 1)]  # fmt: skip


@pytest.mark.parametrize(
    ("script", "key", "reason"),
    [
        ("reject_media", UP_KEY, "rejected the post (400): Video aspect ratio not supported"),
        (None, "up-wrong-key", "refused the API key (401)"),
        ("fail_platform", UP_KEY, "instagram: Instagram token expired"),
    ],
    ids=["rejected-media", "bad-key", "one-platform"],
)
def test_a_refused_post_fails_at_once_with_the_reason(env, clip_file, caplog, script, key,
                                                      reason):  # fmt: skip
    caplog.errors_expected = True
    with WebhookReceiver(SECRET) as receiver:
        job_id = finished_job(env, clip_file, webhook_url=receiver.url)  # the job's webhook
        if script == "fail_platform":
            env.upload_post.fail_platform("instagram", "Instagram token expired")
        elif script:
            getattr(env.upload_post, script)()
        assert publish(env, job_id, {"platforms": ["tiktok", "instagram"]}, key=key).is_success
        state = run_post(job_id)
        assert state.is_failed() and reason in state.message
        assert len(env.upload_post.uploads) == 1, "a refusal is not retried"
        (post,) = posts_in_status(env, job_id)
        assert post["state"] == "failed" and reason in post["error"]
        _, told = run_next_attempt(job_id, set())
        (got,) = receiver.received
    assert told.is_completed() and got.event == "failed" and reason in got.body["error"]


def test_a_post_cancelled_in_the_prefect_ui_is_settled_by_the_sweep(env, clip_file):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    from flows.publish_schedule import settle_ended_posts

    with WebhookReceiver(SECRET) as receiver:
        job_id = finished_job(env, clip_file, webhook_url=receiver.url)
        r = publish(env, job_id, {"platforms": ["x"], "at": SOON})
        post = r.json()["post"]
        key_block = read_run_parameters(post["run_id"])["request"]["key_block"]
        with get_client(sync_client=True) as client:  # what the UI's "Cancel" does
            client.set_flow_run_state(post["run_id"], Cancelled(), force=True)
        assert posts_in_status(env, job_id)[0]["state"] == "scheduled", "no hook ran"
        assert asyncio.run(settle_ended_posts(600)) >= 2
        assert posts_in_status(env, job_id)[0]["state"] == "cancelled"
        assert load_secret_block(key_block) is None
        _, told = run_next_attempt(job_id, set())
        (got,) = receiver.received
    assert told.is_completed() and got.event == "cancelled"
    assert got.body["post"]["platforms"] == ["x"]
