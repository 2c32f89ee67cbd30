"""S3_PREFECT_RESULTS against the real stack: the worker saves the `reelflow-results` S3Bucket
block (without keys) and its flow runs keep their task results and cache records in the bucket
(moto on 127.0.0.1), so workers on other machines could share them."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from tests.helpers.s3_server import ACCESS_KEY, PREFIX, SECRET_KEY, make_bucket, moto_server, s3_env
from tests.helpers.servers import running_stack, stack_env

pytestmark = pytest.mark.slow


def test_task_results_go_to_the_bucket_and_the_block_holds_no_keys(
    tmp_path, short_video, monkeypatch
):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)  # only the fake keys below, nothing of this host
    bucket = f"rf-{uuid.uuid4().hex[:12]}"
    with moto_server() as endpoint:
        client = make_bucket(endpoint, bucket)
        env = stack_env(tmp_path, 1, **s3_env(endpoint, bucket, S3_PREFECT_RESULTS="true"))
        with running_stack(tmp_path, env, timeout_s=120) as stack:
            with httpx.Client(base_url=stack.api_url, timeout=60) as api:
                _run_job(api, short_video)
            results = client.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/prefect-results/")
            keys = [o["Key"] for o in results.get("Contents", [])]
            assert any("reelflow-transcribe-" in k for k in keys), keys
            document = _read_block(stack.prefect_url)

    credentials = document["credentials"]
    assert document["bucket_name"] == bucket
    assert document["bucket_folder"] == f"{PREFIX}/prefect-results"
    assert credentials["aws_client_parameters"]["endpoint_url"] == endpoint
    assert credentials["aws_access_key_id"] is None
    assert credentials.get("aws_secret_access_key") is None
    assert ACCESS_KEY not in json.dumps(document) and SECRET_KEY not in json.dumps(document)

    logs = {p.name: p.read_text(errors="replace") for p in (tmp_path / "logs").glob("*.log")}
    assert f"Prefect results go to s3://{bucket}/{PREFIX}/prefect-results" in logs["worker.log"]
    for text in logs.values():
        assert ACCESS_KEY not in text and SECRET_KEY not in text


def _run_job(api: httpx.Client, video) -> None:
    form = {"provider": "local", "clips": "1", "min_seconds": "15", "max_seconds": "20"}
    with video.open("rb") as fh:
        answer = api.post("/api/process", files={"file": ("talk.mp4", fh, "video/mp4")},
                          data=form, headers={"X-Gemini-Key": "unused"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    job_id = answer.json()["job_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = api.get(f"/api/status/{job_id}").json()
        if body["status"] in {"completed", "failed", "cancelled"}:
            break
        time.sleep(1)
    assert body["status"] == "completed", body


def _read_block(prefect_url: str) -> dict:
    """The saved block as the server holds it, secrets included (none should be there)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        temporary_settings({PREFECT_API_URL: prefect_url}),
        get_client(sync_client=True) as prefect,
    ):
        document = prefect.read_block_document_by_name(
            "reelflow-results", block_type_slug="s3-bucket", include_secrets=True
        )
    return document.data


def test_results_setting_without_a_bucket_is_said_not_ignored(caplog):
    from reelflow.result_storage import ensure_result_storage
    from reelflow.settings import Settings

    settings = Settings(s3_prefect_results=True, s3_bucket=None)
    assert ensure_result_storage(settings) is None
    assert "S3_BUCKET is not" in caplog.text
