"""Several workers, several machines, shown on one box: one Prefect server on PostgreSQL, two
workers with data dirs of their own (as if on two machines) sharing only that server and S3
(moto on 127.0.0.1), and the API with a third data dir. A batch of jobs spreads across both
workers, every clip lands on S3 from whichever worker rendered it, and the API, which has none
of the files, serves them from S3. A worker killed mid-job (its machine gone) has its job
handed back and finished by the other; no job is lost or made twice."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

from deployments.stack import Stack, free_port
from reelflow.manifest import read_manifest
from tests.helpers.media import SAMPLE, make_media
from tests.helpers.s3_server import PREFIX, make_bucket, moto_server, s3_env
from tests.helpers.servers import needs_postgres, stack_env, static_server

pytestmark = pytest.mark.slow

JOB = {"provider": "local", "clips": 1, "min_seconds": 15, "max_seconds": 20}
WORKERS = ("worker-a", "worker-b")


@pytest.fixture(scope="module")
def home():
    needs_postgres()
    # PostgreSQL runs as the 'postgres' user when the tests run as root: its folder must be
    # reachable by it, which pytest's own temporary folders (mode 0700) are not.
    folder = Path(tempfile.mkdtemp(prefix="reelflow-workers-"))
    folder.chmod(0o711)
    yield folder
    if not os.environ.get("KEEP_TEST_HOME"):
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(home, ffmpeg, monkeypatch_module):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch_module.delenv(name, raising=False)
    media = home / "media"
    media.mkdir()
    for name, start in (("a.mp4", "0"), ("b.mp4", "40"), ("c.mp4", "80")):
        make_media(ffmpeg, media / name, "-ss", start, "-i", str(SAMPLE), "-t", "22",
                   "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")  # fmt: skip
    (media / "long.mp4").symlink_to(SAMPLE)
    bucket = f"rf-{uuid.uuid4().hex[:12]}"
    with moto_server() as endpoint, static_server(media) as files_url:
        s3 = make_bucket(endpoint, bucket)
        env = stack_env(home, 2, REELFLOW_DB="postgres", **s3_env(endpoint, bucket))
        stack = Stack(free_port(), free_port(), env=env, log_dir=home / "logs")
        try:
            stack.start_prefect(180)  # and its PostgreSQL, in <home>/data/postgres
            for name in WORKERS:
                stack.start_worker(name, REELFLOW_DATA_DIR=str(home / name), WORKER_CONCURRENCY="1")
            stack.start_api(REELFLOW_DATA_DIR=str(home / "api"))
            stack.wait_ready(180)
            stack.files_url, stack.s3, stack.bucket, stack.home = files_url, s3, bucket, home
            yield stack
        finally:
            stack.stop()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture
def api(cluster):
    with httpx.Client(base_url=cluster.api_url, timeout=60) as client:
        yield client


def test_the_server_runs_on_postgres(cluster):
    assert cluster.postgres is not None
    assert (cluster.home / "data" / "postgres" / "PG_VERSION").exists()
    assert "sqlite" not in (cluster.home / "logs" / "prefect.log").read_text().lower()


def test_jobs_spread_across_workers_and_are_served_from_s3(api, cluster):
    with (cluster.home / "media" / "a.mp4").open("rb") as fh:
        upload = api.post("/api/process", files={"file": ("a.mp4", fh, "video/mp4")},
                          data={k: str(v) for k, v in JOB.items()}, headers=_key())  # fmt: skip
    ids = [upload.json()["job_id"]]
    for name in ("b.mp4", "c.mp4", "a.mp4"):
        r = api.post("/api/process", json={"url": f"{cluster.files_url}/{name}", **JOB},
                     headers=_key())  # fmt: skip
        ids.append(r.json()["job_id"])
    bodies = [_wait(api, job_id) for job_id in ids]
    assert [b["status"] for b in bodies] == ["completed"] * len(ids), bodies

    ran_on = {job_id: _worker_of(cluster, job_id) for job_id in ids}
    assert set(ran_on.values()) == set(WORKERS), f"the jobs did not spread: {ran_on}"
    for job_id in ids:
        assert not (cluster.home / "api" / "jobs" / job_id).exists()
        keys = _s3_keys(cluster, job_id)
        uploads = read_manifest(cluster.home / ran_on[job_id] / "jobs" / job_id).uploads
        assert {"clip_01.mp4", "clip_01.jpg", "manifest.json"} <= keys, (keys, uploads)
        time.sleep(2.1)  # past the API's short cache of "no manifest on S3 yet"
        body = api.get(f"/api/status/{job_id}").json()
        clip = body["result"]["clips"][0]  # the manifest, read from S3 by the API
        answer = httpx.get(clip["video_url"], timeout=60)
        assert answer.status_code == 307, "the API has no local copy: it points at S3"
        video = httpx.get(clip["video_url"], follow_redirects=True, timeout=60)
        assert video.status_code == 200 and video.content[4:8] == b"ftyp"
        key = f"{PREFIX}/jobs/{job_id}/clip_01.mp4"
        stored = cluster.s3.get_object(Bucket=cluster.bucket, Key=key)["Body"].read()
        assert video.content == stored
        assert len(_runs(cluster, job_id)) == 1, "a job was made twice"


def test_a_killed_workers_job_finishes_on_the_other(api, cluster):
    r = api.post("/api/process", json={"url": f"{cluster.files_url}/long.mp4", **JOB},
                 headers=_key())  # fmt: skip
    job_id = r.json()["job_id"]
    run_id = _wait(api, job_id, ("processing",))["run_id"]
    victim = _wait_for_worker(cluster, job_id)
    cluster.stop_process(victim, sig=9)  # its machine is gone: the worker and its runs
    # The run died with its worker's process group; its ffmpeg, if one was running, did not.
    watch = cluster.watches[victim]
    assert run_id in {run for _, run in watch.seen.values()}, "the worker's run was not seen"
    cluster.kill_flow_runs(run_id)
    assert not watch.alive(run_id), "part of the run outlived its worker"
    body = _wait(api, job_id, timeout=600)
    assert body["status"] == "completed", body
    survivor = next(w for w in WORKERS if w != victim)
    assert read_manifest(cluster.home / survivor / "jobs" / job_id).status == "completed"
    runs = _runs(cluster, job_id)
    assert len(runs) == 1 and runs[0].run_count == 2, "not handed back once, or made twice"
    assert "clip_01.mp4" in _s3_keys(cluster, job_id)


def _key() -> dict[str, str]:
    return {"X-Gemini-Key": "unused-by-local-jobs"}


def _wait(api, job_id: str, statuses=("completed", "failed", "cancelled"), timeout=400) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/api/status/{job_id}").json()
        if body["status"] in statuses:
            return body
        time.sleep(1)
    raise AssertionError(f"job {job_id} still {body['status']} after {timeout} s")


def _worker_of(cluster, job_id: str) -> str:
    """The worker whose data dir holds the job's completed folder (exactly one)."""
    done = [
        name
        for name in WORKERS
        if (m := read_manifest(cluster.home / name / "jobs" / job_id)) and m.status == "completed"
    ]
    assert len(done) == 1, f"job {job_id} completed on {done}"
    return done[0]


def _wait_for_worker(cluster, job_id: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = [n for n in WORKERS if (cluster.home / n / "jobs" / job_id).exists()]
        if found:
            return found[0]
        time.sleep(0.5)
    raise AssertionError(f"no worker started job {job_id}")


def _s3_keys(cluster, job_id: str) -> set[str]:
    prefix = f"{PREFIX}/jobs/{job_id}/"
    deadline = time.monotonic() + 120  # the upload runs on after the job is reported done
    while True:
        listed = cluster.s3.list_objects_v2(Bucket=cluster.bucket, Prefix=prefix)
        keys = {o["Key"].removeprefix(prefix) for o in listed.get("Contents", [])}
        if "manifest.json" in keys or time.monotonic() > deadline:
            return keys
        time.sleep(1)


def _runs(cluster, job_id: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterIdempotencyKey
    from prefect.settings import PREFECT_API_URL, temporary_settings

    key = FlowRunFilter(idempotency_key=FlowRunFilterIdempotencyKey(any_=[job_id]))
    with (
        temporary_settings({PREFECT_API_URL: cluster.prefect_url}),
        get_client(sync_client=True) as client,
    ):
        return client.read_flow_runs(flow_run_filter=key)
