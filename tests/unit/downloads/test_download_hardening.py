"""Downloads that try to get around the guard or never end, URLs with passwords, and what a
URL may show of itself. Real yt-dlp, real ffmpeg and HTTP stand-ins on 127.0.0.1, behind the
same fence as the other download tests (this folder's conftest.py)."""

from __future__ import annotations

import http.client
import os
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import pytest

from reelflow import errors
from reelflow.errors import SourceUnavailable, URLNotAllowed, is_permanent
from reelflow.guard_proxy import GuardProxy
from reelflow.jobs import ClipRequest
from reelflow.netguard import UrlPolicy, check_url, precheck_url
from tasks import ingest
from tests.unit.downloads.conftest import left_on_disk, proxy_auth, serve, set_env

NO_PROXY = "localhost,127.0.0.1,::1"


def _recording(body: bytes, content_type: str, log: list):
    """A route that serves `body` and records each request's headers."""

    def send(h: BaseHTTPRequestHandler) -> None:
        log.append(dict(h.headers))
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return send


def _hls(port: int, method: str) -> str:
    """A one-segment playlist whose key and segment live on `localhost`, a host the guard
    refuses (only 127.0.0.1 is listed) but that no_proxy lets a client reach directly."""
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f'#EXT-X-KEY:METHOD={method},URI="http://localhost:{port}/key",IV=0x{"00" * 16}\n'
        f"#EXTINF:2.0,\nhttp://localhost:{port}/seg0.ts\n#EXT-X-ENDLIST\n"
    )


@pytest.mark.parametrize(
    "method",
    [
        "AES-128",  # yt-dlp decrypts it itself (pycryptodomex): every request through the guard
        "SAMPLE-AES",  # yt-dlp hands it to ffmpeg: the ffmpeg it starts must use the guard too
    ],
)
def test_hls_key_on_a_refused_host_is_never_fetched(
    guarded, proxies, loopback_only, monkeypatch, tmp_path, ffmpeg, method
):
    # An ffmpeg on PATH (a system package, or a venv's bin/ under `uv run`) is what makes
    # yt-dlp hand AES-128 streams to ffmpeg when it cannot decrypt them itself.
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "ffmpeg").symlink_to(ffmpeg)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("no_proxy", NO_PROXY)
    monkeypatch.setenv("NO_PROXY", NO_PROXY)
    manifest_requests: list = []
    routes: dict = {}
    with serve(routes) as (server, base):
        port = server.server_address[1]
        routes["/x.m3u8"] = _recording(
            _hls(port, method).encode(), "application/vnd.apple.mpegurl", manifest_requests
        )
        routes["/key"] = _recording(b"k" * 16, "application/octet-stream", [])
        routes["/seg0.ts"] = _recording(b"\x47" * 188 * 10, "video/mp2t", [])
        with pytest.raises(URLNotAllowed) as err:
            ingest.ingest_source(f"{base}/x.m3u8")
    assert "localhost is not in ALLOWED_URL_HOSTS" in str(err.value)
    assert "/key" not in server.seen and "/seg0.ts" not in server.seen, server.seen
    assert loopback_only == []
    assert left_on_disk(guarded) == []
    if method == "SAMPLE-AES":
        # ffmpeg (it sends Icy-MetaData) did fetch the playlist, through the guard.
        assert any("Icy-MetaData" in headers for headers in manifest_requests)


def _trickle(seconds: int):
    """Announces 1000 bytes and sends one a second: never idle long enough to time out."""

    def send(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "video/mp4")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(seconds):
            h.wfile.write(b"\0")
            h.wfile.flush()
            time.sleep(1)

    return send


def test_a_trickling_download_is_stopped_at_the_deadline(guarded, proxies, monkeypatch):
    set_env(monkeypatch, DOWNLOAD_TIMEOUT_S="3")
    started = time.monotonic()
    with (
        serve({"/slow.mp4": _trickle(12)}) as (_, base),
        pytest.raises(errors.ReelflowError) as err,
    ):
        ingest.ingest_source(f"{base}/slow.mp4")
    elapsed = time.monotonic() - started
    assert type(err.value).__name__ == "DownloadTimedOut"
    assert (
        str(err.value) == "The download took longer than 3 s (DOWNLOAD_TIMEOUT_S) and was stopped"
    )
    assert is_permanent(err.value)
    assert elapsed < 8, f"stopped after {elapsed:.1f} s"
    assert left_on_disk(guarded) == []


def test_the_proxy_cuts_open_transfers_at_its_deadline(loopback_only):
    policy = UrlPolicy(("127.0.0.1",), allow_private=True)
    with (
        serve({"/slow": _trickle(10)}) as (server, _),
        GuardProxy(policy, max_bytes=2**20, deadline_s=1.5) as proxy,
    ):
        port = urlsplit(proxy.url).port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        started = time.monotonic()
        conn.request(
            "GET", f"http://127.0.0.1:{server.server_address[1]}/slow", headers=proxy_auth(proxy)
        )
        with pytest.raises((OSError, http.client.HTTPException)):
            conn.getresponse().read()
        assert 1.2 < time.monotonic() - started < 4
        assert isinstance(proxy.refusal, errors.DownloadTimedOut)
        conn.close()
        late = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        late.request(
            "GET", f"http://127.0.0.1:{server.server_address[1]}/slow", headers=proxy_auth(proxy)
        )
        assert late.getresponse().status == 403  # spent: nothing more goes through
        late.close()
    assert loopback_only == []


def test_the_ingest_task_is_bounded_by_the_deadline(monkeypatch):
    set_env(monkeypatch, DOWNLOAD_TIMEOUT_S="120")
    limit = ingest.ingest_task().timeout_seconds
    assert limit is not None and 120 < limit <= 300


# --- user names, passwords and query strings ------------------------------------------------


CREDENTIALS = [
    "https://user:secret@example.org/v.mp4",
    "https://user@example.org/v.mp4",
    "https://:secret@example.org/v.mp4",
    "http://user:secret@127.0.0.1:9/v.mp4",
]


@pytest.mark.parametrize("url", CREDENTIALS)
def test_urls_with_credentials_are_refused_everywhere(guarded, proxies, url):
    policy = UrlPolicy(("127.0.0.1", "example.org"), allow_private=True)
    for check in (precheck_url, check_url):
        with pytest.raises(URLNotAllowed) as err:
            check(url, policy)
        assert str(err.value) == "Refused URL: it carries a user name or password"
    with pytest.raises(URLNotAllowed, match="user name or password") as err:
        ingest.ingest_source(url)
    assert "secret" not in str(err.value)
    assert proxies == []


REDACTED = {
    "https://cdn.example/v.mp4?X-Amz-Signature=abc&token=s3cr3t": "https://cdn.example/v.mp4?…",
    "https://u:pw@cdn.example:8443/a/b.mp4#t=3": "https://cdn.example:8443/a/b.mp4",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ&si=tracking": (
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&…"
    ),
    "https://youtu.be/dQw4w9WgXcQ?si=tracking": "https://youtu.be/dQw4w9WgXcQ?…",
    "https://www.youtube.com/watch?v=../../x": "https://www.youtube.com/watch?…",
    "http://[::1]:8000/": "http://[::1]:8000/",
    "s3://bucket/uploads/ab/talk.mp4?versionId=1": "s3://bucket/uploads/ab/talk.mp4?…",
    "not a url": "not a url",
}


@pytest.mark.parametrize(("url", "shown"), REDACTED.items(), ids=list(REDACTED))
def test_redact_url(url, shown):
    from reelflow.redact import redact_url

    assert redact_url(url) == shown


def test_run_names_and_labels_show_no_query():
    from reelflow.redact import display_source

    url = "https://cdn.example/talks/v.mp4?X-Amz-Signature=abc&token=s3cr3t"
    label = ClipRequest(source=url).label()
    assert "s3cr3t" not in label and "Signature" not in label
    assert label == "cdn.example/talks/v.mp4?…"
    assert display_source(url) == "https://cdn.example/talks/v.mp4?…"
    assert display_source("/data/uploads/0123/talk.mp4") == "talk.mp4"
    assert (
        display_source("s3://bucket/uploads/0123/talk.mp4") == "s3://bucket/uploads/0123/talk.mp4"
    )


def test_download_errors_show_no_query(guarded):
    with serve({}) as (_, base), pytest.raises(SourceUnavailable) as err:
        ingest.ingest_source(f"{base}/gone.mp4?token=s3cr3t")
    assert "404" in str(err.value)
    assert "s3cr3t" not in str(err.value) and "gone.mp4" in str(err.value)


# --- private hosts: never the cloud metadata service ----------------------------------------


METADATA = ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254", "169.254.170.2"]


@pytest.mark.parametrize("address", METADATA)
def test_a_named_private_host_never_reaches_cloud_metadata(address):
    policy = UrlPolicy(("media.internal",), allow_private=True)
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return [address]

    with pytest.raises(URLNotAllowed, match="cloud metadata") as err:
        check_url("http://media.internal/v.mp4", policy, resolver=resolve)
    assert asked == ["media.internal"]
    assert is_permanent(err.value)
    # The same policy still opens the private address the operator meant.
    check_url("http://media.internal/v.mp4", policy, resolver=lambda h, p: ["10.0.0.5"])
