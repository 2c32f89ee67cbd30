"""The `clip_video` flow: one video in, ranked vertical clips out.

    ingest -> (transcribe || scenes) -> moments -> boundaries -> reframe -> render -> publish

Each stage is a cached task in tasks/; this file only wires them and reports progress.
"""

from __future__ import annotations

import os

from prefect import flow, get_run_logger
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner

from flows.names import CLIP_FLOW
from flows.progress import JobProgress
from flows.rendering import render_args
from flows.translating import translate_clips
from flows.webhooks import notify_job_hook
from reelflow.errors import NoMoments, ReelflowError
from reelflow.gemini import resolve_key
from reelflow.jobs import ClipRequest, job_dir
from reelflow.manifest import ClipEntry
from reelflow.models import MediaInfo, ReframePlan, RepairedMoment, Transcript
from reelflow.secrets import delete_key_block_hook
from reelflow.settings import get_settings
from reelflow.source_check import check_length
from tasks.boundaries import boundaries
from tasks.face_tracks import face_tracks
from tasks.ingest import ingest_task
from tasks.look import look_entry, look_for_clip
from tasks.moments.dispatch import fill, minimum_clips, moments_task
from tasks.moments.types import MomentOptions, MomentPicks
from tasks.publish import clip_entry, place_clip, publish
from tasks.reframe import reframe
from tasks.scenes import scenes
from tasks.transcribe import model_tag, transcribe
from tasks.upload import start_uploads, wait_for_uploads

# Runs of a job whose worker stopped under it (handed back, then started again elsewhere).
MAX_ATTEMPTS = 3


def _finish_uploads(flow, flow_run, state) -> None:
    """The job is completed on the server already; its process must not end before its S3
    upload does. A worker's flow-run process (the runner names its run in
    PREFECT__FLOW_RUN_ID) exits when the flow returns: past that, Python refuses the upload
    thread new threads and atexit hooks, and every file fails. A flow called in a longer-lived
    process (the CLI finishes its uploads itself) goes on at once."""
    if os.environ.get("PREFECT__FLOW_RUN_ID"):
        wait_for_uploads()


def _run_name() -> str:
    request = flow_run.parameters.get("request") or {}
    if isinstance(request, dict):
        request = ClipRequest.model_validate(request)
    return f"clip {request.label()}"


@flow(
    name=CLIP_FLOW,
    flow_run_name=_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=4),
    description="Cut a video into ranked, reframed 9:16 clips with titles and hooks.",
    on_completion=[delete_key_block_hook, _finish_uploads, notify_job_hook],
    on_failure=[delete_key_block_hook, notify_job_hook],
    on_cancellation=[delete_key_block_hook, notify_job_hook],
    on_crashed=[delete_key_block_hook, notify_job_hook],
)
def clip_video(request: ClipRequest):
    job_id = request.job_id or str(flow_run.id or "local")
    progress = JobProgress(job_id, job_dir(job_id, request.out_dir), request)
    try:
        _check_attempts()
        return _run(request, progress)
    except ReelflowError as exc:
        progress.failed(str(exc))
        return Failed(message=str(exc))
    except Exception as exc:
        get_run_logger().exception("Unexpected error in stage %s", progress.stage)
        reason = f"Internal error during {progress.stage} ({type(exc).__name__}); see the logs"
        progress.failed(reason)
        return Failed(message=reason)


def _check_attempts() -> None:
    """A run whose worker stopped is handed back and runs again (deployments/serve.py,
    deployments/automations.py); one that keeps taking its worker down stops here."""
    attempts = flow_run.run_count or 1
    if attempts > MAX_ATTEMPTS:
        raise ReelflowError(
            f"The job was started {attempts} times and its worker stopped every time; "
            "it is not tried again (look for what ends the worker: memory, a crash)"
        )


def _run(request: ClipRequest, progress: JobProgress) -> dict:
    opts = MomentOptions(
        clips=request.clips, min_seconds=request.min_seconds, max_seconds=request.max_seconds
    )
    if request.provider == "gemini" or request.translate:
        resolve_key(request.gemini_key_block)  # fail before the long stages, not after them
    progress.stage_started("ingest")
    media = ingest_task()(request.source)
    check_length(media.duration_s, opts.min_seconds)
    progress.media = media

    progress.stage_started("transcribe")
    transcript_run = transcribe.submit(media, model_tag(), request.language)
    cuts = scenes.submit(media).result()
    transcript = transcript_run.result()
    progress.transcribed(transcript)

    progress.stage_started("moments")
    picks = _pick_moments(request, transcript, cuts, opts, progress)
    progress.stage_started("boundaries")
    kept, dropped = boundaries(picks.moments, transcript, cuts, media.duration_s, opts, media)
    progress.dropped = dropped
    if request.provider != "local" and len(kept) < minimum_clips(opts):
        kept = _fill_from_local(kept, transcript, cuts, media, opts, progress)
    if not kept:
        raise NoMoments(_no_moments_reason(transcript.words, dropped, opts))

    progress.stage_started("reframe", planned=len(kept))
    spans = [(item.moment.start_s, item.moment.end_s) for item in kept]
    tracks = face_tracks(media, spans)  # one pass over the video for every clip
    plans = [
        reframe.submit(media, i, s, e, cuts, tracks.within(s, e), transcript.words_between(s, e))
        for i, (s, e) in enumerate(spans, start=1)
    ]
    plans = [plan.result() for plan in plans]
    progress.stage_started("render")
    entries = _render_all(media, kept, plans, progress, transcript)
    if request.translate:
        progress.stage_started("translate")
        entries = translate_clips(entries, request, media, transcript, plans, progress)

    progress.stage_started("publish")
    manifest = publish(str(progress.folder), transcript, progress.manifest())
    progress.completed(entries)
    start_uploads(progress.job_id, progress.folder)  # S3: in the background, never fails
    return {"job_id": progress.job_id, "folder": str(progress.folder),
            "clips": len(manifest.clips)}  # fmt: skip


def _pick_moments(
    request: ClipRequest,
    transcript: Transcript,
    cuts: list[float],
    opts: MomentOptions,
    progress: JobProgress,
) -> MomentPicks:
    """The key travels as the name of its Secret block; the task resolves it."""
    find = moments_task(request.provider)
    run = find(
        transcript, cuts, opts, request.provider, request.gemini_key_block, return_state=True
    )
    picks = run.result()  # raises the task's error
    progress.moments_found(picks.usage, cached=run.name == "Cached")
    return picks


def _fill_from_local(
    kept: list[RepairedMoment],
    transcript: Transcript,
    cuts: list[float],
    media: MediaInfo,
    opts: MomentOptions,
    progress: JobProgress,
) -> list[RepairedMoment]:
    found = len(kept)
    kept = fill(kept, transcript, cuts, media.duration_s, opts, media)
    progress.warn(
        f"{progress.request.provider} gave {found} usable moment(s) of the "
        f"{minimum_clips(opts)} wanted; {len(kept) - found} more came from the local scorer"
    )
    return kept


def _no_moments_reason(words: list, dropped: list, opts: MomentOptions) -> str:
    if not words:
        return "No speech was found, so no clip could be chosen"
    if dropped:
        return f"No clip survived boundary checks: {dropped[0].reason}"
    return f"Not enough continuous speech for a {opts.min_seconds:g}-{opts.max_seconds:g} s clip"


def _render_all(
    media: MediaInfo,
    kept: list[RepairedMoment],
    plans: list[ReframePlan],
    progress: JobProgress,
    transcript: Transcript,
) -> list[ClipEntry]:
    """Render the clips, at most RENDER_WORKERS at a time, placing each as it finishes.
    Captions, hook title and effects (the request's look) join each clip's one encode."""
    request = progress.request
    workers = get_settings().render_workers
    pending, entries = {}, []
    for i, (item, plan) in enumerate(zip(kept, plans, strict=True), start=1):
        if len(pending) >= workers:
            entries.append(_place_next(pending, progress))
        m = item.moment
        look = look_for_clip(request.look(), i, transcript, m.start_s, m.end_s, m.hook,
                             plan, media, request.provider, request.gemini_key_block,
                             progress.warn)  # fmt: skip
        task, args = render_args(media, i, m.start_s, m.end_s, plan, look)
        pending[task.submit(*args)] = (i, item, plan, look)
    while pending:
        entries.append(_place_next(pending, progress))
    return entries


def _place_next(pending: dict, progress: JobProgress) -> ClipEntry:
    future = next(as_completed(list(pending)))
    index, item, plan, look = pending.pop(future)
    clip, stem = future.result(), f"clip_{index:02d}"
    names = place_clip(clip, progress.folder, stem)
    entry = clip_entry(index, item, clip, names, reframe=plan,
                       **look_entry(look, progress.folder, stem))  # fmt: skip
    progress.clip_done(entry)
    return entry
