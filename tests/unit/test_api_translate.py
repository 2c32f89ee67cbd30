"""The translation endpoints in this process against a real Prefect server with the
deployments registered and no worker: what is refused (with the reason), what a good request
starts (keys in Secret blocks, never in the run), and downloads of a clip's versions."""

from __future__ import annotations

import pytest

from reelflow.jobs import job_dir
from reelflow.manifest import ClipEntry, ClipVersion, LanguageRecord, Manifest, write_manifest
from tests.helpers.api import (
    loopback_api,
    read_run_parameters,
    register_deployments,
    wait_for_run_id,
)

KEY = "AIzaSy-TEST-KEY-translate"
GOOD = {"url": "http://127.0.0.1:9/talk.mp4", "provider": "local"}


@pytest.fixture(scope="module")
def deployments(prefect_server):
    register_deployments()


@pytest.fixture
def api(deployments, data_dir, monkeypatch):
    with loopback_api(monkeypatch) as client:
        yield client


def _job(api, status="completed", **body) -> str:
    r = api.post("/api/process", json={**GOOD, **body}, headers={"X-Gemini-Key": KEY})
    assert r.status_code == 200, r.text
    job_id = r.json()["job_id"]
    wait_for_run_id(api, job_id)  # read back from its run, not the journal
    clip = ClipEntry(index=1, start=0, end=20, duration=20, file="clip_01.mp4",
                     thumbnail="clip_01.jpg")  # fmt: skip
    write_manifest(job_dir(job_id), Manifest(job_id=job_id, status=status, clips=[clip],
                                             language=LanguageRecord(code="de")))  # fmt: skip
    return job_id


def test_language_and_translate_are_job_options(api):
    job_id = _job(api, language="es", translate=["de", "fr"])
    request = read_run_parameters(wait_for_run_id(api, job_id))["request"]
    assert (request["language"], request["translate"]) == ("es", ["de", "fr"])
    r = api.post("/api/process", json={**GOOD, "language": "elvish"},
                 headers={"X-Gemini-Key": KEY})  # fmt: skip
    assert r.status_code == 400 and "unknown language 'elvish'" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        ({"languages": ["es"]}, {}, "Missing X-Gemini-Key"),
        ({"languages": ["xx"]}, {"X-Gemini-Key": KEY}, "unknown language 'xx'"),
        ({"languages": []}, {"X-Gemini-Key": KEY}, "languages"),
        ({"languages": ["de"]}, {"X-Gemini-Key": KEY}, "already in German"),
        ({"languages": ["es"], "provider": "offline"}, {}, "translation model"),
        ({"languages": ["es"], "dub": True}, {"X-Gemini-Key": KEY}, "X-ElevenLabs-Key"),
        ({"languages": ["es"], "voice": "x"}, {"X-Gemini-Key": KEY}, "Unknown field(s) voice"),
    ],
    ids=[
        "no-key",
        "unknown-language",
        "none",
        "same-language",
        "offline",
        "dub-no-key",
        "unknown-field",
    ],
)
def test_bad_translation_requests_are_400_with_the_reason(api, body, headers, reason):
    job_id = _job(api)
    r = api.post(f"/api/jobs/{job_id}/clips/1/translate", json=body, headers=headers)
    assert r.status_code == 400 and reason in r.json()["detail"], r.text


def test_unknown_or_unfinished_jobs(api):
    missing = "00000000-0000-0000-0000-000000000000"
    body, headers = {"languages": ["es"]}, {"X-Gemini-Key": KEY}
    assert api.post(f"/api/jobs/{missing}/clips/1/translate", json=body,
                    headers=headers).status_code == 404  # fmt: skip
    job_id = _job(api, status="processing")
    r = api.post(f"/api/jobs/{job_id}/clips/1/translate", json=body, headers=headers)
    assert r.status_code == 409 and "not finished" in r.json()["detail"]
    done = _job(api)
    assert api.post(f"/api/jobs/{done}/clips/4/translate", json=body,
                    headers=headers).status_code == 404  # fmt: skip


def test_a_translation_is_a_job_whose_keys_stay_out_of_the_run(api):
    from prefect.blocks.system import Secret

    job_id = _job(api)
    headers = {"X-Gemini-Key": KEY, "X-ElevenLabs-Key": "el-secret-key"}
    r = api.post(f"/api/jobs/{job_id}/clips/1/translate",
                 json={"languages": "es,fr", "dub": True}, headers=headers)  # fmt: skip
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["translate_of"] == job_id and answer["languages"] == ["es", "fr"]
    assert answer["kind"] == "dub" and answer["status"] == "queued"
    request = read_run_parameters(answer["job_id"])["request"]
    assert KEY not in str(request) and "el-secret-key" not in str(request)
    assert Secret.load(request["elevenlabs_key_block"]).get() == "el-secret-key"
    assert Secret.load(request["gemini_key_block"]).get() == KEY
    status = api.get(f"/api/status/{answer['job_id']}").json()
    assert status["status"] == "queued"  # the translation is a job like any other


def test_versions_download_by_number(api):
    job_id = _job(api)
    folder = job_dir(job_id)
    (folder / "clip_01.es.mp4").write_bytes(b"spanish clip")
    (folder / "clip_01.es.jpg").write_bytes(b"thumb")
    version = ClipVersion(file="clip_01.es.mp4", thumbnail="clip_01.es.jpg", version=2,
                          kind="translation", language="es")  # fmt: skip
    manifest = Manifest.model_validate_json((folder / "manifest.json").read_text())
    write_manifest(folder, manifest.with_clip(manifest.clip(1).with_version(version)))
    r = api.get(f"/api/jobs/{job_id}/clips/1/versions/2")
    assert r.status_code == 200 and r.content == b"spanish clip"
    assert api.get(f"/api/jobs/{job_id}/clips/1/versions/2/thumbnail").content == b"thumb"
    assert api.get(f"/api/jobs/{job_id}/clips/1/versions/3").status_code == 404
    listed = api.get(f"/api/status/{job_id}").json()["result"]["clips"][0]["versions"]
    assert listed[0]["language"] == "es" and listed[0]["kind"] == "translation"
