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

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Failed
from pydantic import BaseModel

from flows.names import RESTYLE_FLOW
from flows.rendering import render_args
from reelflow.errors import InvalidRequest, ReelflowError, SourceUnavailable
from reelflow.files import link_or_copy, locked
from reelflow.jobs import job_dir
from reelflow.manifest import (
    MANIFEST,
    ClipEntry,
    ClipVersion,
    Manifest,
    ManifestStatus,
    now_iso,
    read_manifest,
    update_manifest,
    write_manifest,
)
from reelflow.media import ffmpeg_path, file_input, run_tool
from reelflow.models import MediaInfo, ReframePlan, Transcript
from reelflow.secrets import delete_key_block_hook
from reelflow.settings import get_settings
from reelflow.styles import RestyleRequest
from tasks.ingest import ingest
from tasks.look import look_entry, look_for_clip
from tasks.publish import place_clip
from tasks.reframe import reframe
from tasks.reframe_override import apply_override
from tasks.scenes import scenes
from tasks.transcribe import SAMPLE_RATE, loudness_envelope
from tasks.upload import start_uploads

_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _run_name() -> str:
    request = flow_run.parameters.get("request") or {}
    if isinstance(request, dict):
        request = RestyleRequest.model_validate(request)
    return f"restyle {request.label()}"


@flow(
    name=RESTYLE_FLOW,
    flow_run_name=_run_name,
    description="Render one clip of a finished job again with new captions, hook or effects.",
    on_completion=[delete_key_block_hook],
    on_failure=[delete_key_block_hook],
    on_cancellation=[delete_key_block_hook],
    on_crashed=[delete_key_block_hook],
)
def restyle_clip(request: RestyleRequest):
    return run_as_job(request, "restyle", partial(_restyle, request),
                      lambda entry: {"file": entry.file})  # fmt: skip


def run_as_job(request: BaseModel, what: str, work: Callable[[str, Path], ClipEntry],
               result: Callable[[ClipEntry], dict]) -> dict | State:  # fmt: skip
    """Run a re-render (restyle, translation) as a job of its own: `work(run id, run folder)`
    makes the new clip entry; the run's manifest says processing, then completed or failed
    with the reason. Answers {"job_id", "folder", **result(entry)}, or the Failed state."""
    run_id = str(flow_run.id or "local")
    status = job_dir(run_id)
    _write_status(status, run_id, request, "processing")
    try:
        entry = work(run_id, status)
    except ReelflowError as exc:
        return _failed(status, run_id, request, what, str(exc))
    except Exception as exc:
        get_run_logger().exception("Unexpected error in the %s", what)
        return _failed(status, run_id, request, what, f"Internal error ({type(exc).__name__})")
    _write_status(status, run_id, request, "completed", clips=[entry])
    return {"job_id": run_id, "folder": str(status), **result(entry)}


def _write_status(folder: Path, run_id: str, request: BaseModel, status: ManifestStatus,
                  **fields) -> None:  # fmt: skip
    """The run's own manifest: how the API reports and serves a re-render like any job."""
    done = status == "completed"
    write_manifest(folder, Manifest(
        job_id=run_id, status=status, stage="done" if done else "render",
        progress=100 if done else 0, request=request.model_dump(mode="json"), **fields,
    ))  # fmt: skip


def _failed(status: Path, run_id: str, request: BaseModel, what: str, reason: str):
    get_run_logger().error("The %s failed: %s", what, reason)
    _write_status(status, run_id, request, "failed", error=reason)
    return Failed(message=reason)


@dataclass(frozen=True)
class FinishedClip:
    """One clip of a finished job, with what a new render of it is made from."""

    folder: Path  # the job's folder
    manifest: Manifest
    clip: ClipEntry
    media: MediaInfo  # the same source video, checked by content
    transcript: Transcript  # with the loudness track over the clip
    plan: ReframePlan


def finished_clip(job: str, index: int, what: str) -> FinishedClip:
    folder = job_folder(job)
    manifest = read_manifest(folder)
    if manifest is None or manifest.status != "completed":
        raise InvalidRequest(f"Job {job} has no finished clips to {what}")
    clip = manifest.clip(index)
    if clip is None:
        raise InvalidRequest(f"Job {job} has no clip {index}")
    media = _same_video(manifest)
    transcript = Transcript.model_validate_json((folder / "transcript.json").read_text())
    transcript = _with_loudness(transcript, media, clip.start, clip.end)
    return FinishedClip(folder, manifest, clip, media, transcript, _reframe_plan(clip, media))


def _restyle(request: RestyleRequest, run_id: str, status: Path) -> ClipEntry:
    found = finished_clip(request.job, request.index, "restyle")
    folder, manifest, clip, media = found.folder, found.manifest, found.clip, found.media
    transcript, plan = found.transcript, found.plan
    if request.reframe is not None:
        plan = apply_override(plan, request.reframe)
    key_block = request.gemini_key_block
    gemini = key_block or (manifest.request.get("provider") == "gemini"
                           and get_settings().gemini_api_key)  # fmt: skip
    look = look_for_clip(request.look(), request.index, transcript, clip.start, clip.end,
                         clip.hook, plan, media, "gemini" if gemini else "local",
                         key_block, get_run_logger().warning)  # fmt: skip
    task, args = render_args(media, request.index, clip.start, clip.end, plan, look)
    rendered = task(*args)
    with _locked(folder):
        number = _next_version(folder, request.index)
        stem = f"clip_{request.index:02d}_v{number}"
        names = place_clip(rendered, folder, stem)
        version = ClipVersion.model_validate({
            "file": names[0], "thumbnail": names[1], "width": rendered.width,
            "height": rendered.height, **look_entry(look, folder, stem), "version": number,
            "look": request.look().model_dump(mode="json"), "restyle_job_id": run_id,
            "created_at": now_iso(), "reframe": plan if request.reframe is not None else None,
        })  # fmt: skip
        update_manifest(folder, lambda m: m.with_clip(m.clip(request.index).with_version(version)))
    start_uploads(folder.name, folder)  # S3: the new version too, in the background
    # The run's own folder gets the same files, so the API serves them under the run's id.
    for name in version.files():
        link_or_copy(folder / name, status / name)
    get_run_logger().info("clip %d restyled: %s", request.index, version.file)
    return ClipEntry.model_validate({
        **clip.model_dump(exclude={"versions", "reframe", "posts"}), **version.model_dump(),
    })  # fmt: skip


def job_folder(job: str) -> Path:
    """A job id (a folder under <data dir>/jobs) or a path to a job folder."""
    path = Path(job).expanduser()
    if (path / MANIFEST).exists():
        return path.resolve()
    if _JOB_ID.match(job) and (job_dir(job) / MANIFEST).exists():
        return job_dir(job)
    raise InvalidRequest(f"No job {job}: give a job id or a job folder with a manifest.json")


def _same_video(manifest: Manifest) -> MediaInfo:
    source = manifest.request["source"]
    try:
        media = ingest(source)
    except SourceUnavailable as exc:
        raise SourceUnavailable(
            f"The job's source video is no longer available ({exc}); submit it again"
        ) from exc
    expected = manifest.video.sha256 if manifest.video else None
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
            *file_input(media.path), "-t", f"{end - first * hop + hop:.3f}", "-map", "0:a:0",
            "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"]  # fmt: skip
    audio = np.frombuffer(run_tool(args, timeout_s=300, what="audio decode"), dtype=np.float32)
    levels = [-90.0] * first + loudness_envelope([audio], hop)
    return transcript.model_copy(update={"loudness_db": levels})


def _reframe_plan(clip: ClipEntry, media: MediaInfo) -> ReframePlan:
    if clip.reframe is not None:
        return clip.reframe
    # A job from before plans were kept: both stages are cached by content, so this is cheap
    # when the cache is still there.
    return reframe(media, clip.index, clip.start, clip.end, scenes(media))


def _next_version(folder: Path, index: int) -> int:
    """After every version on disk and in the manifest (a translation has no `_vK` file)."""
    manifest = read_manifest(folder)
    clip = manifest.clip(index) if manifest else None
    version = max([1, *(v.version for v in clip.versions)]) + 1 if clip else 2
    while (folder / f"clip_{index:02d}_v{version}.mp4").exists():
        version += 1
    return version


def _locked(folder: Path):
    """Two restyles of one job must not pick the same version."""
    return locked(folder, ".restyle.lock")
