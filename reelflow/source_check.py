"""What can be said about a job's source before any pipeline machinery starts.

The CLI runs `check_source` before it imports Prefect or reaches a Prefect server, so a
missing file, a file that is no video, a video too long or too short, or a URL that will never
be fetched (`file:///etc/passwd`, a private address, a host off the allowlist) is refused in
well under a second, with the message the flow itself would end with. The flow checks the same
things again (tasks/ingest.py, flows/clip.py): a file can change between the two, and the API
and batch runs come in without this step.
"""

from __future__ import annotations

from pathlib import Path

from reelflow.errors import URLNotAllowed, VideoTooLong, VideoTooShort
from reelflow.models import MediaInfo
from reelflow.netguard import precheck_url
from reelflow.probe import probe
from reelflow.redact import redact_url
from reelflow.settings import get_settings
from reelflow.storage import is_s3_uri


def is_url(source: str) -> bool:
    return source.split(":", 1)[0].lower() in {"http", "https"} and "://" in source


def check_source(source: str, min_seconds: float) -> MediaInfo | None:
    """Refuse a source that cannot make a job, raising the reelflow error that says why; the
    probed file (without its content hash) for a local file, None for a URL or S3 address,
    which only the download can tell more about (URLs are checked without DNS here)."""
    if is_url(source):
        precheck_url(source)
        return None
    if is_s3_uri(source):
        return None
    if "://" in source:
        refuse_scheme(source)
    info = probe(Path(source).expanduser(), source=source, checksum=False)
    check_length(info.duration_s, min_seconds)
    return info


def refuse_scheme(source: str) -> None:
    """A URL that is neither http(s) nor S3: say why it is refused (URLNotAllowed)."""
    precheck_url(source)  # names the scheme: only http(s) is fetched
    raise URLNotAllowed(f"Refused URL: {redact_url(source)[:80]}")


def check_length(duration_s: float, min_seconds: float) -> None:
    """Raise VideoTooLong past MAX_VIDEO_MINUTES, VideoTooShort under the shortest clip."""
    limit_min = get_settings().max_video_minutes
    if duration_s > limit_min * 60:
        raise too_long(duration_s, limit_min)
    if duration_s < min_seconds:
        raise VideoTooShort(
            f"The video is {duration_s:.1f} s long; clips must be at least {min_seconds:g} s"
        )


def too_long(duration_s: float, limit_min: float) -> VideoTooLong:
    return VideoTooLong(
        f"The video is {_minutes(duration_s / 60)} long; the limit is {_minutes(limit_min)} "
        "(MAX_VIDEO_MINUTES)"
    )


def _minutes(value: float) -> str:
    return f"{value:.0f} min" if value >= 10 else f"{value:.2g} min"
