"""The web page in a real browser (Debian's chromium through Playwright) against the whole
service on 127.0.0.1 with REELFLOW_API_TOKEN set: log in, upload a 22 s cut of the sample,
watch the job reach completed without a reload, play and seek its clip, copy a text, download
its captions, restyle it and see the new version beside it, list and delete the job. A bad
URL, a file over the size limit and a video that is none are refused with their reasons.
Every page is saved as a screenshot under the test's artifacts (a tmp folder)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from api.sessions import COOKIE
from tests.helpers.browser import chromium
from tests.helpers.media import SAMPLE, make_media
from tests.helpers.servers import running_stack, stack_env

pytestmark = pytest.mark.slow

TOKEN = "web-stack-token-7c42-0123456789abcdef"
KEY = "AIzaSy-WEB-TEST-KEY-0d9e"
LIMIT_MB = 2
JOB_TIMEOUT_MS = 300_000
# Play a little, then seek to the middle: seeking a file the browser has not loaded needs
# Range requests. Resolves to what the element says, or rejects after 30 s.
PLAY_AND_SEEK = """async (v) => {
  const once = (name) => new Promise((ok) => v.addEventListener(name, ok, {once: true}));
  const steps = (async () => {
    v.muted = true;
    if (v.readyState < 1) await once("loadedmetadata");
    await v.play();
    await new Promise((ok) => setTimeout(ok, 800));
    v.pause();
    const played = v.currentTime;
    const seeked = once("seeked");
    v.currentTime = v.duration / 2;
    await seeked;
    return {readyState: v.readyState, duration: v.duration, played, at: v.currentTime};
  })();
  const limit = new Promise((_, fail) => setTimeout(() => fail(new Error("no playback")), 30000));
  return Promise.race([steps, limit]);
}"""
WATCH_UPLOAD = """() => new MutationObserver(() => window.uploadSeen(
  document.getElementById("upload-figure").textContent)).observe(
  document.getElementById("upload"), {subtree: true, childList: true, characterData: true})"""
# Records what the job page shows as it changes, without a reload (window.__same survives).
WATCH = """() => {
  window.__same = true;
  const report = () => window.seen({
    status: document.getElementById("job-status")?.textContent.trim(),
    stage: document.getElementById("job-stage")?.textContent.trim(),
    progress: Number(document.getElementById("job-progress")?.value),
    clips: document.querySelectorAll("#clips article").length,
  });
  new MutationObserver(report).observe(document.getElementById("main"),
                                       {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def media(tmp_path_factory, ffmpeg) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("web-media")
    talk = make_media(ffmpeg, folder / "talk.mp4", "-i", str(SAMPLE), "-t", "22",
                      "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")  # fmt: skip
    (folder / "notes.mp4").write_text("this is a text file, not a video\n")
    return {"talk": talk, "text": folder / "notes.mp4"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("web-stack")
    env = stack_env(home, 2, MAX_FILE_SIZE_MB=str(LIMIT_MB), REELFLOW_API_TOKEN=TOKEN)
    with running_stack(home, env) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with chromium() as running:
        yield running


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """The screenshots: this module's artifacts."""
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def page(browser, stack):
    context = browser.new_context(base_url=stack.api_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    yield page
    context.close()


def log_in(page, shots: Path | None = None) -> None:
    page.goto("/")
    assert re.search(r"/login\?next=%2F$", page.url), page.url
    if shots is not None:
        page.screenshot(path=shots / "login.png", full_page=True)
        page.fill("#token", "not-the-token")
        page.click("button[type=submit]")
        assert "not the token" in page.inner_text("#login-error")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def test_submit_watch_play_restyle_delete(page, stack, media, shots):
    log_in(page, shots)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # no script can read the session
    _wait_for_images(page)
    page.screenshot(path=shots / "submit.png", full_page=True)

    sent, upload_figures = [], []
    page.on("request", lambda r: sent.append(r) if r.url.endswith("/api/process") else None)
    page.expose_function("uploadSeen", lambda text: upload_figures.append(text))
    page.evaluate(WATCH_UPLOAD)
    page.set_input_files("#file", media["talk"])
    assert "talk.mp4" in page.inner_text("#file-chosen")
    page.fill("#clips", "1")
    page.fill("#max_seconds", "25")
    page.check("#captions-bold")
    page.fill("#gemini-key", KEY)
    page.click("#submit-button")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]

    # The key went as the header of that one request, and nowhere else.
    (request,) = sent
    assert request.all_headers()["x-gemini-key"] == KEY
    assert KEY.encode() not in (request.post_data_buffer or b"") and KEY not in request.url
    assert any(re.fullmatch(r"100% of 0\.\d MB", f) for f in upload_figures), upload_figures
    # (htmx keeps the current path in sessionStorage: that is all there is.)
    kept = "JSON.stringify([{...localStorage}, {...sessionStorage}, location.href])"
    assert KEY not in page.evaluate(kept) and page.evaluate("localStorage.length") == 0

    # Watch it live: state, progress and the clip arrive without a reload.
    seen: list[dict] = []
    page.expose_function("seen", lambda facts: seen.append(facts))
    page.evaluate(WATCH)
    page.wait_for_selector("#job-status:text-is('completed')", timeout=JOB_TIMEOUT_MS)
    page.wait_for_selector("#clip-1 video")
    assert page.evaluate("window.__same") is True
    assert any(s["stage"].startswith("Stage: ") and 0 < s["progress"] < 100 for s in seen), seen
    # The last log lines arrive after the final state: the page asks once more for them.
    page.wait_for_selector("#job-log:has-text('render done')", timeout=20_000)
    assert page.errors == []
    status = page.request.get(f"/api/status/{job_id}").json()
    (clip,) = status["result"]["clips"]
    assert status["video_title"] is None or isinstance(status["video_title"], str)

    # Play and seek: the clip is served with Range requests.
    ranged = []
    page.on("response", lambda r: ranged.append(r.status) if "/clips/1" in r.url else None)
    facts = page.locator("#versions-1 video").first.evaluate(PLAY_AND_SEEK)
    assert facts["readyState"] >= 2 and abs(facts["duration"] - clip["duration"]) < 0.15, facts
    assert facts["played"] > 0 and abs(facts["at"] - facts["duration"] / 2) < 0.5, facts
    assert 206 in ranged, ranged

    # Copy a text, download the captions.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.api_url)
    page.click('button[data-copy="c1-title"]')
    assert page.evaluate("navigator.clipboard.readText()") == clip["title"]
    with page.expect_download() as download:
        page.locator('#clip-1 a[download$=".srt"]').first.click()
    assert download.value.suggested_filename == "clip_01.srt"
    assert "-->" in Path(download.value.path()).read_text()
    page.screenshot(path=shots / "job.png", full_page=True)

    # Restyle: another preset and a hook title; the new version plays beside the clip.
    page.select_option("#restyle-1-captions", "karaoke")
    page.check("#restyle-1-hook")
    page.click("#clip-1 form.restyle button[type=submit]")
    page.wait_for_selector("#versions-1 figure[data-version-job]")
    version = page.locator("#versions-1 figure[data-version-job] video")
    version.wait_for(timeout=JOB_TIMEOUT_MS)
    facts = version.evaluate(PLAY_AND_SEEK)
    assert facts["readyState"] >= 2 and abs(facts["duration"] - clip["duration"]) < 0.15, facts
    label = page.inner_text("#versions-1 figure[data-version-job] figcaption")
    assert "karaoke captions, hook title" in label
    versions = page.request.get(f"/api/status/{job_id}").json()["result"]["clips"][0]["versions"]
    assert [v["version"] for v in versions] == [2]
    page.screenshot(path=shots / "job-restyled.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    page.screenshot(path=shots / "job-phone.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # The jobs list, and the CSRF token at work in a real browser.
    page.goto("/jobs")
    row = page.locator(f"#job-{job_id}")
    assert "completed" in row.inner_text() and row.locator("td").nth(2).inner_text() == "1"
    page.screenshot(path=shots / "jobs.png", full_page=True)
    forged = f"fetch('/api/jobs/{job_id}', {{method: 'DELETE'}}).then((r) => r.status)"
    assert page.evaluate(forged) == 403

    # Delete from the job's page: back to the list, files gone.
    page.goto(f"/jobs/{job_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#job-delete")
    page.wait_for_url("**/jobs")
    page.wait_for_selector(f"#job-{job_id} :text('files deleted')")
    assert page.request.get(f"/api/jobs/{job_id}/clips/1").status == 404
    assert page.errors == []


def test_refusals_are_shown(page, media, shots):
    log_in(page)
    sent = []
    page.on("request", lambda r: sent.append(r) if r.url.endswith("/api/process") else None)

    # A file over the limit, dropped on the drop zone: refused before any upload.
    drop = page.evaluate_handle(
        """(size) => {
          const d = new DataTransfer();
          d.items.add(new File([new Uint8Array(size)], "big.mp4", {type: "video/mp4"}));
          return d;
        }""",
        3 * 1024 * 1024,
    )
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": drop})
    assert "big.mp4" in page.inner_text("#file-chosen")
    page.click("#submit-button")
    error = page.inner_text("#submit-error")
    assert error == f"big.mp4 is 3.0 MB; the largest upload is {LIMIT_MB} MB.", error
    assert sent == []
    page.reload()

    # A bad URL, typed and sent from the keyboard: the API's reason, on the page.
    page.focus("#url")
    page.keyboard.type("ftp://example.org/talk.mp4")
    page.keyboard.press("Enter")
    page.wait_for_selector("#submit-error:has-text('Refused URL')")
    assert "'ftp:' is not allowed" in page.inner_text("#submit-error")
    assert page.url.endswith("/")
    page.screenshot(path=shots / "submit-refused.png", full_page=True)

    # A "video" that is none: the job fails and its page says why.
    page.fill("#url", "")
    page.set_input_files("#file", media["text"])
    page.click("#submit-button")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    page.wait_for_selector("#job-status:text-is('failed')", timeout=JOB_TIMEOUT_MS)
    page.wait_for_selector("#no-clips:has-text('This job made no clips.')")
    reason = page.inner_text("#job-error")
    assert "not a readable video" in reason or "no video stream" in reason, reason
    page.screenshot(path=shots / "job-failed.png", full_page=True)
    assert page.errors == []


def test_the_page_works_from_the_keyboard(page):
    log_in(page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    order = []
    for _ in range(40):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.name"))
    wanted = ["url", "file", "clips", "min_seconds", "max_seconds", "provider-local", "gemini-key",
              "captions-none", "hook", "hook-position", "hook-size", "effects", "cut-silences",
              "submit-button"]  # fmt: skip
    reached = [name for name in order if name in wanted]
    assert reached[: len(wanted)] == wanted, order


def _wait_for_images(page, timeout_s: float = 60) -> None:
    """The caption previews are drawn on first use: wait until each has loaded. (Polled from
    here: the page's CSP forbids the string evaluation wait_for_function needs.)"""
    loaded = "[...document.images].every((i) => i.complete && i.naturalWidth > 0)"
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(loaded):
        assert time.monotonic() < deadline, "the caption previews did not load"
        page.wait_for_timeout(250)
