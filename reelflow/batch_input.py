"""Batch input: read a list of video URLs, normalise them, and turn each row into a ClipRequest.

A list is a text file (one URL a line, `#` comments, blank lines ignored) or a CSV/Parquet
table with a `url` column and optional per-row `clips`, `min_seconds`, `max_seconds` and
`provider`. It can live on the worker's disk, behind an http(s) URL, or at `s3://bucket/key`.

A bad row never fails the batch: it becomes an entry with the reason it was rejected. Rows that
ask for the same job (same normalised URL and options) are folded into the first one.
"""

from __future__ import annotations

import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reelflow.errors import (
    InvalidRequest,
    ReelflowError,
    SourceUnavailable,
    TransientSourceError,
    URLNotAllowed,
    describe_invalid,
)
from reelflow.jobs import ClipRequest
from reelflow.netguard import check_url, precheck_url

ListFormat = Literal["auto", "text", "csv", "parquet"]
ROW_OPTIONS = ("clips", "min_seconds", "max_seconds", "provider")
MAX_LIST_BYTES = 50 * 2**20  # a list of URLs, not a video: anything bigger is a mistake
HTTP_TIMEOUT_S = 30
MAX_REDIRECTS = 5

_DEFAULT_PORTS = {"http": 80, "https": 443}
_YOUTUBE_HOSTS = {
    "youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com",
    "youtube-nocookie.com", "www.youtube-nocookie.com",
}  # fmt: skip
_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_YOUTUBE_PATHS = re.compile(r"/(?:shorts|live|embed|v|e)/([A-Za-z0-9_-]{11})(?:[/?]|$)")
_INLINE_COMMENT = re.compile(r"\s+#.*$")  # `url  # note`; a `#` inside a URL is a fragment


class BatchRequest(BaseModel):
    """A list of videos to clip. The Prefect UI shows these fields as the batch's run form."""

    model_config = ConfigDict(frozen=True)

    url_list: str = Field(
        description="Where the list is: a path on the worker, an http(s) URL, or s3://bucket/key "
        "(boto3 credentials; S3_ENDPOINT_URL for MinIO and the like). A .csv or .parquet file "
        "needs a `url` column and may set clips, min_seconds, max_seconds, provider per row; "
        "anything else is read as text, one URL a line, # starts a comment.",
    )
    list_format: ListFormat = Field(
        "auto", description="auto: from the file name (.csv, .parquet, else text)."
    )
    clips: int | None = Field(
        None, ge=1, le=15, description="Clips per video for rows that do not say; empty: 3-15."
    )
    min_seconds: float = Field(15, ge=5, le=180, description="Shortest clip, in seconds.")
    max_seconds: float = Field(60, ge=5, le=180, description="Longest clip, in seconds.")
    provider: Literal["local", "gemini"] = Field(
        "local",
        description="Who picks the moments for rows that do not say; gemini uses the worker's "
        "GEMINI_API_KEY.",
    )
    force: bool = Field(
        False,
        description="Process every URL again, even one already processed with the same options.",
    )
    max_wait_hours: float = Field(
        24, gt=0, le=24 * 7, description="Stop waiting for the jobs after this long and report."
    )

    @model_validator(mode="after")
    def _range(self) -> BatchRequest:
        if self.min_seconds >= self.max_seconds:
            raise ValueError("min_seconds must be below max_seconds")
        return self

    def defaults(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ROW_OPTIONS}


@dataclass(frozen=True)
class ListEntry:
    """One row of the list: the job it asks for, or why it was rejected, or the row it repeats.
    `row` is the line number in a text or CSV file, the 1-based row number in a Parquet one."""

    row: int
    url: str
    request: ClipRequest | None = None
    rejected: str | None = None
    duplicate_of: int | None = None


JobKey = tuple[str, int | None, float, float, str]


def job_key(request: ClipRequest) -> JobKey:
    """What makes two jobs the same job: the (normalised) video and the options that change
    the clips. Where the clips go and whose key pays for Gemini do not."""
    return (
        request.source, request.clips, float(request.min_seconds), float(request.max_seconds),
        request.provider,
    )  # fmt: skip


# --- reading --------------------------------------------------------------------------------


def read_list(location: str, list_format: ListFormat = "auto") -> pd.DataFrame:
    """The list as a table with `row`, `url` and whichever ROW_OPTIONS columns it has.
    Raises SourceUnavailable when it cannot be fetched, InvalidRequest when it cannot be read."""
    data = fetch_list(location)
    kind = list_format if list_format != "auto" else _format_from_name(location)
    if kind == "text":
        return _read_text(data)
    try:
        if kind == "csv":
            # Everything as text, nothing turned into NaN: values are checked per row later.
            frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False,
                                skipinitialspace=True, encoding="utf-8-sig")  # fmt: skip
            first_row = 2  # line 1 is the header
        else:
            frame = pd.read_parquet(io.BytesIO(data))
            first_row = 1
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"The list is not a readable {kind} file: {exc}") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "url" not in frame.columns:
        found = ", ".join(frame.columns) or "none"
        raise InvalidRequest(f"The {kind} list has no `url` column (columns: {found})")
    keep = ["url", *(c for c in ROW_OPTIONS if c in frame.columns)]
    frame = frame[keep].copy()
    frame.insert(0, "row", range(first_row, first_row + len(frame)))
    return frame.reset_index(drop=True)


def fetch_list(location: str) -> bytes:
    location = location.strip()
    if location.startswith("s3://"):
        return _fetch_s3(location)
    if "://" in location:
        return _fetch_http(location)
    path = Path(location).expanduser()
    try:
        if path.stat().st_size > MAX_LIST_BYTES:
            raise InvalidRequest(f"The list {path} is larger than {MAX_LIST_BYTES >> 20} MiB")
        return path.read_bytes()
    except OSError as exc:
        raise SourceUnavailable(f"Cannot read the list {path}: {exc.strerror or exc}") from exc


def _fetch_http(url: str) -> bytes:
    """The same URL policy as video downloads, checked again on every redirect. (Unlike a
    download this does not pin the checked address; the list's location is the operator's.)"""
    import httpx

    with httpx.Client(timeout=HTTP_TIMEOUT_S, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url)
            try:
                with client.stream("GET", url) as response:
                    if response.is_redirect:
                        url = str(response.url.join(response.headers["location"]))
                        continue
                    _check_status(response.status_code, url)
                    return _read_capped(response.iter_bytes(), url)
            except httpx.TransportError as exc:  # timeouts, refused or reset connections
                raise TransientSourceError(f"Cannot fetch the list {url}: {exc}") from exc
    raise SourceUnavailable(f"Cannot fetch the list: more than {MAX_REDIRECTS} redirects")


def _check_status(status: int, url: str) -> None:
    if status == 429 or status >= 500:
        raise TransientSourceError(f"Cannot fetch the list {url}: HTTP {status} (will retry)")
    if status != 200:
        raise SourceUnavailable(f"Cannot fetch the list {url}: HTTP {status}")


def _read_capped(chunks, where: str) -> bytes:
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > MAX_LIST_BYTES:
            raise InvalidRequest(f"The list {where} is larger than {MAX_LIST_BYTES >> 20} MiB")
    return bytes(data)


def _fetch_s3(location: str) -> bytes:
    """boto3's usual credential chain (env, profile, instance role); S3_ENDPOINT_URL points it
    at MinIO or another S3-compatible store."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = location[len("s3://") :].partition("/")
    if not bucket or not key:
        raise InvalidRequest(f"{location} is not s3://bucket/key")
    client = boto3.client("s3", endpoint_url=os.environ.get("S3_ENDPOINT_URL") or None)
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        return _read_capped(body.iter_chunks(), location)
    except (BotoCoreError, ClientError) as exc:
        raise SourceUnavailable(f"Cannot read the list {location}: {exc}") from exc


def _format_from_name(location: str) -> ListFormat:
    name = urlsplit(location).path.lower() if "://" in location else location.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return "text"


def _read_text(data: bytes) -> pd.DataFrame:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"The list is not UTF-8 text: {exc}") from exc
    rows, urls = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        line = _INLINE_COMMENT.sub("", line).strip()
        if line and not line.startswith("#"):
            rows.append(number)
            urls.append(line)
    return pd.DataFrame({"row": rows, "url": urls})


# --- normalising ----------------------------------------------------------------------------


def normalise_url(raw: str) -> str:
    """One spelling per video: lower-case scheme and host, no default port, no fragment, and
    YouTube's many forms as https://www.youtube.com/watch?v=ID. Raises a ReelflowError saying
    why the URL is refused (see `reelflow.netguard.precheck_url`)."""
    url = raw.strip()
    if not url:
        raise InvalidRequest("Empty URL")
    target = precheck_url(url)  # scheme, odd characters, literal addresses, the allowlist
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        # Job parameters are stored and shown in the UI: no place for a password.
        raise URLNotAllowed("Refused URL: it carries a user name or password")
    video_id = _youtube_id(target.host, parts.path, parts.query)
    if video_id:
        url = f"https://www.youtube.com/watch?v={video_id}"
    else:
        host = f"[{target.host}]" if ":" in target.host else target.host
        if parts.port is not None and parts.port != _DEFAULT_PORTS[target.scheme]:
            host = f"{host}:{parts.port}"
        url = urlunsplit((target.scheme, host, parts.path or "/", parts.query, ""))
    precheck_url(url)  # the rewritten host must pass the allowlist too
    return url


def _youtube_id(host: str, path: str, query: str) -> str | None:
    if host == "youtu.be":
        candidate = path.strip("/").split("/")[0]
    elif host in _YOUTUBE_HOSTS and path.rstrip("/") == "/watch":
        candidate = (parse_qs(query).get("v") or [""])[0]
    elif host in _YOUTUBE_HOSTS and (match := _YOUTUBE_PATHS.match(path)):
        candidate = match.group(1)
    else:
        return None
    return candidate if _YOUTUBE_ID.fullmatch(candidate) else None


# --- planning -------------------------------------------------------------------------------


def plan_entries(frame: pd.DataFrame, defaults: dict[str, Any]) -> list[ListEntry]:
    """Every row of the list, each with its ClipRequest, its rejection reason, or the row it
    repeats. Per-row options fill in over `defaults`; an empty cell keeps the default."""
    entries: list[ListEntry] = []
    first_row: dict[JobKey, int] = {}
    for record in frame.to_dict("records"):
        row, raw = int(record["row"]), _text(record.get("url"))
        try:
            request = _request(raw, record, defaults)
        except ReelflowError as exc:
            entries.append(ListEntry(row, raw, rejected=str(exc)))
            continue
        key = job_key(request)
        if key in first_row:
            entries.append(ListEntry(row, raw, request, duplicate_of=first_row[key]))
        else:
            first_row[key] = row
            entries.append(ListEntry(row, raw, request))
    return entries


def _request(raw: str, record: dict[str, Any], defaults: dict[str, Any]) -> ClipRequest:
    url = normalise_url(raw)
    options = dict(defaults)
    for name in ROW_OPTIONS:
        value = record.get(name)
        if not _blank(value):
            options[name] = value.strip() if isinstance(value, str) else value
    if isinstance(options["provider"], str):
        options["provider"] = options["provider"].lower()
    try:
        return ClipRequest(source=url, **options)
    except ValidationError as exc:
        raise InvalidRequest(describe_invalid(exc.errors())) from exc


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _text(value: Any) -> str:
    return "" if _blank(value) else str(value).strip()
