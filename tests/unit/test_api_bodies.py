"""Hostile request bodies and headers: each is a 400 (or 413/416) with a one-line reason,
never a 500. Before, an unknown multipart charset, too many parts, bytes that are not UTF-8,
deep nesting and 100k-digit numbers each raised out of the handler. In this process (Litestar's
test client) against the session's real Prefect server, no worker."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers.api import api_client, register_deployments, wait_for_run_id

KEY = "AIzaSy-TEST-KEY-bodies"
URL = "http://127.0.0.1:9/talk.mp4"


@pytest.fixture(scope="module")
def api(prefect_server, tmp_path_factory):
    register_deployments()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REELFLOW_DATA_DIR", str(tmp_path_factory.mktemp("bodies")))
        mp.setenv("ALLOWED_URL_HOSTS", "127.0.0.1")
        mp.setenv("ALLOW_PRIVATE_URLS", "true")
        from reelflow.settings import get_settings

        get_settings.cache_clear()
        with api_client() as client:
            yield client
        get_settings.cache_clear()


def form(*parts: tuple[bytes, bytes], boundary: bytes = b"xyzzy") -> bytes:
    """A multipart body from (part headers, part body) pairs, written by hand so it can be
    wrong in ways an HTTP library would not allow."""
    out = b""
    for headers, body in parts:
        out += b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + body + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


def field(name: str | bytes, value: bytes, extra: bytes = b"") -> tuple[bytes, bytes]:
    name = name if isinstance(name, bytes) else name.encode()
    return b'Content-Disposition: form-data; name="%s"%s' % (name, extra), value


FORM = "multipart/form-data; boundary=xyzzy"
JSON = "application/json"
DEEP = b'{"url": "%s", "captions": %s}' % (URL.encode(), b"[" * 40 + b"]" * 40)
CASES = {
    "unknown-charset": (
        form(field("url", URL.encode(), b"\r\nContent-Type: text/plain; charset=x-klingon")),
        FORM,
        "charset 'x-klingon', which is not supported",
    ),
    "codec-not-a-charset": (
        form(field("url", URL.encode(), b"\r\nContent-Type: text/plain; charset=rot13")),
        FORM,
        "charset 'rot13'",
    ),
    "too-many-parts": (
        form(*[field(f"f{i}", b"x") for i in range(40)]),
        FORM,
        "Maximum segment count exceeded (at most 20 parts",
    ),
    "huge-part-header": (
        form(field("url", b"x", b"; junk=" + b"j" * 100_000)),
        FORM,
        "header length exceeded",
    ),
    "field-not-utf8": (form(field("url", b"http://\xff\xfe/")), FORM, "'url' is not valid utf-8"),
    "header-not-utf8": (form(field(b"u\xffrl", b"x")), FORM, "headers are not valid UTF-8"),
    "form-look-100k-digits": (
        form(field("url", URL.encode()), field("captions", b"1" * 5000)),
        FORM,
        "5000 digits; at most 40",
    ),
    "form-look-deep": (
        form(field("url", URL.encode()), field("effects", b"[" * 5000)),
        FORM,
        "nested more than 32 levels",
    ),
    "long-boundary": (b"--" + b"b" * 200, "multipart/form-data; boundary=" + "b" * 200, "1-70"),
    "json-not-utf8": (b'{"url": "\xff\xfe"}', JSON, "not UTF-8"),
    "json-100k-digits": (
        b'{"url": "%s", "clips": 1%s}' % (URL.encode(), b"0" * 100_000),
        JSON,
        "100001 digits",
    ),
    "json-huge-float": (b'{"url": "%s", "min_seconds": 1e999}' % URL.encode(), JSON, "range"),
    "json-nan": (b'{"url": "%s", "max_seconds": NaN}' % URL.encode(), JSON, "NaN is not"),
    "json-deep-list": (b"[" * 100_000 + b"]" * 100_000, JSON, "nested more than 32"),
    "json-deep-field": (DEEP, JSON, "nested more than 32"),
    "json-upper-case-type": (b"[]", "Application/JSON; charset=utf-8", "must be an object"),
}


@pytest.mark.parametrize(("body", "content_type", "reason"), CASES.values(), ids=CASES.keys())
def test_hostile_bodies_are_400_with_one_line_reason(api, body, content_type, reason):
    r = api.post("/api/process", content=body,
                 headers={"X-Gemini-Key": KEY, "Content-Type": content_type})  # fmt: skip
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert reason in detail and "\n" not in detail and len(detail) < 300, detail


def test_restyle_bodies_are_held_to_the_same_rules(api):
    job = "00000000-0000-0000-0000-000000000000"
    r = api.post(f"/api/jobs/{job}/clips/1/render", json={}, headers={"X-Gemini-Key": ""})
    assert r.status_code == 400 and "X-Gemini-Key" in r.json()["detail"], "an empty key header"
    for body, reason in ((b'{"captions": 1e999}', "range"), (b"[" * 3000, "nested")):
        r = api.post(f"/api/jobs/{job}/clips/1/render", content=body,
                     headers={"Content-Type": JSON})  # fmt: skip
        assert r.status_code == 400 and reason in r.json()["detail"], r.text


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("a key with spaces", "no spaces"),
        ("k" * 1000, "1-256"),
        ("ключ", "ASCII"),
        (" \tkey", "no spaces"),
    ],
    ids=["spaces", "long", "non-ascii", "leading-blanks"],
)
def test_a_key_header_that_is_no_key_is_400(api, key, reason):
    r = api.post("/api/process", json={"url": URL, "provider": "local"},
                 headers={"X-Gemini-Key": key.encode()})  # fmt: skip
    assert r.status_code == 400 and reason in r.json()["detail"], r.text


def test_a_range_of_100k_digits_is_416(api):
    from reelflow.jobs import job_dir
    from reelflow.manifest import ClipEntry, Manifest, write_manifest

    r = api.post("/api/process", json={"url": URL, "provider": "local"},
                 headers={"X-Gemini-Key": KEY})  # fmt: skip
    job_id = r.json()["job_id"]
    wait_for_run_id(api, job_id)
    folder = job_dir(job_id)
    clip = ClipEntry(index=1, start=0, end=20, duration=20, file="clip_01.mp4",
                     thumbnail="clip_01.jpg")  # fmt: skip
    write_manifest(folder, Manifest(job_id=job_id, status="completed", clips=[clip]))
    (folder / "clip_01.mp4").write_bytes(b"\0" * 1000)
    url = f"/api/jobs/{job_id}/clips/1"
    assert api.get(url, headers={"Range": "bytes=10-19"}).status_code == 206
    for spec in ("bytes=" + "9" * 100_000 + "-", "bytes=-" + "1" * 5000, "bytes=0-" + "7" * 30):
        r = api.get(url, headers={"Range": spec})
        assert r.status_code == 416, (spec[:20], r.status_code)


def test_client_text_in_a_reason_stays_on_one_line(api):
    for look in ({"font": "Comic\nSans\r\n" * 50}, {"x\ny" * 100: 1}):
        r = api.post("/api/process", json={"url": URL, "provider": "local", "captions": look},
                     headers={"X-Gemini-Key": KEY})  # fmt: skip
        detail = r.json()["detail"]
        assert r.status_code == 400 and "\n" not in detail and len(detail) < 600, detail


def test_prefect_unreachable_is_503_not_500(prefect_server, data_dir):
    """A Prefect server that is down is a 503 with Retry-After, as documented."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tests.helpers.servers import free_port

    with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{free_port()}/api"}), \
            api_client() as client:  # fmt: skip
        for method, path in (("GET", f"/api/status/{uuid.uuid4()}"), ("GET", "/api/jobs")):
            r = client.request(method, path)
            assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
            assert "Prefect server is unreachable" in r.json()["detail"]
