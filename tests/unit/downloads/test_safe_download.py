"""Guarded downloads end to end: real yt-dlp runs through the guarding proxy against HTTP
servers on 127.0.0.1, behind the fence of this folder's conftest.py (nothing leaves 127.0.0.1,
DNS is a stub)."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import ssl
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from reelflow.errors import (
    DownloadTooLarge,
    NotAVideo,
    ReelflowError,
    SourceUnavailable,
    URLNotAllowed,
    VideoTooLong,
    is_permanent,
)
from reelflow.guard_proxy import GuardProxy
from reelflow.netguard import UrlPolicy
from reelflow.safe_names import clean_title, safe_filename
from tasks import ingest
from tests.helpers.media import make_media
from tests.unit.downloads.conftest import (
    endless_route,
    file_route,
    left_on_disk,
    proxy_auth,
    redirect_route,
    serve,
    set_env,
)

MIB = 2**20


@pytest.fixture(scope="module")
def media(tmp_path_factory, ffmpeg) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("media")

    def clip(name: str, seconds: int) -> Path:
        return make_media(
            ffmpeg, folder / name,
            "-f", "lavfi", "-i", f"color=c=blue:s=64x64:r=5:d={seconds}",
            "-f", "lavfi", "-i", f"sine=f=440:d={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "32k", "-shortest",
        )  # fmt: skip

    return SimpleNamespace(short=clip("short.mp4", 2), long=clip("long.mp4", 6))


# --- downloads -------------------------------------------------------------------------------


def test_direct_link_goes_through_the_guard(guarded, media, proxies, loopback_only):
    with serve({"/talk.mp4": file_route(media.short)}) as (_, base):
        info = ingest.ingest_source(f"{base}/talk.mp4")
    assert info.duration_s == pytest.approx(2, abs=0.2)
    assert Path(info.path).name == "source.mp4"
    assert Path(info.path).is_relative_to(guarded / "downloads")
    [proxy] = proxies
    assert proxy.refusal is None
    assert proxy.bytes_received >= media.short.stat().st_size
    assert loopback_only == []


def test_redirect_chain_is_checked_hop_by_hop(guarded, media, proxies):
    with (
        serve({"/clip.mp4": file_route(media.short)}) as (second, second_url),
        serve({"/start": redirect_route(f"{second_url}/clip.mp4")}) as (first, first_url),
    ):
        info = ingest.ingest_source(f"{first_url}/start")
    assert info.duration_s == pytest.approx(2, abs=0.2)
    assert "/start" in first.seen
    assert "/clip.mp4" in second.seen
    assert proxies[0].refusal is None


FORBIDDEN_HOPS = [
    ("http://metadata.example/latest/meta-data/", "169.254.169.254, the cloud metadata"),
    ("http://intranet.example:8080/admin", "10.0.0.5, a private address"),
    ("http://sneaky.example/a.mp4", "sneaky.example resolves to 10.0.0.5"),
    ("http://127.0.0.2:{port}/clip.mp4", "127.0.0.2 is not in ALLOWED_URL_HOSTS"),
    ("http://2130706433:{port}/clip.mp4", "2130706433 means 127.0.0.1"),
    ("http://[::ffff:a9fe:a9fe]/", "is not in ALLOWED_URL_HOSTS"),
]


@pytest.mark.parametrize(
    ("location", "reason"), FORBIDDEN_HOPS, ids=[urlsplit(h).netloc for h, _ in FORBIDDEN_HOPS]
)
def test_redirect_to_a_forbidden_host_is_refused_before_connecting(
    guarded, proxies, resolver, loopback_only, location, reason
):
    routes: dict = {}
    with serve(routes) as (server, base):
        routes["/start"] = redirect_route(location.format(port=server.server_address[1]))
        with pytest.raises(URLNotAllowed) as err:
            ingest.ingest_source(f"{base}/start")
    assert reason in str(err.value)
    assert is_permanent(err.value)
    assert set(server.seen) == {"/start"}
    assert loopback_only == []  # no connection tried outside loopback, no real DNS lookup
    host = urlsplit(location).hostname or ""
    if host.endswith(".example"):
        assert resolver.asked == [host]  # looked up by the guard (the stub), then refused
    assert isinstance(proxies[0].refusal, URLNotAllowed)
    assert left_on_disk(guarded) == []


@pytest.mark.parametrize(
    "source",
    [
        "http://127.0.0.1:9/a.mp4",
        "http://localhost:9/a.mp4",
        "http://intranet.example/a.mp4",
        "http://[::1]:9/",
        "file:///etc/passwd",
        "ftp://127.0.0.1/a.mp4",
    ],
)
def test_refused_url_starts_no_download(data_dir, proxies, loopback_only, source):
    with pytest.raises(URLNotAllowed, match=r"^Refused URL: "):
        ingest.ingest_source(source)
    assert proxies == []
    assert loopback_only == []


def test_video_longer_than_the_limit_is_refused_and_removed(guarded, media, monkeypatch):
    set_env(monkeypatch, MAX_VIDEO_MINUTES="0.05")  # 3 s; the direct link has no metadata
    with (
        serve({"/long.mp4": file_route(media.long)}) as (_, base),
        pytest.raises(VideoTooLong, match=r"the limit is 0\.05 min"),
    ):
        ingest.ingest_source(f"{base}/long.mp4")
    assert left_on_disk(guarded) == []


def test_video_longer_than_the_limit_by_metadata_is_refused_first(guarded, media, tmp_path):
    routes = {"/v.mp4": file_route(media.short)}
    with serve(routes) as (_, base):
        ld = {"@context": "https://schema.org", "@type": "VideoObject", "name": "Long talk"}
        ld |= {"duration": "PT5H", "contentUrl": f"{base}/v.mp4", "uploadDate": "2024-01-01"}
        page = f'<script type="application/ld+json">{json.dumps(ld)}</script>'
        (tmp_path / "page.html").write_text(f"<html><head>{page}</head></html>")
        routes["/watch"] = file_route(tmp_path / "page.html", "text/html")
        with pytest.raises(VideoTooLong, match="300 min long; the limit is 180 min"):
            ingest.ingest_source(f"{base}/watch")
    assert left_on_disk(guarded) == []


SIZES = {
    "no-content-length": None,
    "content-length-understated": 1000,
    "content-length-honest": ingest.PROXY_SLACK_BYTES + 4 * MIB,
}


@pytest.mark.parametrize("announced", SIZES.values(), ids=SIZES.keys())
def test_download_larger_than_the_limit_is_stopped(guarded, proxies, monkeypatch, announced):
    set_env(monkeypatch, MAX_FILE_SIZE_MB="1")
    size = ingest.PROXY_SLACK_BYTES + 4 * MIB
    with (
        serve({"/big.mp4": endless_route(size, announced)}) as (_, base),
        pytest.raises(ReelflowError) as err,
    ):
        ingest.ingest_source(f"{base}/big.mp4")
    expected = (DownloadTooLarge, NotAVideo) if announced == 1000 else DownloadTooLarge
    assert isinstance(err.value, expected), err.value
    assert is_permanent(err.value)
    assert left_on_disk(guarded) == []
    # The proxy passed on no more than its budget (one read of 64 KiB may cross the line).
    assert all(p.bytes_received <= p.budget + 64 * 1024 for p in proxies)
    if announced is None:
        assert "grew past 1 MB (MAX_FILE_SIZE_MB)" in str(err.value)


def test_metadata_refusals_before_download():
    check = ingest._entry_filter(limit_min=10)
    with pytest.raises(VideoTooLong, match="60 min long; the limit is 10 min"):
        check({"duration": 3600}, incomplete=True)
    with pytest.raises(SourceUnavailable, match="Live streams"):
        check({"is_live": True})
    with pytest.raises(URLNotAllowed, match="rtmp"):
        check({"protocol": "rtmp", "duration": 60})
    with pytest.raises(URLNotAllowed, match="rtsp"):
        check({"protocol": "https+rtsp"})
    assert check({"protocol": "https+m3u8_native", "duration": 60}) is None
    assert check({"protocol": "rtmp"}, incomplete={"formats"}) is None  # not chosen yet


def test_hostile_title_stays_data(guarded, media, tmp_path):
    title = '../../etc/passwd\n"quoted" #hash \u202eevil\x00' + "x" * 400
    page = f"<html><head><title>{title}</title></head><body>"
    page += '<video src="/v.mp4" type="video/mp4"></video></body></html>'
    routes = {"/v.mp4": file_route(media.short)}
    with serve(routes) as (_, base):
        (tmp_path / "page.html").write_text(page)
        routes["/watch"] = file_route(tmp_path / "page.html", "text/html; charset=utf-8")
        info = ingest.ingest_source(f"{base}/watch")
    assert Path(info.path).parent.parent == guarded / "downloads"
    assert Path(info.path).name == "source.mp4"
    assert info.title is not None
    assert info.title.startswith('../../etc/passwd "quoted" #hash')
    assert "\n" not in info.title and "\x00" not in info.title and "\u202e" not in info.title
    assert len(info.title) <= 300
    assert json.loads(info.model_dump_json())["title"] == info.title


def test_https_goes_through_a_checked_tunnel(guarded, media, proxies, monkeypatch, tmp_path):
    tls, ca_file = _self_signed_tls(tmp_path)
    import yt_dlp.networking._helper as ytdlp_net

    monkeypatch.setattr(ytdlp_net, "certifi", SimpleNamespace(where=lambda: str(ca_file)))
    with serve({"/clip.mp4": file_route(media.short)}, tls=tls) as (server, base):
        info = ingest.ingest_source(f"{base}/clip.mp4")
    assert info.duration_s == pytest.approx(2, abs=0.2)
    assert proxies[0].bytes_received > media.short.stat().st_size  # TLS adds its own bytes
    assert "/clip.mp4" in server.seen


def _self_signed_tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    pytest.importorskip("cryptography")  # present with the project's dependencies
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


# --- the proxy on its own --------------------------------------------------------------------


def _through_tunnel(proxy: GuardProxy, host: str, port: int, path: str, headers: dict):
    conn = http.client.HTTPConnection("127.0.0.1", urlsplit(proxy.url).port, timeout=10)
    conn.set_tunnel(host, port, headers=headers)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_proxy_connect_tunnel_checks_and_counts(media, loopback_only, caplog):
    policy = UrlPolicy(("127.0.0.1", "*.example"), allow_private=True)
    routes = {"/clip.mp4": file_route(media.short), "/big": endless_route(8 * MIB, None)}
    with serve(routes) as (server, _), GuardProxy(policy, max_bytes=2 * MIB) as proxy:
        port = server.server_address[1]
        status, body = _through_tunnel(proxy, "127.0.0.1", port, "/clip.mp4", proxy_auth(proxy))
        assert (status, body) == (200, media.short.read_bytes())

        with pytest.raises(OSError, match="407"):  # no password: other programs cannot use it
            _through_tunnel(proxy, "127.0.0.1", port, "/clip.mp4", {})

        with pytest.raises(OSError, match="403"):
            _through_tunnel(proxy, "intranet.example", 443, "/", proxy_auth(proxy))
        assert isinstance(proxy.refusal, URLNotAllowed)
        assert "10.0.0.5, a private address" in caplog.text

        with pytest.raises((OSError, http.client.HTTPException)):
            _through_tunnel(proxy, "127.0.0.1", port, "/big", proxy_auth(proxy))
        assert isinstance(proxy.refusal, DownloadTooLarge)
        assert proxy.bytes_received <= 2 * MIB + 64 * 1024

        with pytest.raises(OSError, match="403"):  # spent: nothing more goes through
            _through_tunnel(proxy, "127.0.0.1", port, "/clip.mp4", proxy_auth(proxy))
    assert loopback_only == []


# --- names -----------------------------------------------------------------------------------

HOSTILE_NAMES = {
    "../../etc/passwd": "passwd",
    "..": "video",
    "...": "video",
    "": "video",
    "/abs/path/talk.mp4": "talk.mp4",
    "C:\\Users\\me\\talk.mov": "talk.mov",
    ".hidden.mp4": "hidden.mp4",
    "-i evil.mp4": "i evil.mp4",
    "concat:a.mp4|b.mp4": "concat_a.mp4_b.mp4",
    "a'b\"c`d.mp4": "a_b_c_d.mp4",
    "clip #1; rm -rf ~.mp4": "clip _1_ rm -rf.mp4",
    "line\nbreak\r\0nul.mp4": "line_break_nul.mp4",
    "rtl\u202egnp.exe": "rtl_gnp.exe",
    "Été à Zürich 東京.mp4": "Été à Zürich 東京.mp4",
    "scale=1:2,drawtext=x[out].mp4": "scale_1_2_drawtext_x_out.mp4",
    "%2e%2e%2fx.mp4": "2e_2e_2fx.mp4",
}


@pytest.mark.parametrize(("name", "expected"), HOSTILE_NAMES.items(), ids=repr)
def test_safe_filename(name, expected):
    assert safe_filename(name) == expected


def test_safe_filename_caps_length_and_keeps_the_extension():
    long = safe_filename("é" * 300 + ".mp4")
    assert long.endswith(".mp4")
    assert len(long.encode()) <= 120
    assert safe_filename("a" * 500).startswith("a") and len(safe_filename("a" * 500)) <= 120
    assert safe_filename(None, fallback="upload") == "upload"


def test_clean_title():
    assert clean_title(' Title\n\twith  "breaks"\x00 ') == 'Title with "breaks"'
    assert clean_title("\n\x00\u200b") is None
    assert clean_title(None) is None
    assert len(clean_title("t" * 1000) or "") == 300
