"""End to end with S3: a real clip_video run on a short cut of the sample, with S3 down while
it finishes. The job must be completed before its uploads even start, the uploads' failure is
recorded (the manifest's upload record, the upload run's state, its artifact), and once S3 is
back the retention sweep's retry puts every file in place, reachable by a presigned link."""

from __future__ import annotations

import json
import threading
import uuid

import httpx
import pytest

from tests.helpers.s3_server import (
    ACCESS_KEY,
    PREFIX,
    SECRET_KEY,
    local_job,
    make_bucket,
    moto_server,
    sha256,
    stored_job,
    use_s3,
)
from tests.helpers.servers import free_port

pytestmark = pytest.mark.slow


def test_job_completes_while_s3_is_down_and_uploads_heal_later(
    prefect_server, data_dir, short_video, monkeypatch, caplog
):
    from prefect import get_client

    from api.service import s3_links
    from flows.clip import clip_video
    from reelflow.jobs import ClipRequest
    from reelflow.manifest import read_manifest
    from reelflow.settings import get_settings
    from reelflow.storage import S3Storage
    from tasks.upload import read_uploads, retry_failed_uploads, wait_for_uploads

    caplog.errors_expected = True  # Prefect logs the failed upload task runs at ERROR
    port, bucket = free_port(), f"rf-{uuid.uuid4().hex[:12]}"
    endpoint = f"http://127.0.0.1:{port}"
    use_s3(monkeypatch, endpoint, bucket)

    # Hold every upload until the job's state has been checked: the job must not wait for them.
    gate, put = threading.Event(), S3Storage.put_file

    def gated_put(self, path, key):
        assert gate.wait(120), "the test never opened the gate"
        return put(self, path, key)

    monkeypatch.setattr(S3Storage, "put_file", gated_put)
    request = ClipRequest(source=str(short_video), clips=1, min_seconds=15, max_seconds=20)
    state = clip_video(request, return_state=True)
    job_id = str(state.state_details.flow_run_id)
    folder = data_dir / "jobs" / job_id
    try:
        assert state.is_completed(), state.message
        with get_client(sync_client=True) as client:
            assert client.read_flow_run(state.state_details.flow_run_id).state.is_completed()
        assert read_uploads(folder).status in {"pending", "uploading"}
        assert json.loads((folder / "manifest.json").read_text())["status"] == "completed"
    finally:
        gate.set()
    assert wait_for_uploads(180), "uploads still running"

    record = read_uploads(folder)
    names = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
    assert record.status == "failed" and set(record.files) == names
    assert {"clip_01.mp4", "clip_01.jpg", "manifest.json", "transcript.json", "clips.csv"} <= names
    assert all(not e.uploaded and e.error for e in record.files.values())
    upload_run, artifact = _upload_run_and_artifact(job_id)
    assert upload_run.state.is_failed() and "not uploaded" in upload_run.state.message
    assert "clip_01.mp4" in artifact.data and "could not be reached" in artifact.data

    with moto_server(port):
        client = make_bucket(endpoint, bucket)
        assert retry_failed_uploads() == 1  # what the retention sweep does every few minutes
        assert wait_for_uploads(180)
        record = read_uploads(folder)
        assert record.status == "uploaded", record
        prefix = f"{PREFIX}/jobs/{job_id}/"
        assert stored_job(client, bucket, prefix) == local_job(folder, prefix)

        # Checked before the test fetches a presigned link (with the key id in it) itself.
        for text in (caplog.text, *(p.read_text() for p in folder.glob("*.json"))):
            assert SECRET_KEY not in text and ACCESS_KEY not in text

        links = s3_links(read_manifest(folder).clips[0], record, get_settings())
        answer = httpx.get(links["s3_url"], timeout=30)
        assert answer.status_code == 200
        assert sha256(answer.content) == sha256(folder / "clip_01.mp4")


def _upload_run_and_artifact(job_id: str):
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterName,
    )

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"upload {job_id}"]))
        )
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"uploads-{job_id}"[:64]]))
        )
    assert len(runs) == 1 and artifacts
    return runs[0], artifacts[0]
