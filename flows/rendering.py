"""One clip's render as the flows run it: keyed in the content-addressed render cache by the
video, the span, the encoder settings and the look, and made again when its file is gone."""

from __future__ import annotations

from prefect import Task

from reelflow.caching import refresh_if_missing, stable_hash
from reelflow.models import MediaInfo, ReframePlan
from reelflow.settings import get_settings
from tasks.look import ClipLook
from tasks.render import VERSION, RenderOptions, render


def render_args(
    media: MediaInfo, index: int, start_s: float, end_s: float, plan: ReframePlan, look: ClipLook
) -> tuple[Task, tuple]:
    """(the render task, its arguments): call it, or `.submit(*args)` to render beside others."""
    opts = RenderOptions.from_settings()
    # The plan is in the key: a corrected plan must not overwrite the file of the old one.
    key = stable_hash(VERSION, media.sha256, start_s, end_s, opts, look.key, plan)
    cache = get_settings().cache_dir / "renders"
    out, thumb = cache / f"{key}.mp4", cache / f"{key}.jpg"
    task = refresh_if_missing(render, out, thumb)
    args = (media, index, start_s, end_s, plan, str(out), str(thumb), opts,
            look.video_filters, look.audio_filters, look.duration_s)  # fmt: skip
    return task, args
