"""Webhooks: the signature a receiver checks, one attempt through the URL guard to a real
receiver on 127.0.0.1, and durable delivery (each attempt a run of the deliver-webhook
deployment on a real Prefect server, a failed one scheduling the next)."""

from __future__ import annotations

import json
import time

import pytest

from reelflow.errors import InvalidRequest
from reelflow.webhooks import (
    attempt_delivery,
    check_webhook_url,
    encode,
    read_deliveries,
    sign,
    verify_signature,
)
from tests.helpers.webhook_receiver import WebhookReceiver

SECRET = "whsec-test-0123456789"
BODY = {"event": "completed", "job_id": "j1", "status": "completed", "result": {"clips": []}}


@pytest.fixture
def hooks_env(monkeypatch, data_dir):
    """Webhooks signed with SECRET, receivers on 127.0.0.1 allowed, retries quick."""
    from reelflow.settings import get_settings

    for name, value in {"WEBHOOK_SECRET": SECRET, "ALLOWED_URL_HOSTS": "127.0.0.1",
                        "ALLOW_PRIVATE_URLS": "true", "WEBHOOK_RETRY_DELAY_S": "1",
                        "WEBHOOK_TIMEOUT_S": "5"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_a_signature_verifies_and_tampering_does_not():
    body, now = encode(BODY), int(time.time())
    signature = sign(SECRET, now, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify_signature(SECRET, str(now), signature, body)
    assert not verify_signature(SECRET, str(now), signature, body.replace(b"j1", b"j2"))
    assert not verify_signature("another-secret", str(now), signature, body)
    assert not verify_signature(SECRET, str(now + 1), signature, body), "timestamp is signed"
    old = now - 3600
    assert not verify_signature(SECRET, str(old), sign(SECRET, old, body), body), "replayed"
    assert not verify_signature(SECRET, "yesterday", signature, body)


def test_one_attempt_is_signed_and_received(hooks_env):
    with WebhookReceiver(SECRET) as receiver:
        attempt = attempt_delivery(receiver.url, BODY, "completed", "d-1", 1, hooks_env)
        (got,) = receiver.received
    assert attempt.ok and attempt.status_code == 200 and attempt.number == 1
    assert got.signature_ok and got.body == BODY and got.raw == encode(BODY)
    assert got.headers["X-Reelflow-Event"] == "completed"
    assert got.headers["X-Reelflow-Delivery"] == "d-1"
    assert got.headers["Host"] == receiver.url.split("/")[2]


def test_a_failing_receiver_and_a_redirect_are_failures(hooks_env):
    with WebhookReceiver(SECRET, fail_first=2, status_when_failing=302) as receiver:
        attempt = attempt_delivery(receiver.url, BODY, "completed", "d-1", 1, hooks_env)
        assert not attempt.ok and attempt.status_code == 302 and not attempt.permanent
        assert "redirects are not followed" in attempt.error
    from deployments.stack import free_port

    dead = f"http://127.0.0.1:{free_port()}/hook"
    attempt = attempt_delivery(dead, BODY, "completed", "d-2", 1, hooks_env)
    assert not attempt.ok and "did not answer" in attempt.error and not attempt.permanent


def test_the_url_guard_holds_at_submission_and_at_delivery(hooks_env, monkeypatch):
    from reelflow.settings import Settings

    # No private addresses allowed (the environment's test settings overridden).
    closed = Settings(WEBHOOK_SECRET=SECRET, ALLOWED_URL_HOSTS="", ALLOW_PRIVATE_URLS=False)
    for url, reason in [("ftp://example.org/hook", "ftp"), ("http://127.0.0.1:9/h", "loopback"),
                        ("http://169.254.169.254/latest", "metadata"),
                        ("http://user:pw@example.org/h", "password")]:  # fmt: skip
        with pytest.raises(InvalidRequest, match=reason):
            check_webhook_url(url, closed)
    with pytest.raises(InvalidRequest, match="WEBHOOK_SECRET"):
        check_webhook_url("https://example.org/hook", Settings(WEBHOOK_SECRET=""))
    assert check_webhook_url(" https://example.org/hook ", closed) == "https://example.org/hook"

    # A public-looking name that resolves to loopback is refused before anything is sent.
    import reelflow.netguard as netguard

    monkeypatch.setattr(netguard, "resolve_addresses", lambda host, port: ["127.0.0.1"])
    with WebhookReceiver(SECRET) as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        url = f"http://hooks.example.org:{port}/h"
        attempt = attempt_delivery(url, BODY, "completed", "d-3", 1, closed)
        assert not attempt.ok and attempt.permanent and "loopback" in attempt.error
        assert receiver.received == []
        # Named and allowed: it goes to exactly the address that was checked, Host intact.
        opened = Settings(WEBHOOK_SECRET=SECRET, ALLOWED_URL_HOSTS="hooks.example.org",
                          ALLOW_PRIVATE_URLS=True)  # fmt: skip
        attempt = attempt_delivery(url, BODY, "completed", "d-4", 1, opened)
        assert attempt.ok, attempt.error
        assert receiver.received[0].headers["Host"] == f"hooks.example.org:{port}"


# -- durable delivery on a real Prefect server ----------------------------------------------


@pytest.fixture(scope="module")
def deployments(prefect_server):
    from tests.helpers.api import register_deployments

    register_deployments()


def delivery_runs(job_id: str) -> list:
    """The deliver-webhook runs of a job, oldest first."""
    from prefect.client.orchestration import get_client

    from flows.names import WEBHOOK_DEPLOYMENT_PATH

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(WEBHOOK_DEPLOYMENT_PATH)
        runs = client.read_flow_runs(limit=200)
    mine = [r for r in runs if r.deployment_id == deployment.id
            and r.parameters["job"]["job_id"] == job_id]  # fmt: skip
    return sorted(mine, key=lambda r: r.created)


def run_next_attempt(job_id: str, done: set):
    """Do what the worker does for the job's next delivery run: run it (in this process)."""
    from flows.webhooks import WebhookJob, deliver_webhook

    run = next(r for r in delivery_runs(job_id) if r.id not in done)
    done.add(run.id)
    return run, deliver_webhook(WebhookJob(**run.parameters["job"]), return_state=True)


def test_a_failing_receiver_gets_attempts_until_it_answers(hooks_env, deployments, caplog):
    from flows.webhooks import enqueue

    caplog.errors_expected = True  # the failed attempts end their runs Failed
    folder, job_id, done = hooks_env.jobs_dir / "job-retry", "job-retry", set()
    with WebhookReceiver(SECRET, fail_first=2) as receiver:
        assert enqueue(job_id, folder, "completed", receiver.url, BODY)
        assert not enqueue(job_id, folder, "completed", receiver.url, BODY), "told once"
        _, state = run_next_attempt(job_id, done)
        assert state.is_failed() and "answered 500" in state.message
        second, state = run_next_attempt(job_id, done)
        # Both server times: how busy this machine is changes neither.
        waited = (second.expected_start_time - second.created).total_seconds()
        assert 0.3 < waited < 1.3, "scheduled one backoff step (1 s, jittered) ahead"
        assert second.name.endswith("#2") and state.is_failed()
        _, state = run_next_attempt(job_id, done)
        assert state.is_completed()
        got = receiver.received
    assert [r.answered for r in got] == [500, 500, 200]
    assert all(r.signature_ok for r in got)
    assert len({r.headers["X-Reelflow-Delivery"] for r in got}) == 1
    assert got[0].body == {**BODY, "delivery_id": got[0].headers["X-Reelflow-Delivery"]}
    (record,) = read_deliveries(folder)
    assert record.state == "delivered" and [a.ok for a in record.attempts] == [False, False, True]
    assert record.attempts[0].status_code == 500 and record.next_attempt_at is None


def test_delivery_gives_up_after_the_retry_window(hooks_env, deployments, monkeypatch, caplog):
    from flows.webhooks import enqueue
    from reelflow.settings import get_settings

    caplog.errors_expected = True
    monkeypatch.setenv("WEBHOOK_RETRY_HOURS", str(0.5 / 3600))  # half a second
    get_settings.cache_clear()
    folder, job_id, done = get_settings().jobs_dir / "job-giveup", "job-giveup", set()
    with WebhookReceiver(SECRET, fail_first=99) as receiver:
        enqueue(job_id, folder, "failed", receiver.url, {**BODY, "event": "failed"})
        _, state = run_next_attempt(job_id, done)
    assert state.is_failed() and "Gave up" in state.message
    assert len(delivery_runs(job_id)) == 1, "no further attempt was scheduled"
    (record,) = read_deliveries(folder)
    assert record.state == "failed" and len(record.attempts) == 1


def test_a_failed_job_tells_its_webhook(hooks_env, deployments, caplog, tmp_path):
    """The clip flow's end hook records the change and starts a delivery run."""
    from flows.clip import clip_video
    from reelflow.jobs import ClipRequest, job_dir

    caplog.errors_expected = True
    with WebhookReceiver(SECRET) as receiver:
        request = ClipRequest(source=str(tmp_path / "missing.mp4"), webhook_url=receiver.url)
        state = clip_video(request, return_state=True)
        job_id = str(state.state_details.flow_run_id)
        assert state.is_failed()
        runs = delivery_runs(job_id)
        assert len(runs) == 1 and runs[0].parameters["job"]["event"] == "failed"
        _, delivered = run_next_attempt(job_id, set())
        assert delivered.is_completed()
        (got,) = receiver.received
    assert got.signature_ok and got.event == "failed"
    assert got.body["status"] == "failed" and "missing.mp4" in got.body["error"]
    assert read_deliveries(job_dir(job_id))[0].state == "delivered"
    assert json.dumps(runs[0].parameters).count(SECRET) == 0


def test_a_job_cancelled_while_queued_is_told_by_the_sweep(hooks_env, deployments):
    """No process ever runs a job cancelled in the queue, so no hook tells it: the sweep's
    pass over recent job ends does, once."""
    import asyncio

    from flows.webhooks import tell_missed_job_ends
    from tests.helpers.api import api_client, read_run_parameters, wait_for_run_id

    body = {"url": "http://127.0.0.1:9/talk.mp4", "provider": "local"}
    with WebhookReceiver(SECRET) as receiver, api_client() as api:
        headers = {"X-Gemini-Key": "AIzaSy-TEST"}
        bad = api.post("/api/process", json={**body, "webhook_url": "file:///etc/passwd"},
                       headers=headers)  # fmt: skip
        assert bad.status_code == 400 and "webhook_url" in bad.json()["detail"]
        r = api.post("/api/process", json={**body, "webhook_url": receiver.url}, headers=headers)
        job_id = r.json()["job_id"]
        run_id = wait_for_run_id(api, job_id)
        assert read_run_parameters(run_id)["request"]["webhook_url"] == receiver.url
        assert api.delete(f"/api/jobs/{job_id}").json()["status"] == "cancelled"
        assert asyncio.run(tell_missed_job_ends(600)) >= 1
        assert asyncio.run(tell_missed_job_ends(600)) == 0, "each end is told once"
        _, state = run_next_attempt(job_id, set())
        (got,) = receiver.received
    assert state.is_completed() and got.signature_ok
    assert (got.event, got.body["status"], got.body["job_id"]) == ("cancelled", "cancelled", job_id)


def test_a_job_cancelled_before_its_run_exists_is_told_at_once(hooks_env, deployments):
    """Without the clip deployment the job stays in the API's journal; cancelling it there
    tells its webhook straight away (no run, so neither a hook nor the sweep would)."""
    from tests.helpers.api import api_client, register_deployments, remove_deployment

    remove_deployment()
    try:
        with WebhookReceiver(SECRET) as receiver, api_client() as api:
            body = {"url": "http://127.0.0.1:9/talk.mp4", "provider": "local",
                    "webhook_url": receiver.url}  # fmt: skip
            job_id = api.post("/api/process", json=body,
                              headers={"X-Gemini-Key": "AIzaSy-TEST"}).json()["job_id"]  # fmt: skip
            assert api.get(f"/api/status/{job_id}").json()["run_id"] in (None, "")
            assert api.delete(f"/api/jobs/{job_id}").json()["status"] == "cancelled"
            _, state = run_next_attempt(job_id, set())
            (got,) = receiver.received
    finally:
        register_deployments()
    assert state.is_completed() and got.signature_ok
    assert (got.event, got.body["job_id"]) == ("cancelled", job_id)


def test_the_readme_snippet_verifies_a_real_delivery(hooks_env):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    snippet = readme.split("Verify in a few lines:\n\n```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(snippet, namespace)
    verify = namespace["verify"]
    with WebhookReceiver(SECRET) as receiver:
        assert attempt_delivery(receiver.url, BODY, "completed", "d-9", 1, hooks_env).ok
        (got,) = receiver.received
    assert verify(SECRET, got.headers, got.raw)
    assert not verify(SECRET, got.headers, got.raw + b" ")
    assert not verify("not-the-secret", got.headers, got.raw)
