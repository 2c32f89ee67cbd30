"""The `restyle_clip` flow: one clip of a finished job, rendered again with a new look.

    job manifest -> ingest (same video) -> effects plan -> render (one encode, from the source)
    -> clip_NN_vK.* beside the earlier files

The new version renders from the source video with the clip's stored cut and reframe plan,
never from the rendered clip, so quality is the same as the first render. The earlier files
stay; the job's manifest lists the new version under the clip's `versions`. A run is a job of
its own: its folder (<data dir>/jobs/<run id>/) holds a manifest with its status and the new
clip, which is how the API reports and serves it.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Failed

from reelflow.caching import refresh_if_missing, stable_hash
from reelflow.errors import InvalidRequest, ReelflowError, SourceUnavailable
from reelflow.jobs import (
    MANIFEST,
    job_dir,
    link_or_copy,
    locked,
    read_manifest,
    update_manifest,
)
from reelflow.media import ffmpeg_path, run_tool
from reelflow.models import MediaInfo, ReframePlan, Transcript
from reelflow.secrets import delete_key_block_hook
from reelflow.settings import get_settings
from reelflow.styles import RestyleRequest
from tasks.ingest import ingest
from tasks.look import ClipLook, look_entry, look_for_clip
from tasks.publish import write_manifest
from tasks.reframe import reframe
from tasks.render import VERSION as RENDER_VERSION
from tasks.render import RenderOptions, render
from tasks.scenes import scenes
from tasks.transcribe import SAMPLE_RATE, loudness_envelope
from tasks.upload import start_uploads

# Fields of a clip entry that belong to one rendering of it, not to the moment.
_PER_VERSION = {"versions", "reframe", "captions_srt", "captions_vtt", "effects",
                "duration_after_cuts", "hook_title"}  # fmt: skip
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _run_name() -> str:
    request = flow_run.parameters.get("request") or {}
    if isinstance(request, dict):
        request = RestyleRequest.model_validate(request)
    return f"restyle {request.label()}"


@flow(
    name="restyle_clip",
    flow_run_name=_run_name,
    description="Render one clip of a finished job again with new captions, hook or effects.",
    on_completion=[delete_key_block_hook],
    on_failure=[delete_key_block_hook],
    on_cancellation=[delete_key_block_hook],
    on_crashed=[delete_key_block_hook],
)
def restyle_clip(request: RestyleRequest):
    run_id = str(flow_run.id or "local")
    status = job_dir(run_id)
    write_manifest(status, job_id=run_id, status="processing", request=request, stage="render")
    try:
        entry = _restyle(request, run_id, status)
    except ReelflowError as exc:
        return _failed(status, run_id, request, str(exc))
    except Exception as exc:
        get_run_logger().exception("Unexpected error while restyling")
        return _failed(status, run_id, request, f"Internal error ({type(exc).__name__})")
    write_manifest(status, job_id=run_id, status="completed", request=request, clips=[entry])
    get_run_logger().info("clip %d restyled: %s", request.index, entry["file"])
    return {"job_id": run_id, "folder": str(status), "file": entry["file"]}


def _failed(status: Path, run_id: str, request: RestyleRequest, reason: str):
    get_run_logger().error("Restyle failed: %s", reason)
    write_manifest(status, job_id=run_id, status="failed", request=request, error=reason)
    return Failed(message=reason)


def _restyle(request: RestyleRequest, run_id: str, status: Path) -> dict:
    folder = job_folder(request.job)
    manifest = read_manifest(folder)
    if manifest is None or manifest.get("status") != "completed":
        raise InvalidRequest(f"Job {request.job} has no finished clips to restyle")
    clip = next((c for c in manifest.get("clips", []) if c["index"] == request.index), None)
    if clip is None:
        raise InvalidRequest(f"Job {request.job} has no clip {request.index}")
    media = _same_video(manifest)
    transcript = Transcript.model_validate_json((folder / "transcript.json").read_text())
    start, end = float(clip["start"]), float(clip["end"])
    transcript = _with_loudness(transcript, media, start, end)
    plan = _reframe_plan(clip, media, request.index)
    key_block = request.gemini_key_block
    gemini = key_block or (manifest["request"].get("provider") == "gemini"
                           and get_settings().gemini_api_key)  # fmt: skip
    look = look_for_clip(request.look(), request.index, transcript, start, end,
                         clip.get("hook", ""), plan, media, "gemini" if gemini else "local",
                         key_block, get_run_logger().warning)  # fmt: skip
    rendered = _render(media, request.index, start, end, plan, look)
    with _locked(folder):
        version = _next_version(folder, request.index)
        stem = f"clip_{request.index:02d}_v{version}"
        entry = _place(rendered, folder, stem)
        entry.update(look_entry(look, plan, folder, stem))
        entry.pop("reframe")
        entry.update(version=version, look=request.look().model_dump(mode="json"),
                     restyle_job_id=run_id, created_at=datetime.now(UTC).isoformat())  # fmt: skip
        _add_version(folder, request.index, entry)
    start_uploads(folder.name, folder)  # S3: the new version too, in the background
    # The run's own folder gets the same files, so the API serves them under the run's id.
    own = {**{k: v for k, v in clip.items() if k not in _PER_VERSION}, **entry}
    for name in [entry["file"], entry["thumbnail"], *_look_files(entry)]:
        link_or_copy(folder / name, status / name)
    return own


def job_folder(job: str) -> Path:
    """A job id (a folder under <data dir>/jobs) or a path to a job folder."""
    path = Path(job).expanduser()
    if (path / MANIFEST).exists():
        return path.resolve()
    if _JOB_ID.match(job) and (job_dir(job) / MANIFEST).exists():
        return job_dir(job)
    raise InvalidRequest(f"No job {job}: give a job id or a job folder with a manifest.json")


def _same_video(manifest: dict) -> MediaInfo:
    source = manifest["request"]["source"]
    try:
        media = ingest(source)
    except SourceUnavailable as exc:
        raise SourceUnavailable(
            f"The job's source video is no longer available ({exc}); submit it again"
        ) from exc
    expected = (manifest.get("video") or {}).get("sha256")
    if expected and media.sha256 != expected:
        raise SourceUnavailable("The job's source video has changed since the job ran")
    return media


def _with_loudness(transcript: Transcript, media: MediaInfo, start: float, end: float):
    """transcript.json leaves the loudness track out; measure the clip's stretch again."""
    if transcript.loudness_db or not media.has_audio:
        return transcript
    hop = transcript.loudness_hop_s
    first = int(start / hop)
    args = [ffmpeg_path(), "-nostdin", "-v", "error", "-ss", f"{first * hop:.3f}",
            "-i", media.path, "-t", f"{end - first * hop + hop:.3f}", "-map", "0:a:0",
            "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"]  # fmt: skip
    audio = np.frombuffer(run_tool(args, timeout_s=300, what="audio decode"), dtype=np.float32)
    levels = [-90.0] * first + loudness_envelope(audio, hop)
    return transcript.model_copy(update={"loudness_db": levels})


def _reframe_plan(clip: dict, media: MediaInfo, index: int) -> ReframePlan:
    if clip.get("reframe"):
        return ReframePlan.model_validate(clip["reframe"])
    # A job from before plans were kept: both stages are cached by content, so this is cheap
    # when the cache is still there.
    cuts = scenes(media)
    return reframe(media, index, float(clip["start"]), float(clip["end"]), cuts)


def _render(media: MediaInfo, index: int, start: float, end: float, plan, look: ClipLook):
    opts = RenderOptions.from_settings()
    key = stable_hash(RENDER_VERSION, media.sha256, start, end, opts, look.key, plan)
    cache = get_settings().cache_dir / "renders"
    out, thumb = cache / f"{key}.mp4", cache / f"{key}.jpg"
    task = refresh_if_missing(render, out, thumb)
    return task(media, index, start, end, plan, str(out), str(thumb), opts,
                look.video_filters, look.audio_filters)  # fmt: skip


def _next_version(folder: Path, index: int) -> int:
    version = 2
    while (folder / f"clip_{index:02d}_v{version}.mp4").exists():
        version += 1
    return version


def _place(clip, folder: Path, stem: str) -> dict:
    names = (f"{stem}.mp4", f"{stem}.jpg")
    link_or_copy(Path(clip.path), folder / names[0])
    link_or_copy(Path(clip.thumbnail), folder / names[1])
    return {"file": names[0], "thumbnail": names[1], "width": clip.width, "height": clip.height}


def _look_files(entry: dict) -> list[str]:
    names = [entry.get("captions_srt"), entry.get("captions_vtt")]
    names.append((entry.get("effects") or {}).get("plan"))
    return [n for n in names if n]


def _add_version(folder: Path, index: int, entry: dict) -> None:
    def add(manifest: dict) -> None:
        for clip in manifest.get("clips", []):
            if clip["index"] == index:
                clip.setdefault("versions", []).append(entry)

    update_manifest(folder, add)


def _locked(folder: Path):
    """Two restyles of one job must not pick the same version."""
    return locked(folder, ".restyle.lock")


def restyle_deployment():
    """The `restyle_clip/restyle-clip` deployment the worker serves (deployments/serve.py).
    Re-renders are renders: at most RESTYLE_CONCURRENCY at a time, the rest wait queued."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    from deployments.names import RESTYLE_DEPLOYMENT

    return restyle_clip.to_deployment(
        name=RESTYLE_DEPLOYMENT,
        description="Render one clip of a finished job again with a new look.",
        tags=["reelflow"],
        concurrency_limit=ConcurrencyLimitConfig(
            limit=int(os.environ.get("RESTYLE_CONCURRENCY", "2")),
            collision_strategy=ConcurrencyLimitStrategy.ENQUEUE,
        ),
    )
