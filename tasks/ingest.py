"""Stage 1, ingest: turn what the user gave (a local path, a URL, or an `s3://` address)
into a probed local video.

URLs go through yt-dlp's Python API, which knows YouTube and many other sites and also takes
direct links. It prefers H.264 MP4 up to 1080p (plays everywhere, decodes fast) and merges
separate audio and video with our ffmpeg. Downloads land in a folder named after the URL's
hash, so a repeat of the same URL reuses the finished file.

Every download is guarded (see `reelflow.netguard`): the URL is checked first, then yt-dlp
runs through `reelflow.guard_proxy`, which checks each request it makes, redirects included,
and stops it past MAX_FILE_SIZE_MB or DOWNLOAD_TIMEOUT_S. Whatever yt-dlp starts (ffmpeg, for
streams it hands over) gets the proxy and no `no_proxy` to get around it, and ffmpeg opens the
downloaded files with the same format whitelist as every other input. The file is held to the
limits once it is there. URLs are shown redacted (`reelflow.redact`): no query, no password.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

from prefect import task
from prefect.tasks import exponential_backoff

from reelflow.caching import retry_transient_only
from reelflow.errors import (
    DownloadTooLarge,
    SourceUnavailable,
    TransientSourceError,
    URLNotAllowed,
)
from reelflow.ffmpeg_tool import FORMAT_WHITELIST
from reelflow.guard_proxy import GuardProxy
from reelflow.media import ffmpeg_path, probe
from reelflow.models import MediaInfo
from reelflow.netguard import UrlPolicy, check_url
from reelflow.proxy_env import guard_ytdlp_children
from reelflow.redact import display_source, redact_url, redact_urls
from reelflow.safe_names import clean_title
from reelflow.settings import get_settings
from reelflow.source_check import is_url, refuse_scheme, too_long
from reelflow.storage import StorageError, is_s3_uri, storage_for_uri

VERSION = "ingest-1"

# Best first: H.264 MP4 at <=1080p, then any MP4, then anything at <=1080p.
YTDLP_FORMAT = (
    "bv*[vcodec^=avc1][height<=1080]+ba[ext=m4a]/b[vcodec^=avc1][height<=1080]"
    "/bv*[height<=1080][ext=mp4]+ba/b[height<=1080][ext=mp4]/bv*[height<=1080]+ba/b[height<=1080]/b"
)

MIB = 2**20
# Pages, manifests, and what sits in socket buffers when yt-dlp stops reading a response early
# also pass the proxy; the file itself is held to the exact limit once it is there.
PROXY_SLACK_BYTES = 16 * MIB
# The ingest task's own limit: the download's deadline plus time to merge, hash and probe.
INGEST_GRACE_S = 120

# Protocols yt-dlp downloads by itself, so through the proxy. The others (rtmp, rtsp, mms...)
# hand the URL to an external program that would connect around the guard.
_GUARDED_PROTOCOLS = frozenset(
    {"http", "https", "m3u8", "m3u8_native", "http_dash_segments", "ism", "f4m", "mhtml"}
    | {"http_dash_segments_generator"}
)

_PERMANENT_HINTS = (
    "404",
    "403",
    "410",
    "unsupported url",
    "is not a valid url",
    "private video",
    "video unavailable",
    "has been removed",
    "sign in to confirm",
    "name or service not known",
    "failed to resolve",
    "no address associated",
    "nodename nor servname",
    "requested format is not available",
)


def ingest_source(source: str, *, download_dir: Path | None = None) -> MediaInfo:
    """Probe a local file, or download a URL or S3 object first; raise a ReelflowError that
    says why not."""
    settings = get_settings()
    if is_url(source):
        path, title = download_url(source, download_dir or settings.downloads_dir)
        info = probe(path, source=source, title=title)
    elif is_s3_uri(source):
        info = probe(fetch_s3(source, download_dir or settings.downloads_dir), source=source)
    elif "://" in source:
        refuse_scheme(source)
    else:
        info = probe(Path(source).expanduser(), source=source)
    if info.duration_s > settings.max_video_minutes * 60:
        raise too_long(info.duration_s, settings.max_video_minutes)
    return info


def download_url(url: str, root: Path) -> tuple[Path, str | None]:
    """Download with yt-dlp into root/<url hash>/; reuse a finished earlier download.

    Raises URLNotAllowed before any connection when the URL may not be fetched, and
    DownloadTooLarge or VideoTooLong (leaving nothing behind) when the file breaks a limit."""
    check_url(url)
    folder = root / hashlib.sha256(url.encode()).hexdigest()[:24]
    done = folder / "source.done"
    if done.exists():
        files = [p for p in folder.glob("source.*") if p.suffix not in {".done", ".part"}]
        if files:
            return files[0], done.read_text() or None
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        info = _run_ytdlp(url, folder)
        files = [p for p in folder.glob("source.*") if p.suffix != ".part"]
        if not files:
            raise SourceUnavailable(f"The download of {redact_url(url)} produced no file")
        _check_download(files[0])
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)  # a refused or broken download keeps no disk
        raise
    # The title is metadata from the site: data for JSON only, never part of a path.
    title = clean_title((info or {}).get("title"))
    done.write_text(title or "")
    return files[0], title


def _run_ytdlp(url: str, folder: Path) -> dict[str, Any] | None:
    import yt_dlp
    from yt_dlp.utils import DownloadError

    settings = get_settings()
    max_bytes = settings.max_file_size_mb * MIB
    logger = _QuietLogger()
    policy = UrlPolicy.from_settings(settings)
    guard_ytdlp_children()
    guard = GuardProxy(
        policy,
        max_bytes=max_bytes,
        slack_bytes=PROXY_SLACK_BYTES,
        deadline_s=settings.download_timeout_s,
    )
    with guard:
        opts = {
            "format": YTDLP_FORMAT,
            "merge_output_format": "mp4",
            "outtmpl": str(folder / "source.%(ext)s"),
            "restrictfilenames": True,
            "ffmpeg_location": ffmpeg_path(),
            "proxy": guard.url,
            # HLS (AES-128 too, with pycryptodomex) and DASH by yt-dlp itself. Where it still
            # hands a stream to ffmpeg, ffmpeg gets the proxy in http_proxy and, through
            # guard_ytdlp_children, no no_proxy to get around it.
            "external_downloader": {"default": "native"},
            "postprocessor_args": _ffmpeg_input_args(),
            "noplaylist": True,
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
            "socket_timeout": 30,
            "retries": 2,
            "max_filesize": max_bytes,
            "match_filter": _entry_filter(settings.max_video_minutes),
            "logger": logger,
        }
        try:
            with yt_dlp.YoutubeDL(opts) as ydl:
                info = ydl.extract_info(url, download=True)
        except DownloadError as exc:
            if guard.refusal is None and guard.unreachable:
                raise TransientSourceError(
                    f"Could not download {redact_url(url)}: {guard.unreachable}"
                ) from exc
            raise (guard.refusal or _translate(url, exc)) from exc
    if guard.spent:
        # Without Content-Length, a cut-off transfer can look like a finished one to yt-dlp.
        raise guard.refusal  # type: ignore[misc]
    if logger.too_large:
        raise DownloadTooLarge(
            f"The video is larger than {settings.max_file_size_mb} MB (MAX_FILE_SIZE_MB)"
        )
    return info


def _ffmpeg_input_args() -> dict[str, list[str]]:
    """yt-dlp's ffmpeg postprocessors (merger, fixups) open the downloaded files, which came
    from outside: the same format and protocol whitelists as every ffmpeg input here."""
    from yt_dlp import postprocessor

    args = ["-format_whitelist", FORMAT_WHITELIST, "-protocol_whitelist", "file"]
    kinds = [
        cls
        for cls in vars(postprocessor).values()
        if isinstance(cls, type) and issubclass(cls, postprocessor.FFmpegPostProcessor)
    ]
    return {f"{cls.pp_key().lower()}+ffmpeg_i": args for cls in kinds}


def _entry_filter(limit_min: float):
    """Refuse from metadata before a byte of the video is downloaded: a video over the length
    limit, a live stream (it has no end), a protocol yt-dlp would hand to another program."""

    def check(info: dict[str, Any], *, incomplete: bool = False) -> None:
        duration = info.get("duration")
        if duration and duration > limit_min * 60:
            raise too_long(duration, limit_min)
        if info.get("is_live") or info.get("live_status") in {"is_live", "is_upcoming"}:
            raise SourceUnavailable("Live streams cannot be clipped: wait for the recording")
        protocols = set(str(info.get("protocol") or "").split("+")) - {""}
        if not incomplete and protocols - _GUARDED_PROTOCOLS:
            shown = ", ".join(sorted(protocols - _GUARDED_PROTOCOLS))
            raise URLNotAllowed(f"Refused URL: the video is served over {shown}; only HTTP(S)")
        return None

    return check


def fetch_s3(uri: str, root: Path) -> Path:
    """Download `s3://bucket/key` (an API upload, or any object the worker's credentials can
    read) into root/s3-<hash>/ and reuse it while the object's ETag is unchanged: this is how
    a worker on another machine gets a file that was uploaded to the API."""
    limit = get_settings().max_file_size_mb
    try:
        storage, key = storage_for_uri(uri)
        head = storage.head(key)
        if head["size"] > limit * MIB:
            raise DownloadTooLarge(
                f"{uri} is {head['size'] / MIB:.0f} MB; the limit is {limit} MB (MAX_FILE_SIZE_MB)"
            )
        digest = hashlib.sha256(f"{uri} {head['etag']}".encode()).hexdigest()[:24]
        folder = root / f"s3-{digest}"
        suffix = Path(key).suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", Path(key).suffix) else ""
        path, done = folder / f"source{suffix}", folder / "source.done"
        if not (done.exists() and path.exists()):
            shutil.rmtree(folder, ignore_errors=True)
            storage.get_file(key, path)
            done.touch()
    except StorageError as exc:
        if exc.permanent:
            raise SourceUnavailable(exc.message) from exc
        raise TransientSourceError(f"{exc.message} (will retry)") from exc
    return path


def _check_download(path: Path) -> None:
    """Hold the file to the limits; a direct link has no metadata to check them beforehand."""
    settings = get_settings()
    size = path.stat().st_size
    if size > settings.max_file_size_mb * MIB:
        raise DownloadTooLarge(
            f"The video is {size / MIB:.0f} MB; the limit is {settings.max_file_size_mb} MB "
            "(MAX_FILE_SIZE_MB)"
        )
    duration_s = probe(path).duration_s
    if duration_s > settings.max_video_minutes * 60:
        raise too_long(duration_s, settings.max_video_minutes)


def _translate(url: str, exc: Exception) -> SourceUnavailable:
    text = redact_urls(str(exc).replace("ERROR: ", "").strip())
    lowered = text.lower()
    if any(hint in lowered for hint in _PERMANENT_HINTS):
        return SourceUnavailable(f"Could not download {redact_url(url)}: {text}")
    return TransientSourceError(f"Download of {redact_url(url)} failed: {text}")


class _QuietLogger:
    """yt-dlp talks a lot; keep errors (raised anyway) and drop the chatter, except the one
    line that says a file was skipped for its Content-Length (yt-dlp raises nothing then)."""

    def __init__(self) -> None:
        self.too_large = False

    def debug(self, msg: str) -> None:
        if "larger than max-filesize" in msg:
            self.too_large = True

    def info(self, msg: str) -> None: ...

    def warning(self, msg: str) -> None: ...

    def error(self, msg: str) -> None: ...


def _ingest_run_name() -> str:
    from prefect.runtime import task_run

    return f"ingest {display_source(str(task_run.parameters.get('source', '')))}"[:120]


@task(name="ingest", task_run_name=_ingest_run_name, retry_condition_fn=retry_transient_only)
def ingest(source: str) -> MediaInfo:
    """Not cached by Prefect: probing is cheap, and a path's content may change."""
    return ingest_source(source)


def ingest_task():
    """`ingest` with DOWNLOAD_RETRIES retries of transient errors, backing off exponentially
    from DOWNLOAD_RETRY_DELAY_S; a permanent error (404, refused URL, not a video, a download
    past DOWNLOAD_TIMEOUT_S) fails at once. Each try is also bounded by DOWNLOAD_TIMEOUT_S plus
    INGEST_GRACE_S: the proxy's deadline says why first, this catches whatever it cannot see."""
    settings = get_settings()
    return ingest.with_options(
        retries=settings.download_retries,
        retry_delay_seconds=exponential_backoff(settings.download_retry_delay_s),
        retry_jitter_factor=0.5,
        timeout_seconds=settings.download_timeout_s + INGEST_GRACE_S,
    )
