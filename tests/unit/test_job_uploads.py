"""Which upload a job may delete: only the one it recorded. A URL whose path walks into
uploads/ (`http://h/../../data/uploads/<id>/x`) once made DELETE and the retention sweep delete
another job's upload. In this process (the API through Litestar's test client, the sweep as a
flow) against the session's real Prefect server; no worker, so runs are ended by hand."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from tests.helpers.api import (
    loopback_api,
    read_run_parameters,
    register_deployments,
    wait_for_run_id,
)

KEY = "AIzaSy-TEST-KEY-uploads"


@pytest.fixture(scope="module")
def deployments(prefect_server):
    register_deployments()


@pytest.fixture
def api(deployments, data_dir, monkeypatch):
    with loopback_api(monkeypatch) as client:
        yield client


def upload(api, name: str = "talk.mp4") -> tuple[str, Path]:
    """A queued job that uploaded a file: (job id, the uploaded file)."""
    r = api.post("/api/process", files={"file": (name, b"\0" * 2000, "video/mp4")},
                 data={"provider": "local"}, headers={"X-Gemini-Key": KEY})  # fmt: skip
    assert r.status_code == 200, r.text
    job_id = r.json()["job_id"]
    run_id = wait_for_run_id(api, job_id)
    return job_id, Path(read_run_parameters(run_id)["request"]["source"])


def traversal_url(target: Path) -> str:
    """A URL whose text, read as a path from the working directory, names `target`."""
    ups = "/.." * (len(Path.cwd().parts) + 3)
    return f"http://127.0.0.1:9{ups}{target}"


def url_job(api, url: str) -> str:
    r = api.post("/api/process", json={"url": url, "provider": "local"},
                 headers={"X-Gemini-Key": KEY})  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()["job_id"]


def end_run(api, job_id: str, state: str = "COMPLETED") -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled, Completed, Crashed

    make = {"COMPLETED": Completed, "CANCELLED": Cancelled, "CRASHED": Crashed}[state]
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(wait_for_run_id(api, job_id), make(), force=True)


def job_folder(job_id: str) -> Path:
    """What the flow would have written: a job folder with a file in it."""
    from reelflow.jobs import job_dir

    folder = job_dir(job_id)
    folder.mkdir(parents=True)
    (folder / "clip_01.mp4").write_bytes(b"\0" * 10)
    return folder


def test_the_api_records_the_upload_and_only_for_uploads(api):
    job_id, video = upload(api)
    request = read_run_parameters(wait_for_run_id(api, job_id))["request"]
    assert request["upload"] == video.parent.name and len(request["upload"]) == 32
    url_request = read_run_parameters(
        wait_for_run_id(api, url_job(api, "http://127.0.0.1:9/v.mp4"))
    )["request"]
    assert url_request["upload"] is None
    r = api.post("/api/process", json={"url": "http://127.0.0.1:9/v.mp4", "upload": "0" * 32},
                 headers={"X-Gemini-Key": KEY})  # fmt: skip
    run_id = wait_for_run_id(api, r.json()["job_id"])
    assert read_run_parameters(run_id)["request"]["upload"] is None, "a client set it"


def test_delete_of_a_url_job_leaves_other_uploads_alone(api):
    victim, video = upload(api)
    attacker = url_job(api, traversal_url(video))
    end_run(api, attacker)
    r = api.delete(f"/api/jobs/{attacker}")
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    assert video.exists(), "deleting a URL job deleted another job's upload"

    end_run(api, victim)
    assert api.delete(f"/api/jobs/{victim}").status_code == 200
    assert not video.parent.exists(), "a finished upload job keeps its upload after DELETE"


def test_retention_removes_recorded_uploads_only(api, data_dir):
    from flows.retention import cleanup_expired_jobs
    from reelflow.jobs import is_expired

    _victim, video = upload(api, "victim.mp4")
    attacker = url_job(api, traversal_url(video))
    done, done_video = upload(api, "done.mp4")
    never_started, cancelled_video = upload(api, "cancelled.mp4")
    for job in (attacker, done):
        job_folder(job)
        end_run(api, job)
    end_run(api, never_started, "CANCELLED")  # no folder: it never ran

    result = asyncio.run(cleanup_expired_jobs(retention_seconds=0))
    assert result["expired"] >= 2
    assert is_expired(data_dir / "jobs" / attacker) and is_expired(data_dir / "jobs" / done)
    assert video.exists(), "the sweep deleted an upload a URL named"
    assert not done_video.parent.exists(), "the sweep kept a finished job's upload"
    assert not cancelled_video.parent.exists(), "a job cancelled before it ran kept its upload"


def test_retention_covers_restyle_runs_and_their_key_blocks(api, data_dir):
    """A restyle run is a job with its own folder; a crashed one leaves its key block."""
    from flows.retention import cleanup_expired_jobs
    from reelflow.jobs import is_expired
    from reelflow.secrets import key_block_names, save_key_block

    async def restyle_run(block: str) -> str:
        from prefect.client.orchestration import get_client

        from flows.names import RESTYLE_DEPLOYMENT_PATH

        async with get_client() as client:
            deployment = await client.read_deployment_by_name(RESTYLE_DEPLOYMENT_PATH)
            run = await client.create_flow_run_from_deployment(
                deployment.id,
                parameters={"request": {"job": str(uuid.uuid4()), "index": 1,
                                        "gemini_key_block": block}},
            )  # fmt: skip
        return str(run.id)

    async def blocks() -> set[str]:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            return await key_block_names(client)

    crashed_block, live_block = asyncio.run(save_key_block("k1")), asyncio.run(save_key_block("k2"))
    crashed, live = asyncio.run(restyle_run(crashed_block)), asyncio.run(restyle_run(live_block))
    folder = job_folder(crashed)
    end_run(api, crashed, "CRASHED")
    assert {crashed_block, live_block} <= asyncio.run(blocks())

    result = asyncio.run(cleanup_expired_jobs(retention_seconds=0))
    assert result["key_blocks_removed"] >= 1
    left = asyncio.run(blocks())
    assert crashed_block not in left, "a crashed restyle run's key block outlived it"
    assert live_block in left, "the key of a queued restyle run was deleted"
    assert is_expired(folder), "a restyle run's folder was not expired"
    assert api.get(f"/api/status/{crashed}").json()["files_expired"] is True
    end_run(api, live, "CANCELLED")


def test_job_upload_decides_from_the_record(data_dir):
    from reelflow.jobs import job_upload, remove_upload, stored_upload_source

    hex_id = uuid.uuid4().hex
    path = data_dir / "uploads" / hex_id / "talk.mp4"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    url = traversal_url(path)
    s3 = f"s3://bucket/reelflow/uploads/{hex_id}/talk.mp4"
    assert job_upload({"source": str(path), "upload": hex_id}) == hex_id
    assert job_upload({"source": url, "upload": None}) is None
    assert job_upload({"source": url}) is None
    assert job_upload({"source": str(path), "upload": None}) is None  # recorded: no upload
    assert job_upload({"source": str(path)}) == hex_id  # a run from before the record
    for odd in ("../x", "ab" * 16 + "/", "0" * 31, "0" * 32 + "0", "G" * 32):
        assert job_upload({"source": str(path), "upload": odd}) is None, odd
    sneaky = data_dir / "uploads" / hex_id / ".." / hex_id / "talk.mp4"
    assert job_upload({"source": str(sneaky)}) is None
    assert stored_upload_source({"source": s3, "upload": hex_id}) == s3
    assert stored_upload_source({"source": s3, "upload": "1" * 32}) == ""
    assert stored_upload_source({"source": s3}) == ""
    remove_upload(url)
    remove_upload(str(sneaky))
    assert path.exists()
    remove_upload(str(path))
    assert not path.parent.exists()
