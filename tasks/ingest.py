"""Stage 1, ingest: turn what the user gave (a local path or a URL) into a probed local video.

URLs go through yt-dlp's Python API, which knows YouTube and many other sites and also takes
direct links. It prefers H.264 MP4 up to 1080p (plays everywhere, decodes fast) and merges
separate audio and video with our ffmpeg. Downloads land in a folder named after the URL's
hash, so a repeat of the same URL reuses the finished file.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from prefect import task
from prefect.tasks import exponential_backoff

from reelflow.caching import retry_transient_only
from reelflow.errors import SourceUnavailable, TransientSourceError, VideoTooLong
from reelflow.media import ffmpeg_path, probe
from reelflow.models import MediaInfo
from reelflow.settings import get_settings

VERSION = "ingest-1"

# Best first: H.264 MP4 at <=1080p, then any MP4, then anything at <=1080p.
YTDLP_FORMAT = (
    "bv*[vcodec^=avc1][height<=1080]+ba[ext=m4a]/b[vcodec^=avc1][height<=1080]"
    "/bv*[height<=1080][ext=mp4]+ba/b[height<=1080][ext=mp4]/bv*[height<=1080]+ba/b[height<=1080]/b"
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


def is_url(source: str) -> bool:
    return source.split(":", 1)[0].lower() in {"http", "https"} and "://" in source


def ingest_source(source: str, *, download_dir: Path | None = None) -> MediaInfo:
    """Probe a local file, or download a URL first; raise a ReelflowError that says why not."""
    settings = get_settings()
    if is_url(source):
        path, title = download_url(source, download_dir or settings.downloads_dir)
        info = probe(path, source=source, title=title)
    elif "://" in source:
        scheme = source.split("://", 1)[0]
        raise SourceUnavailable(f"Unsupported URL scheme '{scheme}': use http or https")
    else:
        info = probe(Path(source).expanduser(), source=source)
    if info.duration_s > settings.max_video_minutes * 60:
        raise VideoTooLong(
            f"The video is {info.duration_s / 60:.0f} min long; the limit is "
            f"{settings.max_video_minutes:.0f} min (MAX_VIDEO_MINUTES)"
        )
    return info


def download_url(url: str, root: Path) -> tuple[Path, str | None]:
    """Download with yt-dlp into root/<url hash>/; reuse a finished earlier download."""
    folder = root / hashlib.sha256(url.encode()).hexdigest()[:24]
    done = folder / "source.done"
    if done.exists():
        files = [p for p in folder.glob("source.*") if p.suffix not in {".done", ".part"}]
        if files:
            return files[0], done.read_text() or None
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    info = _run_ytdlp(url, folder)
    files = [p for p in folder.glob("source.*") if p.suffix != ".part"]
    if not files:
        raise SourceUnavailable(f"The download of {url} produced no file")
    title = (info or {}).get("title")
    done.write_text(title or "")
    return files[0], title


def _run_ytdlp(url: str, folder: Path) -> dict[str, Any] | None:
    import yt_dlp
    from yt_dlp.utils import DownloadError

    settings = get_settings()
    opts = {
        "format": YTDLP_FORMAT,
        "merge_output_format": "mp4",
        "outtmpl": str(folder / "source.%(ext)s"),
        "ffmpeg_location": ffmpeg_path(),
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "socket_timeout": 30,
        "retries": 2,
        "max_filesize": settings.max_file_size_mb * 1024 * 1024,
        "match_filter": _duration_filter(settings.max_video_minutes * 60),
        "logger": _QuietLogger(),
    }
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            return ydl.extract_info(url, download=True)
    except DownloadError as exc:
        raise _translate(url, exc) from exc


def _duration_filter(limit_s: float):
    """Refuse an over-long video from its metadata, before a byte of it is downloaded."""

    def check(info: dict[str, Any], *, incomplete: bool = False) -> str | None:
        duration = info.get("duration")
        if duration and duration > limit_s:
            return f"The video is {duration / 60:.0f} min long; the limit is {limit_s / 60:.0f} min"
        return None

    return check


def _translate(url: str, exc: Exception) -> SourceUnavailable:
    text = str(exc).replace("ERROR: ", "").strip()
    lowered = text.lower()
    if "the limit is" in lowered:
        return VideoTooLong(text.split("skipping", 1)[-1].strip(" .:"))
    if any(hint in lowered for hint in _PERMANENT_HINTS):
        return SourceUnavailable(f"Could not download {url}: {text}")
    return TransientSourceError(f"Download of {url} failed (will retry): {text}")


class _QuietLogger:
    """yt-dlp talks a lot; keep errors (raised anyway) and drop the chatter."""

    def debug(self, msg: str) -> None: ...

    def info(self, msg: str) -> None: ...

    def warning(self, msg: str) -> None: ...

    def error(self, msg: str) -> None: ...


def _ingest_run_name() -> str:
    from prefect.runtime import task_run

    source = str(task_run.parameters.get("source", ""))
    return f"ingest {Path(source).name if not is_url(source) else source}"[:120]


@task(
    name="ingest",
    task_run_name=_ingest_run_name,
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_transient_only,
)
def ingest(source: str) -> MediaInfo:
    """Not cached by Prefect: probing is cheap, and a path's content may change."""
    return ingest_source(source)
