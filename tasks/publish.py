"""Stage 8, publish: lay a job's results out under its folder.

`jobs/<job_id>/` gets `clip_NN.mp4` and `clip_NN.jpg` (hard links to the content-addressed
renders when the file system allows, so nothing is copied), `transcript.json`, `clips.csv`
and `manifest.json` (reelflow.manifest), written last with status "completed", so a
reader that sees "completed" finds every file in place.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from prefect import task

from reelflow.files import link_or_copy, write_json_atomic, write_text_atomic
from reelflow.manifest import ClipEntry, Manifest, write_manifest
from reelflow.models import ClipFile, RepairedMoment, Transcript

CSV_COLUMNS = [
    "index", "start", "end", "duration", "score", "title", "hook", "hashtags",
    "description_tiktok", "description_instagram", "reason", "source", "file", "thumbnail",
    "starts_inside_word", "ends_inside_word", "ends_on_sentence_end", "start_to_scene_cut_s",
    "start_on", "end_on", "start_cut_level_db", "end_cut_level_db",
]  # fmt: skip


def place_clip(clip: ClipFile, folder: Path, stem: str) -> tuple[str, str]:
    """Put a rendered clip and its thumbnail into the job folder as `<stem>.mp4/.jpg`; return
    their file names."""
    names = (f"{stem}.mp4", f"{stem}.jpg")
    for src, name in zip((clip.path, clip.thumbnail), names, strict=True):
        link_or_copy(Path(src), folder / name)
    return names


def clip_entry(index: int, item: RepairedMoment, clip: ClipFile, names: tuple[str, str],
               **rendering: object) -> ClipEntry:  # fmt: skip
    """The manifest's entry for a clip; `rendering` adds what its look wrote (captions files,
    effects summary, the reframe plan)."""
    m = item.moment
    return ClipEntry.model_validate({
        "index": index,
        "start": round(m.start_s, 3),
        "end": round(m.end_s, 3),
        "duration": round(m.end_s - m.start_s, 3),
        **m.model_dump(include={"title", "hook", "description_tiktok", "description_instagram",
                                "hashtags", "score", "reason", "source"}),
        "file": names[0],
        "thumbnail": names[1],
        "width": clip.width,
        "height": clip.height,
        "boundaries": item.facts,
        **rendering,
    })  # fmt: skip


def write_transcript(folder: Path, transcript: Transcript) -> None:
    data = transcript.model_dump(exclude={"loudness_db", "loudness_hop_s"})
    write_json_atomic(folder / "transcript.json", data)


def write_clips_csv(folder: Path, clips: list[ClipEntry]) -> Path:
    rows = []
    for c in sorted(clips, key=lambda c: c.index):
        row = c.model_dump(include=set(CSV_COLUMNS))
        row["hashtags"] = " ".join(c.hashtags)
        if c.boundaries is not None:
            row.update(c.boundaries.model_dump(include=set(CSV_COLUMNS)))
        rows.append(row)
    # The csv module, not pandas: importing pandas cost every job (and every repeat) 1-2 s.
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, extrasaction="ignore",
                            lineterminator="\n")  # fmt: skip
    writer.writeheader()
    writer.writerows(rows)
    path = folder / "clips.csv"
    write_text_atomic(path, text.getvalue())
    return path


@task(name="publish", task_run_name="publish")
def publish(folder: str, transcript: Transcript, manifest: Manifest) -> Manifest:
    """Write the job's final files; the manifest last, so "completed" means everything is there."""
    path = Path(folder)
    write_transcript(path, transcript)
    write_clips_csv(path, manifest.clips)
    done = manifest.model_copy(update={"status": "completed", "stage": "done", "progress": 100})
    return write_manifest(path, done)
