"""URL validation: every refusal is checked here without a connection or a real DNS lookup
(the resolver is a stub that records what it was asked)."""

from __future__ import annotations

import socket

import pytest

from reelflow import netguard
from reelflow.errors import SourceUnavailable, TransientSourceError, URLNotAllowed, is_permanent
from reelflow.netguard import UrlPolicy, check_url, precheck_url
from reelflow.settings import Settings

NAMES = {
    "video.example": ["93.184.216.34", "2606:2800:220:1::1"],
    "intranet.example": ["10.0.0.5"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": ["93.184.216.34", "192.168.1.10"],  # one bad address is enough
    "cgnat.example": ["100.64.3.4"],
    "mapped.example": ["::ffff:10.0.0.5"],
    "v6local.example": ["fe80::1%eth0"],
    "localhost": ["127.0.0.1", "::1"],
    "dev.local.test": ["127.0.0.1"],
}


class StubResolver:
    def __init__(self, names: dict[str, list[str]]):
        self.names = names
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.names[host]


@pytest.fixture
def resolver(monkeypatch) -> StubResolver:
    stub = StubResolver(NAMES)
    monkeypatch.setattr(netguard, "resolve_addresses", stub)
    return stub


OPEN = UrlPolicy()

REFUSED = [
    # (url, a fragment of the reason)
    ("file:///etc/passwd", "'file:' is not allowed"),
    ("data:text/plain,hello", "'data:' is not allowed"),
    ("ftp://video.example/a.mp4", "'ftp:' is not allowed"),
    ("gopher://video.example/", "'gopher:' is not allowed"),
    ("//video.example/a.mp4", "missing scheme"),
    ("http:///a.mp4", "names no host"),
    ("http://10.0.0.5/", "10.0.0.5 is a private address"),
    ("http://172.16.0.1/", "private address"),
    ("http://192.168.0.1/", "private address"),
    ("http://127.0.0.1/", "loopback"),
    ("http://127.9.9.9:8080/", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://169.254.1.1/", "link-local"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://224.0.0.1/", "multicast"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://255.255.255.255/", "reserved"),
    ("http://240.0.0.1/", "reserved"),
    ("http://192.0.2.1/", "special-use"),
    ("http://2130706433/", "2130706433 means 127.0.0.1, a loopback"),
    ("http://0177.0.0.1/", "0177.0.0.1 means 127.0.0.1"),
    ("http://0x7f.1/", "0x7f.1 means 127.0.0.1"),
    ("http://0x7f000001/", "means 127.0.0.1"),
    ("http://127.1/", "127.1 means 127.0.0.1"),
    ("http://012.0.0.5/", "means 10.0.0.5, a private"),
    ("http://0x5d.0xb8.0xd8.0x22/", "odd way to write 93.184.216.34"),
    ("http://1.2.3.4.5/", "neither a host name nor an IP address"),
    ("http://[::1]/", "::1 is a loopback"),
    ("http://[::]/", "unspecified"),
    ("http://[::ffff:127.0.0.1]/", "around 127.0.0.1, a loopback"),
    ("http://[::ffff:a9fe:a9fe]/", "around 169.254.169.254"),
    ("http://[::127.0.0.1]/", "around 127.0.0.1"),
    ("http://[64:ff9b::a00:5]/", "around 10.0.0.5"),
    ("http://[2002:7f00:1::1]/", "around 127.0.0.1"),
    ("http://[2002:a00:5::1]/", "around 10.0.0.5"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "around 192.0.2.45"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fe80::1%25eth0]/", "zone id"),
    ("http://[fec0::1]/", "site-local"),
    ("http://[fc00::1]/", "private"),
    ("http://[ff02::1]/", "multicast"),
    ("http://[::1/", "cannot be parsed"),
    ("http://video.example@127.0.0.1/", "127.0.0.1 is a loopback"),
    ("http://video.example:pw@10.0.0.5:80/", "10.0.0.5 is a private"),
    ("http://127.0.0.1./", "127.0.0.1 is a loopback"),
    ("http://127.0.0.1../", "127.0.0.1 is a loopback"),
    ("http://exa..mple/", "not a valid host name"),
    ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "127.0.0.1 is a loopback"),  # full-width
    ("http://127.0.0.1\\@video.example/", "backslashes"),
    ("http://video.example /", "spaces"),
    ("http://video.example/\r\nHost: 10.0.0.5", "control characters"),
    ("http://video.example:99999/", "bad port"),
    ("http://video.example:0/", "port 0"),
    ("http://%31%32%37.0.0.1/", "%-escape"),
    ("http://localhost/", "localhost resolves to 127.0.0.1"),
    ("http://a.b.localhost:8000/", "loopback"),
    ("http://intranet.example/", "intranet.example resolves to 10.0.0.5, a private address"),
    ("http://metadata.example/", "resolves to 169.254.169.254, the cloud metadata"),
    ("http://mixed.example/", "resolves to 192.168.1.10"),
    ("http://cgnat.example/", "carrier-grade NAT"),
    ("http://mapped.example/", "around 10.0.0.5"),
    ("http://v6local.example/", "link-local"),
    ("http://INTRANET.Example./x", "intranet.example resolves to 10.0.0.5"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED, ids=[u[:60] for u, _ in REFUSED])
def test_refused(resolver, url, reason):
    with pytest.raises(URLNotAllowed) as err:
        check_url(url, OPEN)
    assert reason in str(err.value)
    assert str(err.value).startswith("Refused URL: ")
    assert is_permanent(err.value)


ALLOWED = [
    "http://video.example/a.mp4",
    "https://video.example:8443/watch?v=1#t=3",
    "HTTPS://Video.Example./a.mp4",
    "http://93.184.216.34/a.mp4",
    "http://[2606:2800:220:1::1]/a.mp4",
    "http://[64:ff9b::5db8:d822]/a.mp4",  # NAT64 of a public address (IPv6-only hosts)
    "http://user:pw@video.example/a.mp4",
]


@pytest.mark.parametrize("url", ALLOWED)
def test_allowed(resolver, url):
    check_url(url, OPEN)


def test_precheck_answers_without_dns(resolver):
    """The API's fast check: scheme, literal addresses, allowlist; names are left for later."""
    for url, _ in REFUSED:
        host_is_literal = not any(n in url.lower() for n in NAMES if n != "localhost")
        if host_is_literal:
            with pytest.raises(URLNotAllowed):
                precheck_url(url, OPEN)
    assert precheck_url("http://intranet.example/x", OPEN).host == "intranet.example"
    assert resolver.asked == []


def test_allowlist():
    policy = UrlPolicy(allowed_hosts=netguard.parse_host_patterns("*.youtube.com, example.org"))
    precheck_url("https://www.youtube.com/watch?v=x", policy)
    precheck_url("https://m.www.youtube.com/", policy)
    precheck_url("https://EXAMPLE.org./a.mp4", policy)
    for url in (
        "https://youtube.com/",  # *.youtube.com is the subdomains only
        "https://evilyoutube.com/",
        "https://youtube.com.evil.example/",
        "https://www.example.org/",
        "https://example.org@evil.example/",
        "http://93.184.216.34/",
    ):
        with pytest.raises(URLNotAllowed, match="not in ALLOWED_URL_HOSTS"):
            precheck_url(url, policy)


def test_private_only_for_hosts_named_exactly(resolver):
    policy = UrlPolicy(netguard.parse_host_patterns("127.0.0.1,localhost,*.local.test"), True)
    check_url("http://127.0.0.1:8000/a.mp4", policy)
    check_url("http://localhost:8000/a.mp4", policy)
    with pytest.raises(URLNotAllowed, match="loopback"):  # a wildcard never opens them
        check_url("http://dev.local.test/", policy)
    with pytest.raises(URLNotAllowed, match="not in ALLOWED_URL_HOSTS"):
        check_url("http://127.0.0.2/", policy)
    with pytest.raises(URLNotAllowed, match="not in ALLOWED_URL_HOSTS"):
        check_url("http://[::1]/", policy)
    with pytest.raises(URLNotAllowed, match=r"127\.1 means 127\.0\.0\.1"):
        check_url("http://127.1/", UrlPolicy(("127.1", "127.0.0.1"), True))
    # Off by default: naming a host is not enough.
    with pytest.raises(URLNotAllowed, match="loopback"):
        check_url("http://127.0.0.1/", UrlPolicy(("127.0.0.1",), False))


def test_never_opened_even_when_named():
    policy = UrlPolicy(("0.0.0.0", "224.0.0.1", "240.0.0.1"), True)
    for url in ("http://0.0.0.0/", "http://224.0.0.1/", "http://240.0.0.1/"):
        with pytest.raises(URLNotAllowed):
            check_url(url, policy)


def test_dns_failures(resolver, monkeypatch):
    with pytest.raises(SourceUnavailable, match="does not exist") as err:
        check_url("http://nowhere.example/", OPEN)
    assert is_permanent(err.value)

    def flaky(host, port):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(netguard, "resolve_addresses", flaky)
    with pytest.raises(TransientSourceError):
        check_url("http://video.example/", OPEN)


def test_policy_from_settings():
    s = Settings(ALLOWED_URL_HOSTS="*.YouTube.com, [::1] example.org.", ALLOW_PRIVATE_URLS=True)
    policy = UrlPolicy.from_settings(s)
    assert policy.allowed_hosts == ("*.youtube.com", "::1", "example.org")
    assert policy.allow_private
    assert UrlPolicy.from_settings(Settings()) == UrlPolicy((), False)
    with pytest.raises(ValueError, match="not a host pattern"):
        netguard.parse_host_patterns("exa mple/, bad/host")
