"""How a URL or a source may be shown: in run names, logs, error messages and API answers.

A query string can carry a signature or a token (S3 presigned links, CDN tokens), and a user
name or password may ride in the host part; neither belongs anywhere a person or a log can
read them. So a URL is shown as scheme, host, port and path, with `?…` where a query was. The
one exception is YouTube's `v=` (a public video id checked by its shape): without it every
YouTube job would read `youtube.com/watch?…`.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import parse_qs, urlsplit

_YOUTUBE_WATCH_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}
_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_ELLIPSIS = "…"


def redact_url(url: str) -> str:
    """`scheme://host:port/path?…`: no user name, password, query or fragment. Text that is
    not a URL comes back as it is."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # unparseable: show no more than its scheme
        return url.split("://", 1)[0] + "://" + _ELLIPSIS
    if ":" in host:
        host = f"[{host}]"
    shown = f"{parts.scheme}://{host}{f':{port}' if port else ''}{parts.path}"
    if parts.query:
        shown += _shown_query(parts.hostname or "", parts.path, parts.query)
    return shown


def _shown_query(host: str, path: str, query: str) -> str:
    if host in _YOUTUBE_WATCH_HOSTS and path == "/watch":
        video = (parse_qs(query).get("v") or [""])[0]
        if _YOUTUBE_ID.fullmatch(video):
            return f"?v={video}" + ("" if query == f"v={video}" else f"&{_ELLIPSIS}")
    return "?" + _ELLIPSIS


def redact_urls(text: str) -> str:
    """Every URL inside a message (yt-dlp's errors name the URLs they failed on) redacted."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


def display_source(source: str) -> str:
    """What a job's source is called where people look: a local file by its name only (the
    server's folders are nobody's business), a URL redacted."""
    if "://" in source:
        return redact_url(source)
    return PurePosixPath(source).name or source
