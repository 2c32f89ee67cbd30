"""S3 storage against a real S3-compatible server on 127.0.0.1 (moto), driven through boto3:
keys and bytes, content types, multipart, presigned links, uploads that fail and heal,
retention, API uploads, a worker reading its input from S3, and credentials kept out of sight."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from reelflow.manifest import ClipEntry, Manifest, UploadedFile, Uploads, write_manifest
from tests.helpers.media import SAMPLE
from tests.helpers.s3_server import (
    ACCESS_KEY,
    PREFIX,
    SECRET_KEY,
    local_job,
    make_bucket,
    moto_server,
    object_hashes,
    sha256,
    stored_job,
    use_s3,
)
from tests.helpers.servers import free_port


@pytest.fixture
def s3(monkeypatch, data_dir):
    bucket = f"rf-{uuid.uuid4().hex[:12]}"
    with moto_server() as endpoint:
        client = make_bucket(endpoint, bucket)
        use_s3(monkeypatch, endpoint, bucket)
        yield SimpleNamespace(endpoint=endpoint, bucket=bucket, client=client)
    _reset()


def _reset() -> None:
    from reelflow.settings import get_settings
    from reelflow.storage import s3_client

    get_settings.cache_clear()
    s3_client.cache_clear()


def fake_job(data_dir: Path, job_id: str | None = None) -> tuple[str, Path]:
    """A finished job's folder as publish leaves it (random bytes stand in for the media)."""
    job_id = job_id or str(uuid.uuid4())
    folder = data_dir / "jobs" / job_id
    folder.mkdir(parents=True)
    for i in (1, 2):
        (folder / f"clip_{i:02d}.mp4").write_bytes(os.urandom(200_000))
        (folder / f"clip_{i:02d}.jpg").write_bytes(os.urandom(20_000))
    (folder / "transcript.json").write_text(json.dumps({"words": [], "sentences": []}))
    (folder / "clips.csv").write_text("index,start,end\n1,0,15\n2,20,35\n")
    clips = [_clip(i) for i in (1, 2)]
    write_manifest(folder, Manifest(job_id=job_id, status="completed", clips=clips))
    return job_id, folder


def _clip(index: int) -> ClipEntry:
    return ClipEntry(index=index, start=20.0 * index, end=20.0 * index + 15, duration=15,
                     file=f"clip_{index:02d}.mp4", thumbnail=f"clip_{index:02d}.jpg")  # fmt: skip


def test_job_files_land_with_the_right_keys_bytes_and_content_types(s3, prefect_server):
    from tasks.upload import read_uploads, upload_job

    job_id, folder = fake_job(Path(os.environ["REELFLOW_DATA_DIR"]))
    state = upload_job(job_id, return_state=True)
    assert state.is_completed(), state.message
    prefix = f"{PREFIX}/jobs/{job_id}/"
    assert stored_job(s3.client, s3.bucket, f"{PREFIX}/") == local_job(folder, prefix)
    types = {
        "clip_01.mp4": "video/mp4",
        "clip_01.jpg": "image/jpeg",
        "manifest.json": "application/json",
        "transcript.json": "application/json",
        "clips.csv": "text/csv",
    }
    for name, expected in types.items():
        head = s3.client.head_object(Bucket=s3.bucket, Key=f"{PREFIX}/jobs/{job_id}/{name}")
        assert head["ContentType"] == expected, name
    record = read_uploads(folder)
    assert record.status == "uploaded" and record.bucket == s3.bucket
    assert set(record.files) == {p.name for p in folder.iterdir() if p.name[0] != "."}
    for name, entry in record.files.items():
        assert entry.s3_key == f"{PREFIX}/jobs/{job_id}/{name}"
        assert entry.uploaded is True and entry.error is None
    # The manifest on S3 carries the record too: every file up, itself included.
    stored = s3.client.get_object(Bucket=s3.bucket, Key=f"{prefix}manifest.json")["Body"].read()
    assert all(e["uploaded"] for e in json.loads(stored)["uploads"]["files"].values())


def test_multipart_upload_of_a_file_larger_than_the_part_size(s3, monkeypatch, tmp_path):
    from reelflow.storage import get_storage

    monkeypatch.setenv("S3_MULTIPART_MB", "5")  # S3's smallest part
    _reset()
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(11 * 2**20))
    storage = get_storage()
    key = storage.key("jobs", "j-big", "clip_01.mp4")
    storage.put_file(big, key)
    head = s3.client.head_object(Bucket=s3.bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-3"), "three parts: 5 + 5 + 1 MiB"
    assert head["ContentLength"] == big.stat().st_size
    assert object_hashes(s3.client, s3.bucket, key) == {key: sha256(big)}
    storage.get_file(key, tmp_path / "back.mp4")  # and back, in parts too
    assert sha256(tmp_path / "back.mp4") == sha256(big)


def test_presigned_url_downloads_the_clip_over_http(s3, tmp_path):
    from api.service import s3_links, uploads_out
    from reelflow.settings import get_settings
    from reelflow.storage import get_storage

    storage = get_storage()
    clip, thumb = tmp_path / "clip_01.mp4", tmp_path / "clip_01.jpg"
    clip.write_bytes(os.urandom(300_000))
    thumb.write_bytes(os.urandom(10_000))
    key = storage.key("jobs", "j1", clip.name)
    storage.put_file(clip, key)
    record = Uploads(job_id="j1", bucket=s3.bucket, status="failed", files={
        clip.name: UploadedFile(s3_key=key, uploaded=True),
        thumb.name: UploadedFile(s3_key=key + ".jpg", uploaded=False, error="S3 down"),
    })  # fmt: skip
    links = s3_links(_clip(1), record, get_settings())
    assert "thumbnail_s3_url" not in links, "not uploaded: no link"
    summary = uploads_out(record).model_dump()
    assert summary["files"][thumb.name] == {"s3_key": key + ".jpg", "uploaded": False,
                                            "error": "S3 down"}  # fmt: skip
    url = links["s3_url"]
    assert "X-Amz-Expires=3600" in url and SECRET_KEY not in url
    answer = httpx.get(url, timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "video/mp4"
    assert sha256(answer.content) == sha256(clip)


def test_s3_down_is_recorded_and_a_later_retry_uploads_what_is_missing(
    prefect_server, monkeypatch, data_dir, caplog, capfd
):
    """S3 unreachable: every file is recorded as not uploaded with the reason, the manifest
    waits for the others, and neither logs nor records hold the credentials. Once S3 is back,
    the same call uploads everything; a changed file is sent again, alone."""
    from tasks.upload import read_uploads, upload_job

    caplog.errors_expected = True  # Prefect logs each failed task run at ERROR
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="botocore")
    port, bucket = free_port(), f"rf-{uuid.uuid4().hex[:12]}"
    endpoint = f"http://127.0.0.1:{port}"
    use_s3(monkeypatch, endpoint, bucket)
    job_id, folder = fake_job(data_dir)
    prefix = f"{PREFIX}/jobs/{job_id}/"

    state = upload_job(job_id, return_state=True)
    assert state.is_failed() and "not uploaded" in state.message
    record = read_uploads(folder)
    assert record.status == "failed"
    for name, entry in record.files.items():
        assert entry.uploaded is False, name
        assert entry.s3_key == f"{PREFIX}/jobs/{job_id}/{name}"
        if name == "manifest.json":
            assert "waits until every other file" in entry.error
        else:
            assert "S3 could not be reached" in entry.error, entry.error

    with moto_server(port):
        client = make_bucket(endpoint, bucket)
        state = upload_job(job_id, return_state=True)
        assert state.is_completed(), state.message
        assert state.result()["uploaded"] == 7
        assert stored_job(client, bucket, f"{PREFIX}/") == local_job(folder, prefix)
        assert read_uploads(folder).status == "uploaded"

        (folder / "clip_02.jpg").write_bytes(os.urandom(25_000))  # an edit made a new version
        state = upload_job(job_id, return_state=True)
        assert state.result()["uploaded"] == 1
        assert stored_job(client, bucket, f"{PREFIX}/") == local_job(folder, prefix)

    assert "are not on S3" in caplog.text, "the run's own log lines are captured"
    assert any(r.name.startswith("botocore") for r in caplog.records), "and boto's"
    secrets = (SECRET_KEY,)
    quiet = (SECRET_KEY, ACCESS_KEY)  # botocore's own DEBUG lines name the key id; ours never
    out, err = capfd.readouterr()
    files = (folder / "manifest.json").read_text()
    for text in (out, err, files, caplog.text):
        assert not any(s in text for s in secrets)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    for text in (ours, files, out, err):
        assert not any(s in text for s in quiet)


def test_an_upload_whose_process_died_is_started_again(s3, prefect_server, data_dir):
    """A worker killed mid-upload leaves the record "uploading" with no heartbeat: the sweep's
    retry starts it again. One that is still beating is left to its own process."""
    from datetime import UTC, datetime, timedelta

    from reelflow.manifest import update_manifest
    from tasks.upload import STALE_AFTER_S, read_uploads, retry_failed_uploads, wait_for_uploads

    def record(job_id: str, age_s: float) -> Uploads:
        at = datetime.now(UTC) - timedelta(seconds=age_s)
        return Uploads(job_id=job_id, status="uploading", updated_at=at.isoformat())

    dead_id, dead = fake_job(data_dir)
    alive_id, alive = fake_job(data_dir)
    stale = record(dead_id, STALE_AFTER_S + 60)
    update_manifest(dead, lambda m: m.model_copy(update={"uploads": stale}))
    beating = record(alive_id, 5)
    update_manifest(alive, lambda m: m.model_copy(update={"uploads": beating}))

    assert retry_failed_uploads() == 1
    assert wait_for_uploads(120)
    assert read_uploads(dead).status == "uploaded"
    assert read_uploads(alive).status == "uploading"
    prefix = f"{PREFIX}/jobs/{dead_id}/"
    assert stored_job(s3.client, s3.bucket, prefix) == local_job(dead, prefix)


def test_retention_removes_the_job_objects_and_the_uploaded_source(s3, prefect_server):
    from flows.retention import cleanup_expired_jobs
    from reelflow.jobs import is_expired
    from reelflow.storage import get_storage, store_upload

    data_dir = Path(os.environ["REELFLOW_DATA_DIR"])
    storage = get_storage()
    upload = uuid.uuid4().hex
    video = data_dir / "uploads" / upload / "talk.mp4"
    video.parent.mkdir(parents=True)
    video.write_bytes(os.urandom(50_000))
    source = store_upload(storage, video)
    job_id = asyncio.run(_finished_job({"source": source, "upload": upload}))
    _, folder = fake_job(data_dir, job_id)
    other_id, other = fake_job(data_dir)
    for f in (*folder.iterdir(), *other.iterdir()):
        storage.put_file(f, storage.key("jobs", f.parent.name, f.name))
    assert len(object_hashes(s3.client, s3.bucket, f"{PREFIX}/jobs/{job_id}/")) == 7

    result = asyncio.run(cleanup_expired_jobs(retention_seconds=0))
    assert result["expired"] == 1 and result["s3_objects_removed"] == 8
    assert is_expired(folder)
    assert object_hashes(s3.client, s3.bucket, f"{PREFIX}/jobs/{job_id}/") == {}
    assert object_hashes(s3.client, s3.bucket, f"{PREFIX}/uploads/") == {}
    assert len(object_hashes(s3.client, s3.bucket, f"{PREFIX}/jobs/{other_id}/")) == 7


async def _finished_job(request: dict) -> str:
    """A clip_video deployment run that ended, as the retention sweep finds them."""
    from prefect.client.orchestration import get_client
    from prefect.states import Completed

    from flows.names import CLIP_DEPLOYMENT, CLIP_FLOW

    async with get_client() as client:
        flow_id = await client.create_flow_from_name(CLIP_FLOW)
        deployment_id = await client.create_deployment(flow_id=flow_id, name=CLIP_DEPLOYMENT)
        run = await client.create_flow_run_from_deployment(
            deployment_id, parameters={"request": {**request, "provider": "local"}}
        )
        await client.set_flow_run_state(run.id, Completed(), force=True)
    return str(run.id)


def test_keep_after_retention_leaves_the_objects(s3, monkeypatch):
    from reelflow.storage import get_storage, remove_remote_copies

    monkeypatch.setenv("S3_KEEP_AFTER_RETENTION", "true")
    _reset()
    job_id, folder = fake_job(Path(os.environ["REELFLOW_DATA_DIR"]))
    storage = get_storage()
    storage.put_file(folder / "clip_01.mp4", storage.key("jobs", job_id, "clip_01.mp4"))
    assert remove_remote_copies(job_id) == 0
    assert len(object_hashes(s3.client, s3.bucket, f"{PREFIX}/jobs/{job_id}/")) == 1


def test_a_worker_reads_its_input_from_s3(s3, monkeypatch):
    from reelflow.errors import DownloadTooLarge, SourceUnavailable, TransientSourceError
    from reelflow.storage import S3Storage
    from tasks.ingest import ingest_source

    key = f"{PREFIX}/uploads/u-2/talk.mp4"
    s3.client.upload_file(str(SAMPLE), s3.bucket, key)
    uri = f"s3://{s3.bucket}/{key}"
    info = ingest_source(uri)
    assert info.source == uri and info.duration_s > 20 and info.sha256 == sha256(SAMPLE)
    assert Path(info.path).parent.parent == Path(os.environ["REELFLOW_DATA_DIR"]) / "downloads"

    def no_download(*_args):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(S3Storage, "get_file", no_download)
    assert ingest_source(uri).path == info.path, "an unchanged object is reused"

    with pytest.raises(SourceUnavailable, match="404") as missing:
        ingest_source(f"s3://{s3.bucket}/{PREFIX}/uploads/u-2/nothing.mp4")
    assert missing.value.permanent
    monkeypatch.setenv("MAX_FILE_SIZE_MB", "1")
    _reset()
    with pytest.raises(DownloadTooLarge):
        ingest_source(uri)
    monkeypatch.setenv("S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    _reset()
    with pytest.raises(TransientSourceError) as down:
        ingest_source(uri)
    assert not down.value.permanent


def test_api_uploads_go_to_s3_for_workers_elsewhere(s3, prefect_server):
    """An uploaded file is put at <prefix>/uploads/<id>/<name>; the job's source is its s3://
    address and no local copy stays. A job cancelled before it started leaves no S3 object."""
    from tests.helpers.api import (
        api_client,
        read_run_parameters,
        register_deployments,
        remove_deployment,
        wait_for_run_id,
    )

    data_dir = Path(os.environ["REELFLOW_DATA_DIR"])
    form = {"provider": "local", "clips": "1"}

    def submit(api, name: str):
        with SAMPLE.open("rb") as fh:
            return api.post("/api/process", files={"file": (name, fh, "video/mp4")},
                            data=form, headers={"X-Gemini-Key": "unused"})  # fmt: skip

    remove_deployment()  # no worker has registered clip-video: the job waits in the journal
    with api_client() as api:
        answer = submit(api, "b.mp4")
        assert answer.status_code == 200, answer.text
        assert len(object_hashes(s3.client, s3.bucket, f"{PREFIX}/uploads/")) == 1
        job_id = answer.json()["job_id"]
        assert api.delete(f"/api/jobs/{job_id}").json()["status"] == "cancelled"
    assert object_hashes(s3.client, s3.bucket, f"{PREFIX}/uploads/") == {}
    assert not [p for p in (data_dir / "uploads").rglob("*") if p.is_file()]

    register_deployments()
    with api_client() as api:
        answer = submit(api, "My Talk.mp4")
        assert answer.status_code == 200, answer.text
        run_id = wait_for_run_id(api, answer.json()["job_id"])
    source = read_run_parameters(run_id)["request"]["source"]
    assert source.startswith(f"s3://{s3.bucket}/{PREFIX}/uploads/")
    assert source.endswith("/My Talk.mp4")
    key = source.removeprefix(f"s3://{s3.bucket}/")
    assert object_hashes(s3.client, s3.bucket, f"{PREFIX}/uploads/") == {key: sha256(SAMPLE)}
    assert not [p for p in (data_dir / "uploads").rglob("*") if p.is_file()]
