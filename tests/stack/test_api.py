"""The REST API against the real stack: a Prefect server, the worker serving the deployments,
and the API under uvicorn, all on 127.0.0.1, started and stopped by this module."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from flows.names import RETENTION_DEPLOYMENT_PATH
from tests.helpers.media import SAMPLE, last_second_db, stream_lengths, talk_with_pause
from tests.helpers.servers import running_stack, stack_env, static_server

pytestmark = pytest.mark.slow

KEY = "AIzaSy-TEST-KEY-7f3a9c21"
DUB_KEY = "el-TEST-KEY-3b8d"
LIMIT = 2
RETENTION = RETENTION_DEPLOYMENT_PATH
JOB = {"provider": "local", "clips": 1, "min_seconds": 15, "max_seconds": 25}


@pytest.fixture(scope="module")
def media(tmp_path_factory, ffmpeg) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    short = talk_with_pause(ffmpeg, folder / "talk.mp4")
    (folder / "notes.mp4").write_text("this is a text file, not a video\n")
    (folder / "long.mp4").symlink_to(SAMPLE)
    return {"short": short, "text": folder / "notes.mp4", "folder": folder}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, media):
    from testkit.elevenlabs import ElevenLabsStandIn
    from testkit.gemini import GeminiStandIn

    home = tmp_path_factory.mktemp("stack")
    with (
        static_server(media["folder"]) as files_url,
        GeminiStandIn() as gemini,
        ElevenLabsStandIn(key=DUB_KEY) as eleven,
    ):
        env = stack_env(
            home, LIMIT, MAX_FILE_SIZE_MB="5", GEMINI_BASE_URL=gemini.url,
            GEMINI_RETRY_DELAY_S="0.2", ELEVENLABS_BASE_URL=eleven.url, DUBBING_POLL_S="0.05",
        )  # fmt: skip
        with running_stack(home, env) as running:
            running.files_url, running.gemini, running.eleven = files_url, gemini, eleven
            yield running


@pytest.fixture
def api(stack):
    with httpx.Client(base_url=stack.api_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def url_job(stack) -> dict:
    """A URL job run to its end, shared by the tests that restyle and translate its clip."""
    with httpx.Client(base_url=stack.api_url, timeout=60) as client:
        r = submit(client, json_body={"url": f"{stack.files_url}/talk.mp4", **JOB})
        return wait_for(client, r.json()["job_id"])


def submit(api, *, json_body=None, files=None, data=None, key=KEY) -> httpx.Response:
    headers = {"X-Gemini-Key": key} if key else {}
    return api.post("/api/process", json=json_body, files=files, data=data, headers=headers)


def wait_for(api, job_id: str, statuses=("completed", "failed", "cancelled"), timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/api/status/{job_id}").json()
        if body["status"] in statuses:
            return body
        time.sleep(1)
    raise AssertionError(f"job {job_id} still {body['status']} after {timeout} s")


# --- jobs -----------------------------------------------------------------------------------


def test_upload_job_completes_and_clip_streams(api, media, ffmpeg, tmp_path):
    with media["short"].open("rb") as fh:
        r = submit(api, files={"file": ("my talk #1.mp4", fh, "video/mp4")},
                   data={k: str(v) for k, v in JOB.items()})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued"
    body = wait_for(api, r.json()["job_id"])
    assert body["status"] == "completed", body
    assert body["progress"] == 100 and body["result"]["clips"]
    clip = body["result"]["clips"][0]
    video = httpx.get(clip["video_url"], timeout=60)
    assert video.status_code == 200 and video.headers["accept-ranges"] == "bytes"
    (tmp_path / "clip.mp4").write_bytes(video.content)
    probe = _probe(tmp_path / "clip.mp4")
    assert (probe["width"], probe["height"]) == (1080, 1920)
    part = httpx.get(clip["video_url"], headers={"Range": "bytes=100-199"}, timeout=60)
    assert part.status_code == 206 and part.content == video.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(video.content)}"
    tail = httpx.get(clip["video_url"], headers={"Range": "bytes=-10"}, timeout=60)
    assert tail.status_code == 206 and tail.content == video.content[-10:]
    bad = httpx.get(clip["video_url"], headers={"Range": f"bytes={len(video.content)}-"})
    assert bad.status_code == 416
    thumb = httpx.get(clip["thumbnail_url"], timeout=60)
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"


def test_url_job_completes(api, url_job, tmp_path):
    body = url_job
    assert body["status"] == "completed", body
    cuts = {"cut_silences": True, "zoom": False}
    restyle = api.post(f"/api/jobs/{body['job_id']}/clips/1/render",
                       json={"captions": "bold", "effects": cuts})  # fmt: skip
    assert restyle.status_code == 200, restyle.text
    again = wait_for(api, restyle.json()["job_id"])
    assert again["status"] == "completed", again
    (clip,) = again["result"]["clips"]
    video = httpx.get(clip["video_url"], timeout=60)
    assert video.status_code == 200 and len(video.content) > 10_000
    # The inserted pause is cut, and the file ends where its content does.
    assert clip["duration_after_cuts"] < clip["duration"] - 1.0
    (tmp_path / "v2.mp4").write_bytes(video.content)
    lengths = stream_lengths(tmp_path / "v2.mp4")
    assert abs(lengths["video"] - clip["duration_after_cuts"]) <= 0.04, lengths
    assert abs(lengths["audio"] - clip["duration_after_cuts"]) <= 0.04, lengths
    assert last_second_db(tmp_path / "v2.mp4") > -45
    bad = api.post(f"/api/jobs/{body['job_id']}/clips/1/render", json={"captions": "nope"})
    assert bad.status_code == 400
    listed = api.get("/api/jobs", params={"status": "completed"}).json()["jobs"]
    assert body["job_id"] in [j["job_id"] for j in listed]


def test_a_clip_is_translated_and_dubbed_through_the_api_and_the_prefect_run_form(
    api, stack, url_job
):
    from testkit.translation import translator

    assert url_job["status"] == "completed", url_job
    job_id = url_job["job_id"]
    stack.gemini.responder = translator()
    try:
        _translated_twice(api, stack, job_id)
        _dubbed(api, stack, job_id)
    finally:
        stack.gemini.responder = None


def _translated_twice(api, stack, job_id: str) -> None:
    r = api.post(f"/api/jobs/{job_id}/clips/1/translate", json={"languages": ["es"]},
                 headers={"X-Gemini-Key": KEY})  # fmt: skip
    assert r.status_code == 200, r.text
    done = wait_for(api, r.json()["job_id"])
    assert done["status"] == "completed", done
    (spanish,) = done["result"]["clips"]
    srt = httpx.get(spanish["captions_srt_url"], timeout=60).text
    assert "[ES] " in srt.upper(), srt[:500]  # the bold look writes its captions in capitals
    # What a person fills in on the deployment's run form in the Prefect UI: the request's
    # fields, the key as the name of a Secret block of their own (which the run leaves alone).
    state = _with_stack_client(stack, lambda: _run_from_the_form(job_id, "de"))
    assert state.is_completed(), state
    clip = api.get(f"/api/status/{job_id}").json()["result"]["clips"][0]
    versions = {v["language"]: v for v in clip["versions"] if v.get("language")}
    assert set(versions) == {"es", "de"}, clip["versions"]
    assert versions["de"]["texts"]["title"].startswith("[de]")
    video = api.get(f"/api/jobs/{job_id}/clips/1/versions/{versions['de']['version']}")
    assert video.status_code == 200 and len(video.content) > 10_000
    assert _with_stack_client(stack, lambda: _secret("my-gemini-key")) == KEY


def _dubbed(api, stack, job_id: str) -> None:
    headers = {"X-Gemini-Key": KEY, "X-ElevenLabs-Key": DUB_KEY}
    r = api.post(f"/api/jobs/{job_id}/clips/1/translate",
                 json={"languages": ["es"], "dub": True}, headers=headers)  # fmt: skip
    assert r.status_code == 200, r.text
    done = wait_for(api, r.json()["job_id"])
    assert done["status"] == "completed", done
    (record,) = stack.eleven.dubs.values()
    assert (record.source_lang, record.target_lang) == ("en", "es") and record.deleted
    clip = api.get(f"/api/status/{job_id}").json()["result"]["clips"][0]
    (dub,) = [v for v in clip["versions"] if v["kind"] == "dub"]
    assert dub["language"] == "es" and dub["file"] == "clip_01.es.dub.mp4"
    video = api.get(f"/api/jobs/{job_id}/clips/1/versions/{dub['version']}")
    assert video.status_code == 200 and len(video.content) > 10_000


def test_non_video_upload_fails_clearly(api, media):
    with media["text"].open("rb") as fh:
        r = submit(api, files={"file": ("notes.mp4", fh, "video/mp4")}, data={"provider": "local"})
    body = wait_for(api, r.json()["job_id"])
    assert body["status"] == "failed"
    assert "not a readable video" in body["error"] or "no video stream" in body["error"]


def test_concurrency_limit_holds(api, stack):
    url = f"{stack.files_url}/talk.mp4"
    with ThreadPoolExecutor(2 * LIMIT) as pool:
        answers = list(pool.map(lambda _: submit(api, json_body={"url": url, **JOB}),
                                range(2 * LIMIT)))  # fmt: skip
    assert all(a.status_code == 200 for a in answers)
    ids = [a.json()["job_id"] for a in answers]
    most = 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        states = [api.get(f"/api/status/{i}").json()["status"] for i in ids]
        most = max(most, states.count("processing"))
        assert states.count("processing") <= LIMIT, states
        if all(s in ("completed", "failed") for s in states):
            break
        time.sleep(0.5)
    assert states == ["completed"] * len(ids), states
    assert most >= 1


def test_api_restart_keeps_jobs(api, stack):
    r = submit(api, json_body={"url": f"{stack.files_url}/talk.mp4", **JOB})
    job_id = r.json()["job_id"]
    stack.stop_process("api")
    stack.start_api()
    stack._wait(f"{stack.api_url}/health", 60, "api")
    assert wait_for(api, job_id)["status"] == "completed"


def test_cancel_running_job(api, stack):
    # The long video: a short job could finish before the cancel arrives.
    r = submit(api, json_body={"url": f"{stack.files_url}/long.mp4", "provider": "local"})
    job_id = r.json()["job_id"]
    wait_for(api, job_id, statuses=("processing",), timeout=120)
    answer = api.delete(f"/api/jobs/{job_id}").json()
    assert answer["status"] in ("cancelling", "cancelled")
    assert wait_for(api, job_id, timeout=120)["status"] == "cancelled"
    # The runner calls the cancellation hooks (with keywords): none may fail.
    assert not _key_blocks_after_hooks(stack), "the cancelled job's key block outlived it"
    worker_log = (stack.home / "logs" / "worker.log").read_text()
    assert "error was encountered while running hook" not in worker_log


def test_killed_worker_hands_the_job_back(api, stack):
    """A killed worker's job (kill -9, the machine gone: its heartbeats stop) is handed back
    and runs again on the next worker, here the same one restarted. So is a run whose worker
    died before its first heartbeat reached the server (stood in for by a run set RUNNING with
    no process behind it), while a running flow run of no deployment, which need not send
    heartbeats (a CLI run against this server), is left alone. One wait covers all three."""
    r = submit(api, json_body={"url": f"{stack.files_url}/long.mp4", "provider": "local"})
    job_id = r.json()["job_id"]
    run_id = wait_for(api, job_id, statuses=("processing",), timeout=120)["run_id"]
    silent_id, bystander_id = _with_stack_client(stack, lambda: _running_without_process(stack))
    stack.stop_process("worker", sig=9)
    # The run died with its worker's process group; its ffmpeg, if one was running, did not.
    watch = stack.watches["worker"]
    assert run_id in {run for _, run in watch.seen.values()}, "the worker's run was not seen"
    stack.kill_flow_runs(run_id)
    assert not watch.alive(run_id), "part of the run outlived its worker"
    try:
        for run in (run_id, silent_id):
            _wait_until(stack, run, lambda s: s.name == "Rescheduled", timeout=180)
    finally:
        stack.start_worker()
        stack.wait_for_deployment(60)
    state = _wait_until(stack, run_id, lambda s: s.is_running(), timeout=120)
    assert _with_stack_client(stack, lambda: _run(run_id)).run_count == 2
    assert wait_for(api, job_id, statuses=("processing",))["error"] is None
    assert api.delete(f"/api/jobs/{job_id}").status_code == 200, state
    assert _with_stack_client(stack, lambda: _state(bystander_id)).is_running()


def _wait_until(stack, run_id: str, predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _with_stack_client(stack, lambda: _state(run_id))
        if predicate(state):
            return state
        time.sleep(1)
    raise AssertionError(f"run {run_id} still {state.name} after {timeout} s")


def _run(run_id: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)


def _running_without_process(stack) -> tuple[str, str]:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    from flows.names import CLIP_DEPLOYMENT_PATH

    @flow(name="someone-elses-flow")
    def other() -> None: ...

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(CLIP_DEPLOYMENT_PATH)
        request = {"source": f"{stack.files_url}/talk.mp4", **JOB}
        silent = client.create_flow_run_from_deployment(
            deployment.id, parameters={"request": request}, state=Running()
        )
        bystander = client.create_flow_run(other, state=Running())
    return str(silent.id), str(bystander.id)


def _state(flow_run_id: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id).state


def test_retention_expires_files(api, stack):
    from prefect.deployments import run_deployment

    r = submit(api, json_body={"url": f"{stack.files_url}/talk.mp4", **JOB})
    job_id = r.json()["job_id"]
    assert wait_for(api, job_id)["status"] == "completed"
    sweep = {"retention_seconds": 0}
    _with_stack_client(stack, lambda: run_deployment(RETENTION, parameters=sweep, timeout=120))
    body = api.get(f"/api/status/{job_id}").json()
    assert body["files_expired"] and body["result"]["clips"] == []
    assert not list((stack.home / "data" / "jobs" / job_id).glob("*.mp4"))


def test_gemini_job_uses_the_key_and_forgets_it(api, stack):
    stack.gemini.answer([{
        "start_s": 2.0, "end_s": 21.0, "title": "Why most people quit", "hook": "Why quit?",
        "description_tiktok": "Why we quit.", "description_instagram": "Why we quit early.",
        "hashtags": ["#habits"], "score": 88, "reason": "Opens with a question.",
    }])  # fmt: skip
    r = submit(api, json_body={"url": f"{stack.files_url}/talk.mp4", "clips": 1,
                               "min_seconds": 15, "max_seconds": 25})  # fmt: skip
    body = wait_for(api, r.json()["job_id"])
    assert body["status"] == "completed", body
    assert body["result"]["clips"][0]["source"] == "gemini"
    assert stack.gemini.requests[-1].headers.get("x-goog-api-key") == KEY
    assert not _key_blocks_after_hooks(stack), "the job's key block outlived the job"


def test_key_never_stored_or_shown(api, stack):
    # Runs last in this module: every job above also carried the key (and one the dub key).
    answers = [api.get("/api/jobs").text]
    for job in api.get("/api/jobs").json()["jobs"]:
        answers.append(api.get(f"/api/status/{job['job_id']}").text)
    assert all(KEY not in a and DUB_KEY not in a for a in answers)
    for path in [
        *stack.home.rglob("*.db"),
        *stack.home.rglob("*.log"),
        *stack.home.rglob("*.json"),
    ]:
        stored = path.read_bytes()
        assert KEY.encode() not in stored and DUB_KEY.encode() not in stored, f"a key in {path}"


def _probe(path: Path) -> dict:
    from tests.helpers.stream_facts import streams

    return next(s for s in streams(path) if s["codec_type"] == "video")


def _key_blocks_after_hooks(stack, within_s: float = 30.0) -> list[str]:
    """The key blocks left once the run's end hooks had time to run: Prefect runs them (the
    block's deletion among them) after the run's final state is set, so a status that says
    completed or cancelled can come a moment before the block is gone (a full test run once
    saw it after completed)."""
    deadline = time.monotonic() + within_s
    while (left := _key_blocks(stack)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def _key_blocks(stack) -> list[str]:
    from prefect.client.orchestration import get_client

    from reelflow.secrets import KEY_BLOCK_PREFIX

    def names():
        with get_client(sync_client=True) as client:
            docs = client.read_block_documents(include_secrets=False)
        return [d.name for d in docs if (d.name or "").startswith(KEY_BLOCK_PREFIX)]

    return _with_stack_client(stack, names)


def _run_from_the_form(job_id: str, language: str):
    from prefect.blocks.system import Secret
    from prefect.deployments import run_deployment

    from flows.names import TRANSLATE_DEPLOYMENT_PATH

    Secret(value=KEY).save("my-gemini-key", overwrite=True)
    request = {"job": job_id, "index": 1, "languages": [language],
               "gemini_key_block": "my-gemini-key"}  # fmt: skip
    run = run_deployment(TRANSLATE_DEPLOYMENT_PATH, parameters={"request": request}, timeout=300)
    return run.state


def _secret(name: str) -> str:
    """Read through the client, not `Secret.load`: loading a block emits an event, and this
    process's events worker would then stay pointed at the stack's server after it stops,
    logging errors in every later test of the process."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(name, "secret", include_secrets=True)
    return document.data["value"]  # the server's JSON: the secret as a plain string


def _with_stack_client(stack, action):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: stack.prefect_url}):
        return action()
