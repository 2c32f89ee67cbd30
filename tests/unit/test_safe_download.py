"""Guarded downloads end to end: real yt-dlp runs through the guarding proxy against HTTP
servers on 127.0.0.1, with the resolver stubbed.

Nothing here may leave the machine, even if the guard were broken: `loopback_only` makes every
connection to an address outside 127.0.0.0/8 and ::1 fail (and records it), and every DNS
lookup of a name fail. Forbidden hosts exist only in the stub resolver, so a test can show
that the guard refuses them before any connection is tried.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import http.client
import ipaddress
import json
import socket
import ssl
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from reelflow import netguard
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
from reelflow.settings import get_settings
from tasks import ingest
from tests.helpers.media import make_media

MIB = 2**20
NAMES = {
    "metadata.example": ["169.254.169.254"],
    "intranet.example": ["10.0.0.5"],
    "sneaky.example": ["93.184.216.34", "10.0.0.5"],  # one public address does not save it
}


# --- the fence -------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch) -> list:
    """Connections and lookups that would leave the machine fail here and are listed."""
    blocked: list = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def allowed(sock: socket.socket, address) -> bool:
        return sock.family == socket.AF_UNIX or _is_loopback(str(address[0]))

    def connect(self, address):
        if not allowed(self, address):
            blocked.append(address)
            raise ConnectionRefusedError(f"test fence: {address} is not loopback")
        return real_connect(self, address)

    def connect_ex(self, address):
        if not allowed(self, address):
            blocked.append(address)
            return 111
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _is_loopback(str(host)):
            blocked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "test fence: no DNS")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return blocked


class StubResolver:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in NAMES:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return NAMES[host]


@pytest.fixture(autouse=True)
def resolver(monkeypatch) -> StubResolver:
    stub = StubResolver()
    monkeypatch.setattr(netguard, "resolve_addresses", stub)
    return stub


@pytest.fixture
def proxies(monkeypatch) -> list[GuardProxy]:
    """Every GuardProxy a download starts, to look at afterwards."""
    made: list[GuardProxy] = []

    class Recorded(GuardProxy):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(ingest, "GuardProxy", Recorded)
    return made


def _env(monkeypatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


@pytest.fixture
def guarded(data_dir, monkeypatch) -> Path:
    """The test servers' 127.0.0.1 named and opened; `*.example` allowed, public only."""
    _env(monkeypatch, ALLOW_PRIVATE_URLS="true", ALLOWED_URL_HOSTS="127.0.0.1,*.example")
    return data_dir


def _left_on_disk(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "downloads").rglob("*") if p.is_file()]


# --- loopback servers ------------------------------------------------------------------------


class _Routes(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None: ...

    def do_GET(self) -> None:
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404)
            return
        # The client (the proxy) may stop reading, as it should past the limit.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(self)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None: ...


@contextmanager
def serve(routes: dict, tls: ssl.SSLContext | None = None):
    server = _Server(("127.0.0.1", 0), _Routes)
    server.routes, server.seen = routes, []  # type: ignore[attr-defined]
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    scheme = "https" if tls else "http"
    try:
        yield server, f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def file_route(path: Path, content_type: str = "video/mp4"):
    def send(h: BaseHTTPRequestHandler) -> None:
        body = path.read_bytes()
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return send


def redirect_route(location: str):
    def send(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return send


def endless_route(size: int, content_length: int | None):
    """`size` bytes of a "video", announced with `content_length` (None: not at all)."""

    def send(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "video/mp4")
        if content_length is not None:
            h.send_header("Content-Length", str(content_length))
        h.end_headers()
        chunk = b"\0" * (256 * 1024)
        for _ in range(size // len(chunk)):
            h.wfile.write(chunk)

    return send


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
    assert _left_on_disk(guarded) == []


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
    _env(monkeypatch, MAX_VIDEO_MINUTES="0.05")  # 3 s; the direct link has no metadata
    with (
        serve({"/long.mp4": file_route(media.long)}) as (_, base),
        pytest.raises(VideoTooLong, match=r"the limit is 0\.05 min"),
    ):
        ingest.ingest_source(f"{base}/long.mp4")
    assert _left_on_disk(guarded) == []


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
    assert _left_on_disk(guarded) == []


SIZES = {
    "no-content-length": None,
    "content-length-understated": 1000,
    "content-length-honest": ingest.PROXY_SLACK_BYTES + 4 * MIB,
}


@pytest.mark.parametrize("announced", SIZES.values(), ids=SIZES.keys())
def test_download_larger_than_the_limit_is_stopped(guarded, proxies, monkeypatch, announced):
    _env(monkeypatch, MAX_FILE_SIZE_MB="1")
    size = ingest.PROXY_SLACK_BYTES + 4 * MIB
    with (
        serve({"/big.mp4": endless_route(size, announced)}) as (_, base),
        pytest.raises(ReelflowError) as err,
    ):
        ingest.ingest_source(f"{base}/big.mp4")
    expected = (DownloadTooLarge, NotAVideo) if announced == 1000 else DownloadTooLarge
    assert isinstance(err.value, expected), err.value
    assert is_permanent(err.value)
    assert _left_on_disk(guarded) == []
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


def _auth(proxy: GuardProxy) -> dict[str, str]:
    parts = urlsplit(proxy.url)
    token = base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()
    return {"Proxy-Authorization": f"Basic {token}"}


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
        status, body = _through_tunnel(proxy, "127.0.0.1", port, "/clip.mp4", _auth(proxy))
        assert (status, body) == (200, media.short.read_bytes())

        with pytest.raises(OSError, match="407"):  # no password: other programs cannot use it
            _through_tunnel(proxy, "127.0.0.1", port, "/clip.mp4", {})

        with pytest.raises(OSError, match="403"):
            _through_tunnel(proxy, "intranet.example", 443, "/", _auth(proxy))
        assert isinstance(proxy.refusal, URLNotAllowed)
        assert "10.0.0.5, a private address" in caplog.text

        with pytest.raises((OSError, http.client.HTTPException)):
            _through_tunnel(proxy, "127.0.0.1", port, "/big", _auth(proxy))
        assert isinstance(proxy.refusal, DownloadTooLarge)
        assert proxy.bytes_received <= 2 * MIB + 64 * 1024

        with pytest.raises(OSError, match="403"):  # spent: nothing more goes through
            _through_tunnel(proxy, "127.0.0.1", port, "/clip.mp4", _auth(proxy))
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
