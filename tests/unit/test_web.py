"""The web page's server side, in this process against a real Prefect server (no worker, so
jobs stay queued): sessions and CSRF, login and logout, the open-API warning, the pages and
fragments, a clip's caption files, and the caption previews drawn by the real renderer.
tests/stack/test_web.py drives the same page in a real browser against the whole service."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from api.sessions import COOKIE, csrf_token, csrf_valid, new_session, session_valid
from reelflow.manifest import ClipEntry, Manifest, VideoSummary, write_manifest
from tests.helpers.api import api_client, register_deployments, wait_for_run_id

TOKEN = "web-test-token-5b1e-0123456789abcdef"
KEY = "AIzaSy-TEST-KEY-web"
GOOD = {"url": "http://127.0.0.1:9/talk.mp4", "provider": "local"}
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def deployments(prefect_server):
    register_deployments()


def _client(monkeypatch, token: str | None):
    from reelflow.settings import get_settings

    monkeypatch.setenv("ALLOWED_URL_HOSTS", "127.0.0.1")
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    monkeypatch.setenv("MAX_FILE_SIZE_MB", "7")
    if token:
        monkeypatch.setenv("REELFLOW_API_TOKEN", token)
    else:
        monkeypatch.delenv("REELFLOW_API_TOKEN", raising=False)
    get_settings.cache_clear()
    return api_client()


@pytest.fixture
def open_api(deployments, data_dir, monkeypatch):
    with _client(monkeypatch, None) as client:
        yield client


@pytest.fixture
def locked_api(deployments, data_dir, monkeypatch):
    with _client(monkeypatch, TOKEN) as client:
        yield client


def login(client) -> str:
    r = client.post("/login", data={"token": TOKEN, "next": "/jobs"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/jobs"
    return client.cookies[COOKIE]


def submit(client, headers=None) -> str:
    r = client.post("/api/process", json=GOOD, headers={"X-Gemini-Key": KEY, **(headers or {})})
    assert r.status_code == 200, r.text
    # Read back from its run, not the journal.
    wait_for_run_id(client, r.json()["job_id"], headers=headers)
    return r.json()["job_id"]


# -- sessions ---------------------------------------------------------------------------------


def test_session_is_signed_expires_and_belongs_to_its_token():
    session = new_session(TOKEN, now=1000.0)
    assert TOKEN not in session
    assert session_valid(TOKEN, session, now=1001.0)
    assert not session_valid(TOKEN, session, now=1000.0 + 13 * 3600)  # expired
    assert not session_valid("another-token", session, now=1001.0)
    expires, nonce, signature = session.split(".")
    longer = f"{int(expires) + 10**6}.{nonce}.{signature}"
    assert not session_valid(TOKEN, longer, now=1001.0)  # the expiry is signed
    assert not session_valid(TOKEN, "", now=1001.0)
    assert not session_valid(TOKEN, "garbage", now=1001.0)


def test_csrf_token_is_bound_to_the_session():
    one, two = new_session(TOKEN), new_session(TOKEN)
    assert csrf_valid(TOKEN, one, csrf_token(TOKEN, one))
    assert not csrf_valid(TOKEN, two, csrf_token(TOKEN, one))
    assert not csrf_valid(TOKEN, one, "")
    assert not csrf_valid(TOKEN, one, None)


# -- login, cookie, CSRF ----------------------------------------------------------------------


def test_pages_send_a_visitor_without_session_to_the_login(locked_api):
    r = locked_api.get("/jobs?offset=0", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fjobs%3Foffset%3D0"
    # A poll whose session ended moves the whole page, not the fragment.
    r = locked_api.get("/fragments/jobs", headers={"HX-Request": "true"})
    assert r.status_code == 200 and r.headers["hx-redirect"].startswith("/login?next=")
    assert locked_api.get("/api/jobs").status_code == 401  # the JSON API stays JSON
    # The login page and the static files are public: the form needs its style.
    assert locked_api.get("/login").status_code == 200
    assert locked_api.get("/static/web/htmx.min.js").status_code == 200
    assert locked_api.get("/static/web/style.css").status_code == 200


def test_login_sets_a_strict_httponly_cookie_the_api_accepts(locked_api):
    r = locked_api.post("/login", data={"token": "wrong", "next": "/"}, follow_redirects=False)
    assert r.status_code == 401 and "not the token" in r.text
    assert COOKIE not in locked_api.cookies
    r = locked_api.post("/login", data={"token": TOKEN, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/" in cookie
    assert TOKEN not in cookie
    assert locked_api.get("/api/jobs").status_code == 200
    page = locked_api.get("/")
    assert page.status_code == 200
    assert "Open API" not in page.text
    session = locked_api.cookies[COOKIE]
    assert f'<meta name="csrf-token" content="{csrf_token(TOKEN, session)}">' in page.text


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "jobs", ""]
)
def test_login_never_redirects_off_site(locked_api, target):
    r = locked_api.post("/login", data={"token": TOKEN, "next": target}, follow_redirects=False)
    assert r.headers["location"] == "/"


def test_cookie_requests_that_change_something_need_the_csrf_token(locked_api):
    session = login(locked_api)
    no_csrf = locked_api.post("/api/process", json=GOOD, headers={"X-Gemini-Key": KEY})
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["detail"]
    other = csrf_token(TOKEN, new_session(TOKEN))
    wrong = {"X-Gemini-Key": KEY, "X-CSRF-Token": other}
    assert locked_api.post("/api/process", json=GOOD, headers=wrong).status_code == 403
    csrf = {"X-CSRF-Token": csrf_token(TOKEN, session)}
    job_id = submit(locked_api, csrf)
    assert locked_api.delete(f"/api/jobs/{job_id}").status_code == 403
    ok = locked_api.delete(f"/api/jobs/{job_id}", headers=csrf)
    assert ok.status_code == 200 and ok.json()["status"] == "cancelled"
    # A bearer token is no ambient credential: no CSRF token needed.
    locked_api.cookies.clear()
    assert submit(locked_api, {"Authorization": f"Bearer {TOKEN}"})


def test_a_forged_or_foreign_cookie_is_refused(locked_api):
    locked_api.cookies[COOKIE] = new_session("some-other-token")
    assert locked_api.get("/api/jobs").status_code == 401
    locked_api.cookies[COOKIE] = "1.2.3"
    assert locked_api.get("/api/jobs").status_code == 401


def test_logout_needs_the_page_csrf_token_and_ends_the_session(locked_api):
    session = login(locked_api)
    r = locked_api.post("/logout", data={}, follow_redirects=False)
    assert r.status_code == 403
    form = {"csrf": csrf_token(TOKEN, session)}
    r = locked_api.post("/logout", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert COOKIE not in locked_api.cookies
    assert locked_api.get("/api/jobs").status_code == 401


def test_open_api_pages_show_the_readme_warning(open_api):
    page = open_api.get("/")
    assert page.status_code == 200
    warning = re.search(r"<strong>Open API.</strong> ([^<]+)</p>", page.text).group(1)
    readme = " ".join(README.read_text().split())
    assert "the API is open to anyone who can reach it" in warning
    assert "behind a trusted network (or a reverse proxy that authenticates)" in readme
    assert "behind a trusted network (or a reverse proxy that authenticates)" in warning
    assert open_api.get("/login", follow_redirects=False).headers["location"] == "/"
    assert 'content=""' in page.text  # no session, no CSRF token, and none needed
    assert "Log out" not in page.text


# -- pages ------------------------------------------------------------------------------------


def test_submit_page_form(open_api):
    page = open_api.get("/").text
    assert "Largest file: 7 MB" in page
    assert 'data-max-mb="7"' in page
    key_field = re.search(r'<input id="gemini-key"[^>]*>', page).group(0)
    assert "name=" not in key_field and 'type="password"' in key_field
    for preset in ("bold", "classic", "karaoke", "pop", "boxed"):
        assert f'src="/previews/captions/{preset}"' in page
    assert _unlabelled_fields(page) == []
    headers = open_api.get("/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "<script>" not in page and " style=" not in page  # nothing inline: the CSP holds


def test_jobs_page_and_job_page_of_a_queued_job(open_api):
    job_id = submit(open_api)
    rows = open_api.get("/jobs").text
    assert f'href="/jobs/{job_id}"' in rows and "queued" in rows
    assert re.search(rf'data-job-action="cancel"\s+data-job-id="{job_id}"', rows)
    page = open_api.get(f"/jobs/{job_id}").text
    assert f'hx-get="/fragments/jobs/{job_id}/live?shown=&amp;was=queued"' in page
    assert "Waiting for a free slot" in page
    live = open_api.get(f"/fragments/jobs/{job_id}/live", params={"shown": "", "was": "queued"})
    assert live.status_code == 200
    assert 'id="poller"' in live.text and 'id="job-state" hx-swap-oob="true"' in live.text
    assert _unlabelled_fields(page) == []
    # Once it has ended, the page asks once more (the last log lines come late), then stops.
    assert open_api.delete(f"/api/jobs/{job_id}").json()["status"] == "cancelled"
    ended = open_api.get(f"/fragments/jobs/{job_id}/live", params={"shown": "", "was": "queued"})
    assert 'hx-trigger="load delay:4s"' in ended.text and "was=cancelled" in ended.text
    assert 'id="job-actions"' in ended.text and "This job made no clips." in ended.text
    after = open_api.get(f"/fragments/jobs/{job_id}/live", params={"was": "cancelled"}).text
    assert "hx-get" not in after.split("</div>", 1)[0]
    assert "hx-get=" not in open_api.get(f"/jobs/{job_id}").text.split('id="poller"', 1)[1][:80]


def test_unknown_job_is_a_404_page(open_api):
    r = open_api.get("/jobs/7d1a5c44-0000-4000-8000-000000000000")
    assert r.status_code == 404
    assert "text/html" in r.headers["content-type"] and "No job" in r.text
    assert open_api.get("/jobs/not-a-job").status_code == 404


def test_clip_cards_captions_route_and_list_facts(open_api, data_dir):
    job_id = submit(open_api)
    folder = data_dir / "jobs" / job_id
    _finished_job(folder, job_id)
    listed = {j["job_id"]: j for j in open_api.get("/api/jobs").json()["jobs"]}[job_id]
    assert listed["video_title"] == "A talk about learning"
    assert listed["clip_count"] == 2 and not listed["files_expired"]

    srt = open_api.get(f"/api/jobs/{job_id}/clips/1/captions/srt")
    assert srt.status_code == 200 and srt.text.startswith("1\n00:00:00,000 --> ")
    assert srt.headers["content-type"].startswith("text/plain")
    assert "charset=utf-8" in srt.headers["content-type"]
    vtt = open_api.get(f"/api/jobs/{job_id}/clips/1/captions/vtt")
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")
    missing = open_api.get(f"/api/jobs/{job_id}/clips/2/captions/srt")
    assert missing.status_code == 404 and "no captions" in missing.json()["detail"]
    assert open_api.get(f"/api/jobs/{job_id}/clips/9/captions/srt").status_code == 404
    assert open_api.get(f"/api/jobs/{job_id}/clips/1/captions/ass").status_code == 400

    status = open_api.get(f"/api/status/{job_id}").json()
    first, second = status["result"]["clips"]
    assert first["captions_srt_url"].endswith(f"/api/jobs/{job_id}/clips/1/captions/srt")
    assert second["captions_srt_url"] is None

    page = open_api.get(f"/jobs/{job_id}").text
    assert f'src="/api/jobs/{job_id}/clips/1"' in page
    assert f'href="/api/jobs/{job_id}/clips/1/captions/srt" download="clip_01.srt"' in page
    assert 'data-copy="c1-tiktok"' in page and "Learning sticks &amp; stays" in page
    assert "<img src=x" not in page and "<script>x()" not in page  # model text is escaped
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert "Score 87" in page and "0:12.5\N{EN DASH}0:40.0" in page
    assert f'data-api="/api/jobs/{job_id}/clips/1/render"' in page
    # The run is still queued, so restyling waits for it to finish.
    assert "Possible once the job has finished." in page
    live = open_api.get(f"/fragments/jobs/{job_id}/live", params={"shown": "1", "was": "queued"})
    assert 'id="clip-2"' in live.text and 'id="clip-1"' not in live.text
    assert 'hx-swap-oob="beforeend:#clips"' in live.text


def test_caption_previews_are_drawn_by_the_renderer(open_api, ffmpeg):
    r = open_api.get("/previews/captions/bold")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    bold = _pixels(ffmpeg, r.content)
    assert bold.shape == (120, 336, 3)
    # The spoken word in the preset's yellow (#FFE000), the rest white: a real caption.
    yellow = (bold[..., 0] > 200) & (bold[..., 1] > 180) & (bold[..., 2] < 90)
    white = (bold > 225).all(axis=2)
    assert yellow.sum() > 40 and white.sum() > 40
    boxed = _pixels(ffmpeg, open_api.get("/previews/captions/boxed").content)
    assert np.abs(bold.astype(int) - boxed.astype(int)).mean() > 5
    unknown = open_api.get("/previews/captions/sparkly")
    assert unknown.status_code == 404 and "bold" in unknown.text


def _finished_job(folder: Path, job_id: str) -> None:
    """A job folder as the flow leaves it, with two clips, one with caption files."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("clip_01.mp4", "clip_02.mp4", "clip_01.jpg", "clip_02.jpg"):
        (folder / name).write_bytes(b"\0" * 64)
    (folder / "clip_01.srt").write_text("1\n00:00:00,000 --> 00:00:01,200\nLEARNING STICKS\n")
    (folder / "clip_01.vtt").write_text("WEBVTT\n\n00:00:00.000 --> 00:00:01.200\nLEARNING\n")
    clip = {"file": "clip_01.mp4", "thumbnail": "clip_01.jpg", "index": 1, "start": 12.5,
            "end": 40.0, "duration": 27.5, "title": "Why learning sticks", "hook": "Try this",
            "description_tiktok": "Learning sticks & stays", "score": 87.2,
            "description_instagram": '<img src=x onerror="alert(1)"> and <script>x()</script>',
            "reason": "opens with a question", "captions_srt": "clip_01.srt",
            "captions_vtt": "clip_01.vtt"}  # fmt: skip
    second = {**clip, "index": 2, "file": "clip_02.mp4", "thumbnail": "clip_02.jpg",
              "captions_srt": None, "captions_vtt": None}  # fmt: skip
    write_manifest(folder, Manifest(
        job_id=job_id, status="completed", video=VideoSummary(title="A talk about learning"),
        clips=[ClipEntry.model_validate(clip), ClipEntry.model_validate(second)],
    ))  # fmt: skip


def _unlabelled_fields(page: str) -> list[str]:
    """Form fields with neither a <label for> nor an aria-label: invisible to screen readers."""
    labelled = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', page))
    missing = []
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page):
        if 'type="hidden"' in tag or "aria-label=" in tag:
            continue
        field_id = re.search(r'\bid="([^"]+)"', tag)
        if field_id is None or field_id.group(1) not in labelled:
            missing.append(tag)
    return missing


def _pixels(ffmpeg: str, jpeg: bytes) -> np.ndarray:
    args = [ffmpeg, "-v", "error", "-i", "pipe:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(args, input=jpeg, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(120, 336, 3)


def test_clip_cards_offer_translation_and_posting_and_show_other_languages(open_api, data_dir):
    from reelflow.manifest import ClipVersion, read_manifest

    job_id = submit(open_api)
    folder = data_dir / "jobs" / job_id
    _finished_job(folder, job_id)
    manifest = read_manifest(folder)
    spanish = ClipVersion(version=2, kind="translation", language="es", file="clip_01.es.mp4",
                          thumbnail="clip_01.es.jpg")  # fmt: skip
    write_manifest(folder, manifest.with_clip(manifest.clip(1).with_version(spanish)))
    page = open_api.get(f"/jobs/{job_id}").text
    assert f'src="/api/jobs/{job_id}/clips/1/versions/2"' in page and "ES · captions" in page
    assert f'data-api="/api/jobs/{job_id}/clips/1/translate"' in page
    assert f'data-api="/api/jobs/{job_id}/clips/2/publish"' in page
    assert 'name="platform" value="tiktok"' in page
    # API keys go as headers only: their fields have no name, so they are never form data.
    for header in ("X-Gemini-Key", "X-ElevenLabs-Key", "X-Upload-Post-Key"):
        fields = re.findall(rf'<input[^>]*data-header="{header}"[^>]*>', page)
        assert fields and all(' name="' not in f and 'type="password"' in f for f in fields)
    assert _unlabelled_fields(page) == []
