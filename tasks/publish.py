"""Stage 8, publish: lay a job's results out under its folder.

`jobs/<job_id>/` gets `clip_NN.mp4` and `clip_NN.jpg` (hard links to the content-addressed
renders when the file system allows, so nothing is copied), `transcript.json`, `clips.csv`
(pandas) and `manifest.json`. The manifest is rewritten as each clip lands, with status
"processing"; it says "completed" only when every clip is in place, and "failed" with the
reason when the job fails, so a failed job never leaves a manifest that looks finished.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task

from reelflow.jobs import MANIFEST, ClipRequest, link_or_copy, write_json_atomic
from reelflow.models import ClipFile, DroppedMoment, MediaInfo, RepairedMoment, Transcript

CSV_COLUMNS = [
    "index", "start", "end", "duration", "score", "title", "hook", "hashtags",
    "description_tiktok", "description_instagram", "reason", "source", "file", "thumbnail",
    "starts_inside_word", "ends_inside_word", "ends_on_sentence_end", "start_to_scene_cut_s",
]  # fmt: skip


def place_clip(clip: ClipFile, folder: Path, index: int) -> tuple[str, str]:
    """Put a rendered clip and its thumbnail into the job folder; return their file names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = (f"clip_{index:02d}.mp4", f"clip_{index:02d}.jpg")
    for src, name in zip((clip.path, clip.thumbnail), names, strict=True):
        link_or_copy(Path(src), folder / name)
    return names


def clip_entry(index: int, item: RepairedMoment, clip: ClipFile, names: tuple[str, str]) -> dict:
    m, f = item.moment, item.facts
    return {
        "index": index,
        "start": round(m.start_s, 3),
        "end": round(m.end_s, 3),
        "duration": round(m.end_s - m.start_s, 3),
        "title": m.title,
        "hook": m.hook,
        "description_tiktok": m.description_tiktok,
        "description_instagram": m.description_instagram,
        "hashtags": list(m.hashtags),
        "score": m.score,
        "reason": m.reason,
        "source": m.source,
        "file": names[0],
        "thumbnail": names[1],
        "width": clip.width,
        "height": clip.height,
        "boundaries": f.model_dump(),
    }


def write_manifest(
    folder: Path,
    *,
    job_id: str,
    status: str,
    request: ClipRequest,
    media: MediaInfo | None = None,
    clips: list[dict] | None = None,
    dropped: list[DroppedMoment] | None = None,
    moments: dict | None = None,
    planned: int | None = None,
    error: str | None = None,
    warnings: list[str] | None = None,
    timings: dict[str, float] | None = None,
    stage: str | None = None,
    progress: float | None = None,
) -> dict[str, Any]:
    done = status == "completed"
    manifest = {
        "job_id": job_id,
        "status": status,
        "stage": "done" if done else stage,
        "progress": 100 if done else round(progress or 0, 1),
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "request": request.model_dump(exclude={"gemini_key_block"}),
        "video": _video_summary(media),
        "clips_planned": planned,
        "clips": sorted(clips or [], key=lambda c: c["index"]),
        "dropped": [{"start": d.moment.start_s, "end": d.moment.end_s, "reason": d.reason}
                    for d in dropped or []],
        "moments": moments,
        "warnings": warnings or [],
        "error": error,
        "timings_s": {k: round(v, 3) for k, v in (timings or {}).items()},
    }  # fmt: skip
    write_json_atomic(folder / MANIFEST, manifest)
    return manifest


def _video_summary(media: MediaInfo | None) -> dict | None:
    if media is None:
        return None
    return media.model_dump(include={
        "source", "title", "sha256", "duration_s", "width", "height", "fps", "has_audio",
    })  # fmt: skip


def write_transcript(folder: Path, transcript: Transcript) -> None:
    data = transcript.model_dump(exclude={"loudness_db", "loudness_hop_s"})
    write_json_atomic(folder / "transcript.json", data)


def write_clips_csv(folder: Path, clips: list[dict]) -> Path:
    rows = []
    for c in sorted(clips, key=lambda c: c["index"]):
        row = {k: c.get(k) for k in CSV_COLUMNS}
        row["hashtags"] = " ".join(c["hashtags"])
        row.update({k: c["boundaries"].get(k) for k in CSV_COLUMNS if k in c["boundaries"]})
        rows.append(row)
    path = folder / "clips.csv"
    pd.DataFrame(rows, columns=CSV_COLUMNS).to_csv(path, index=False)
    return path


@task(name="publish", task_run_name="publish")
def publish(folder: str, transcript: Transcript, clips: list[dict], **manifest: Any) -> dict:
    """Write the job's final files; the manifest last, so "completed" means everything is there."""
    path = Path(folder)
    write_transcript(path, transcript)
    write_clips_csv(path, clips)
    return write_manifest(path, status="completed", clips=clips, **manifest)
