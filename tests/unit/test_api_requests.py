"""The API's answers to requests, in this process (Litestar's test client) against a real
Prefect server with the deployments registered and no worker: bad requests (400, 404, 409,
413) with their reasons, and what a good submission leaves behind."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers.api import (
    api_client,
    read_run_parameters,
    register_deployments,
    wait_for_run_id,
)

KEY = "AIzaSy-TEST-KEY-in-process"
GOOD = {"url": "http://127.0.0.1:9/talk.mp4", "provider": "local"}


@pytest.fixture(scope="module")
def deployments(prefect_server):
    register_deployments()


@pytest.fixture
def api(deployments, data_dir, monkeypatch):
    monkeypatch.setenv("MAX_FILE_SIZE_MB", "5")
    monkeypatch.setenv("ALLOWED_URL_HOSTS", "127.0.0.1")
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    from reelflow.settings import get_settings

    get_settings.cache_clear()
    with api_client() as client:
        client.data_dir = data_dir
        yield client
    get_settings.cache_clear()


def submit(api, *, json_body=None, files=None, data=None, key=KEY):
    headers = {"X-Gemini-Key": key} if key else {}
    return api.post("/api/process", json=json_body, files=files, data=data, headers=headers)


def uploads_left(api) -> list:
    return [p for p in (api.data_dir / "uploads").rglob("*") if p.is_file()]


def test_missing_key_is_400(api):
    r = submit(api, json_body=GOOD, key=None)
    assert r.status_code == 400 and r.json()["detail"] == "Missing X-Gemini-Key header"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "Provide either url or file"),
        ({"url": ""}, "Provide either url or file"),
        ({"url": 42}, "url must be a string"),
        ({"url": "ftp://example.org/v.mp4"}, "http"),
        ({"url": "https://example.org/v.mp4", "clips": 99}, "clips"),
        ({"url": "https://example.org/v.mp4", "min_seconds": 50, "max_seconds": 20}, "min"),
        ({"url": "https://example.org/v.mp4", "captions": "sparkly"}, "caption preset"),
    ],
    ids=[
        "empty",
        "blank-url",
        "number-url",
        "ftp-url",
        "too-many-clips",
        "inverted-range",
        "unknown-preset",
    ],
)
def test_bad_json_requests_are_400(api, body, reason):
    r = submit(api, json_body=body)
    assert r.status_code == 400 and reason in r.json()["detail"], r.text


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b'{"url": ', "application/json", "Malformed JSON"),
        (b"[1, 2]", "application/json", "must be an object"),
        (b"url=x", "text/plain", "Send JSON"),
        (b"--x\r\n", "multipart/form-data", "without a boundary"),
        (
            b"--x\r\nContent-Disposition: form-data; name=url\r\n\r\nhttp://a",
            "multipart/form-data; boundary=x",
            "Unexpected end",
        ),
    ],
    ids=["cut-json", "json-list", "plain-text", "no-boundary", "cut-form"],
)
def test_malformed_bodies_are_400(api, body, content_type, reason):
    r = api.post("/api/process", content=body,
                 headers={"X-Gemini-Key": KEY, "Content-Type": content_type})  # fmt: skip
    assert r.status_code == 400 and reason in r.json()["detail"], r.text


def test_both_url_and_file_is_400_and_keeps_no_upload(api):
    r = submit(api, files={"file": ("talk.mp4", b"\0" * 1000, "video/mp4")},
               data={"url": "http://127.0.0.1:9/talk.mp4"})  # fmt: skip
    assert r.status_code == 400 and "not both" in r.json()["detail"]
    assert not uploads_left(api), "the upload was kept"


def test_upload_over_the_limit_is_413_and_removed(api):
    big = b"\0" * (6 * 1024 * 1024)
    r = submit(api, files={"file": ("big.mp4", big, "video/mp4")})
    assert r.status_code == 413 and "exceeds 5 MB limit" in r.json()["detail"]
    chunked = api.post("/api/process", content=_chunked_form(big), headers={
        "X-Gemini-Key": KEY, "Content-Type": "multipart/form-data; boundary=xyzzy"})  # fmt: skip
    assert chunked.status_code == 413, "no Content-Length: the limit holds while streaming"
    assert not uploads_left(api), "a partial upload was kept"


def test_unknown_job_is_404(api):
    missing = str(uuid.uuid4())
    for path in (
        f"/api/status/{missing}",
        "/api/status/not-a-uuid",
        f"/api/jobs/{missing}/clips/1",
        f"/api/jobs/{missing}/clips/1/thumbnail",
    ):
        r = api.get(path)
        assert r.status_code == 404 and "No job" in r.json()["detail"], path
    assert api.delete("/api/jobs/not-a-uuid").status_code == 404
    r = api.post(f"/api/jobs/{missing}/clips/1/render", json={"captions": "bold"})
    assert r.status_code == 404


def test_a_submission_is_queued_and_reads_back(api):
    r = submit(api, json_body={**GOOD, "clips": 2, "captions": "pop"})
    assert r.status_code == 200 and r.json()["status"] == "queued"
    job_id = r.json()["job_id"]
    status = api.get(f"/api/status/{job_id}").json()
    assert (status["job_id"], status["status"]) == (job_id, "queued")
    run_id = wait_for_run_id(api, job_id)
    request = read_run_parameters(run_id)["request"]
    assert (request["clips"], request["captions"]["preset"]) == (2, "pop")
    assert request["job_id"] == job_id, "the run carries the job's id"
    assert request["gemini_key_block"] is None, "a local job keeps no key"
    status = api.get(f"/api/status/{job_id}").json()
    assert (status["status"], status["stage"], status["progress"]) == ("queued", "queued", 0)
    assert status["result"] == {"clips": []} and status["source"] == GOOD["url"]
    assert job_id in [j["job_id"] for j in api.get("/api/jobs").json()["jobs"]]
    # A job that is not finished has no clip to render again, and no files yet.
    assert api.get(f"/api/jobs/{job_id}/clips/1").status_code == 404
    assert api.post(f"/api/jobs/{job_id}/clips/1/render", json={}).status_code == 404
    cancelled = api.delete(f"/api/jobs/{job_id}").json()
    assert cancelled == {"job_id": job_id, "status": "cancelled", "files_deleted": False}


def test_a_url_query_string_is_never_shown(api):
    """Presigned links and CDN tokens ride in query strings: /api/jobs and /api/status show
    scheme, host and path only (YouTube's public `v=` id stays)."""
    secret = "X-Amz-Signature=SECRETSIG&token=SECRETTOKEN"
    url = f"http://127.0.0.1:9/talk.mp4?{secret}#SECRETFRAG"
    job_id = submit(api, json_body={**GOOD, "url": url}).json()["job_id"]
    status = api.get(f"/api/status/{job_id}")
    listed = api.get("/api/jobs").text
    assert status.json()["source"] == "http://127.0.0.1:9/talk.mp4?…"
    for text in (status.text, listed):
        assert "SECRET" not in text
    assert read_run_parameters(wait_for_run_id(api, job_id))["request"]["source"] == url, (
        "the job still gets it all"
    )


def test_a_url_with_a_password_is_400_and_not_echoed(api):
    newest = api.get("/api/jobs?limit=1").json()["jobs"]
    for url in ("http://user:hunter2pw@127.0.0.1:9/v.mp4", "http://hunter2pw@127.0.0.1:9/v.mp4"):
        r = submit(api, json_body={**GOOD, "url": url})
        assert r.status_code == 400, r.text
        assert r.json()["detail"] == "Refused URL: it carries a user name or password"
        form = submit(api, data={"url": url, "provider": "local"})
        assert form.status_code == 400 and "hunter2pw" not in form.text
    assert api.get("/api/jobs?limit=1").json()["jobs"] == newest, "a refused URL became a job"


def test_a_running_job_cannot_be_restyled_yet(api):
    """409 while the job's manifest says it is still processing."""
    from reelflow.jobs import job_dir
    from reelflow.manifest import ClipEntry, Manifest, write_manifest

    job_id = submit(api, json_body=GOOD).json()["job_id"]
    clip = ClipEntry(index=1, start=0, end=20, duration=20, file="clip_01.mp4",
                     thumbnail="clip_01.jpg")  # fmt: skip
    write_manifest(job_dir(job_id), Manifest(job_id=job_id, status="processing", clips=[clip]))
    r = api.post(f"/api/jobs/{job_id}/clips/1/render", json={"captions": "bold"})
    assert r.status_code == 409 and "not finished" in r.json()["detail"]


def test_a_bad_framing_correction_is_400(api):
    from reelflow.jobs import job_dir
    from reelflow.manifest import ClipEntry, Manifest, write_manifest

    job_id = submit(api, json_body=GOOD).json()["job_id"]
    clip = ClipEntry(index=1, start=0, end=20, duration=20, file="clip_01.mp4",
                     thumbnail="clip_01.jpg")  # fmt: skip
    write_manifest(job_dir(job_id), Manifest(job_id=job_id, status="completed", clips=[clip]))
    for reframe, reason in (([1, 2], "reframe"), ({"keyframes": [{"t": -1, "x": 5}]}, "t")):
        r = api.post(f"/api/jobs/{job_id}/clips/1/render", json={"reframe": reframe})
        assert r.status_code == 400 and reason in r.json()["detail"], r.text


def test_openapi_documents_the_answers(api):
    schema = api.get("/docs/openapi.json").json()
    answer = schema["paths"]["/api/status/{job_id}"]["get"]["responses"]["200"]
    ref = answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    fields = schema["components"]["schemas"][ref]["properties"]
    assert {"status", "stage", "progress", "logs", "result", "files_expired"} <= set(fields)


def _chunked_form(payload: bytes):
    """A multipart body sent in pieces, so httpx uses chunked encoding (no Content-Length)."""
    yield b'--xyzzy\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
    yield b"Content-Type: video/mp4\r\n\r\n"
    for start in range(0, len(payload), 1 << 20):
        yield payload[start : start + (1 << 20)]
    yield b"\r\n--xyzzy--\r\n"
