"""Which URLs reelflow may fetch: one policy for the API, the CLI and the flows.

A server that downloads whatever URL a caller names can be made to fetch what only the server
can reach (server-side request forgery): cloud metadata at 169.254.169.254, admin pages on
10.x, services on localhost. So a URL must be http(s) without a user name or password, its
host must pass ALLOWED_URL_HOSTS, and every address the host resolves to must be a public
unicast address (ALLOW_PRIVATE_URLS opens private ones to hosts named exactly, never the cloud
metadata addresses).

`precheck_url` answers without DNS (the API calls it at submission); `check_url` also resolves
the host. Neither closes the DNS-rebinding gap on its own (the name may resolve elsewhere a
moment later): `reelflow.guard_proxy` checks each request of a download, redirects included,
with `checked_addresses` and connects to exactly the address that was checked.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from reelflow.errors import SourceUnavailable, TransientSourceError, URLNotAllowed
from reelflow.settings import Settings, get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Iterable[str]]

SCHEMES = ("http", "https")
MAX_URL_LENGTH = 4096
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Never a legitimate text in a URL; parsers disagree on them (a backslash is a path separator
# to browsers and part of the user name to urllib), so refuse rather than guess.
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_HOST_CHARS = re.compile(r"[a-z0-9._-]+")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
# Cloud metadata and credential services: never fetched, even for a host that ALLOW_PRIVATE_URLS
# opens (a listed name whose DNS is changed to point here would hand out the server's keys).
_METADATA = {
    ipaddress.ip_address(address): phrase
    for address, phrase in {
        "169.254.169.254": "the cloud metadata address (link-local)",
        "fd00:ec2::254": "the cloud metadata address (AWS, IPv6)",
        "169.254.170.2": "a cloud metadata address (AWS ECS task credentials)",
        "169.254.170.23": "a cloud metadata address (AWS EKS pod credentials)",
        "fd00:ec2::23": "a cloud metadata address (AWS EKS pod credentials)",
        "100.100.100.200": "a cloud metadata address (Alibaba Cloud)",
    }.items()
}
# What ALLOW_PRIVATE_URLS may open for a host named in ALLOWED_URL_HOSTS. Multicast, broadcast,
# unspecified and reserved addresses stay closed: no HTTP server lives there.
_EXEMPTABLE = {"loopback", "private", "link-local", "shared", "site-local"}
_PHRASES = {
    "unspecified": "an unspecified address",
    "shared": "a carrier-grade NAT address",
    "special-use": "a special-use (non-public) address",
}


@dataclass(frozen=True)
class UrlPolicy:
    """What may be fetched. Host patterns are `example.org` (that host) or `*.example.org`
    (its subdomains, not example.org itself); an empty tuple allows every public host."""

    allowed_hosts: tuple[str, ...] = ()
    allow_private: bool = False

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> UrlPolicy:
        s = settings or get_settings()
        return cls(parse_host_patterns(s.allowed_url_hosts), s.allow_private_urls)

    def allows_host(self, host: str) -> bool:
        if not self.allowed_hosts:
            return True
        return any(
            host == p or (p.startswith("*.") and host.endswith(p[1:])) for p in self.allowed_hosts
        )

    def names_host(self, host: str) -> bool:
        """Named exactly: a wildcard never opens private addresses."""
        return host in self.allowed_hosts


@dataclass(frozen=True)
class Target:
    """A URL's scheme, normalised host and port; `address` when the host is an IP literal."""

    scheme: str
    host: str
    port: int
    address: IPAddress | None


def parse_host_patterns(text: str) -> tuple[str, ...]:
    """`*.youtube.com, example.org` -> normalised patterns; a bad one is a settings error."""
    patterns = []
    for raw in re.split(r"[,\s]+", text.strip()):
        if not raw:
            continue
        wildcard = raw.startswith("*.")
        try:
            host = normalize_host(raw[2:] if wildcard else raw.strip("[]"))
        except URLNotAllowed as exc:
            raise ValueError(f"ALLOWED_URL_HOSTS: {raw!r} is not a host pattern") from exc
        patterns.append(f"*.{host}" if wildcard else host)
    return tuple(patterns)


def precheck_url(url: str, policy: UrlPolicy | None = None) -> Target:
    """Refuse what can be told without DNS: scheme, odd characters, literal addresses, the
    allowlist. Raises URLNotAllowed with the reason."""
    policy = policy or UrlPolicy.from_settings()
    target = parse_url(url)
    _check_allowlist(target.host, policy)
    if target.address is not None:
        _check_address(target.host, target.address, policy, resolved=False)
    elif target.host == "localhost" or target.host.endswith(".localhost"):
        # RFC 6761: always loopback, whatever DNS says, so refuse it without asking.
        _check_address(target.host, ipaddress.ip_address("127.0.0.1"), policy, resolved=True)
    return target


def check_url(url: str, policy: UrlPolicy | None = None, resolver: Resolver | None = None) -> None:
    """`precheck_url`, then resolve the host and check every address it resolves to."""
    policy = policy or UrlPolicy.from_settings()
    target = precheck_url(url, policy)
    checked_addresses(target.host, target.port, policy, resolver)


def checked_addresses(
    host: str, port: int, policy: UrlPolicy, resolver: Resolver | None = None
) -> list[IPAddress]:
    """The addresses to connect to for host:port, every one of them allowed; else raise."""
    host = normalize_host(host)
    _check_allowlist(host, policy)
    literal = literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        addresses = _resolve(host, port, resolver or resolve_addresses)
    for address in addresses:
        _check_address(host, address, policy, resolved=literal is None)
    return addresses


def resolve_addresses(host: str, port: int) -> list[str]:
    """The system resolver; tests replace this module attribute with a stub."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def parse_url(url: str) -> Target:
    if len(url) > MAX_URL_LENGTH:
        raise URLNotAllowed(f"Refused URL: longer than {MAX_URL_LENGTH} characters")
    if _BAD_URL_CHARS.search(url):
        raise URLNotAllowed("Refused URL: it contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # for example an unclosed [ in the host
        raise URLNotAllowed(f"Refused URL: it cannot be parsed ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        shown = f"'{scheme}:'" if scheme else "a missing scheme"
        raise URLNotAllowed(f"Refused URL: {shown} is not allowed; use http:// or https://")
    try:
        raw_host, port = parts.hostname, parts.port
    except ValueError as exc:  # a port that is not a number or out of range
        raise URLNotAllowed(f"Refused URL: bad port ({exc})") from exc
    if not raw_host:
        raise URLNotAllowed("Refused URL: it names no host")
    if parts.username is not None or parts.password is not None:
        # URLs are stored in job parameters, shown in the UI and written to logs: no place for
        # a password (and `http://good.example@10.0.0.5/` reads as a host it is not).
        raise URLNotAllowed("Refused URL: it carries a user name or password")
    if port == 0:
        raise URLNotAllowed("Refused URL: port 0")
    host = normalize_host(raw_host)
    return Target(scheme, host, port or _DEFAULT_PORTS[scheme], literal_address(host))


def normalize_host(raw: str) -> str:
    """Lower case, ASCII (IDNA), no trailing dot; refuse zone ids and odd characters.

    IDNA runs first because its normalisation turns full-width digits into ASCII ones: the
    literal-address check must see what the resolver would."""
    host = raw.strip().lower().rstrip(".")
    if "%" in host:
        raise URLNotAllowed(f"Refused URL: {raw} has a zone id or a %-escape in its host")
    if ":" in host:  # only an IPv6 literal has colons (urlsplit took the brackets off)
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError as exc:
            raise URLNotAllowed(f"Refused URL: {raw} is not a valid IPv6 address") from exc
    try:
        host = host.encode("idna").decode("ascii").lower().rstrip(".")
    except UnicodeError as exc:
        raise URLNotAllowed(f"Refused URL: {raw} is not a valid host name") from exc
    if not host or not _HOST_CHARS.fullmatch(host):
        raise URLNotAllowed(f"Refused URL: {raw} is not a valid host name")
    return host


def literal_address(host: str) -> IPAddress | None:
    """The IP address a host spells, in any form a resolver accepts (127.1, 0x7f.1, 0177.0.0.1,
    2130706433); None for a name. Refuses odd spellings of an address, even a public one:
    HTTP stacks disagree on them."""
    if ":" in host:
        return ipaddress.IPv6Address(host)
    labels = host.split(".")
    if not re.fullmatch(r"\d+|0x[0-9a-f]*", labels[-1]):
        return None
    address = _inet_aton(labels)
    if address is None:
        raise URLNotAllowed(f"Refused URL: {host} is neither a host name nor an IP address")
    if str(address) != host:
        problem = address_problem(address)
        if problem:
            raise URLNotAllowed(f"Refused URL: {host} means {address}, {problem}")
        raise URLNotAllowed(f"Refused URL: {host} is an odd way to write {address}; write that")
    return address


def _inet_aton(labels: list[str]) -> ipaddress.IPv4Address | None:
    # inet_aton(3) rules, which getaddrinfo applies: 1-4 parts, each decimal, octal (leading 0)
    # or hex (0x); the last part fills the bytes the others leave.
    if len(labels) > 4:
        return None
    numbers = []
    for label in labels:
        if re.fullmatch(r"0x[0-9a-f]*", label):
            numbers.append(int(label[2:] or "0", 16))
        elif re.fullmatch(r"0[0-7]*", label):
            numbers.append(int(label, 8))
        elif re.fullmatch(r"[1-9]\d*", label):
            numbers.append(int(label))
        else:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def address_problem(address: IPAddress) -> str | None:
    """Why an address may not be fetched ('a private address'), or None for a public one."""
    kind = address_kind(address)
    if kind is None:
        return None
    embedded = _embedded_ipv4(address)
    if embedded is not None and address_kind(embedded) is not None:
        return f"an IPv6 address around {embedded}, {address_problem(embedded)}"
    if address in _METADATA:
        return _METADATA[address]
    return _PHRASES.get(kind, f"a {kind} address")


def address_kind(address: IPAddress) -> str | None:
    """loopback, private, link-local, shared, site-local, multicast, unspecified, reserved,
    special-use; None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            kind = address_kind(embedded)
            if kind is not None or address.ipv4_mapped or address in _NAT64:
                # Mapped and NAT64 addresses reach exactly the IPv4 address inside them.
                return kind
            if _is_ipv4_compatible(address):
                return "reserved"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("multicast", address.is_multicast),
        ("link-local", address.is_link_local),
        ("shared", address.version == 4 and address in _SHARED),
        ("site-local", address.version == 6 and address.is_site_local),
        ("private", address.version == 4 and any(address in n for n in _PRIVATE)),
        ("private", address.version == 6 and address in ipaddress.ip_network("fc00::/7")),
        ("reserved", address.is_reserved),
        ("special-use", address.is_private or not address.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address in _NAT64 or _is_ipv4_compatible(address):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]  # the client, which the relay delivers to
    return None


def _is_ipv4_compatible(address: ipaddress.IPv6Address) -> bool:
    return int(address) >> 32 == 0 and int(address) > 1


def _check_allowlist(host: str, policy: UrlPolicy) -> None:
    if not policy.allows_host(host):
        raise URLNotAllowed(f"Refused URL: {host} is not in ALLOWED_URL_HOSTS")


def _check_address(host: str, address: IPAddress, policy: UrlPolicy, *, resolved: bool) -> None:
    kind = address_kind(address)
    if kind is None:
        return
    exempt = policy.allow_private and kind in _EXEMPTABLE and policy.names_host(host)
    if exempt and not _is_metadata(address):
        return
    problem = address_problem(address)
    where = f"{host} resolves to {address}," if resolved else f"{host} is"
    raise URLNotAllowed(f"Refused URL: {where} {problem}")


def _is_metadata(address: IPAddress) -> bool:
    return address in _METADATA or _embedded_ipv4(address) in _METADATA


def _resolve(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    try:
        found = list(resolver(host, port))
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)):
            raise SourceUnavailable(f"The host {host} does not exist (DNS: {exc})") from exc
        raise TransientSourceError(f"Could not resolve {host} (will retry): {exc}") from exc
    except OSError as exc:
        if exc.errno in (errno.ETIMEDOUT, errno.EAGAIN):
            raise TransientSourceError(f"Could not resolve {host} (will retry): {exc}") from exc
        raise SourceUnavailable(f"Could not resolve {host}: {exc}") from exc
    addresses: list[IPAddress] = []
    for text in found:
        address = ipaddress.ip_address(text)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise SourceUnavailable(f"The host {host} has no address")
    return addresses
