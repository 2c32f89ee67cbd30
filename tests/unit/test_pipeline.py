"""End to end: the clip_video flow on the committed speech fixture, with the real whisper
model, real ffmpeg and a real Prefect server; then the same input again, from the cache."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers.media import SAMPLE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def first_run(prefect_server, tmp_path_factory):
    from flows.clip import clip_video
    from reelflow.jobs import ClipRequest

    out = tmp_path_factory.mktemp("job1")
    state = clip_video(ClipRequest(source=str(SAMPLE), out_dir=str(out)), return_state=True)
    return state, out


def test_flow_completes_with_clips(first_run):
    state, out = first_run
    assert state.is_completed(), state.message
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert 3 <= len(manifest["clips"]) <= 15
    assert (out / "transcript.json").exists()
    table = pd.read_csv(out / "clips.csv")
    assert list(table["index"]) == [c["index"] for c in manifest["clips"]]


def test_clips_are_vertical_h264_aac_faststart(first_run, ffmpeg):
    _, out = first_run
    manifest = json.loads((out / "manifest.json").read_text())
    for clip in manifest["clips"]:
        info = _ffprobe(ffmpeg, out / clip["file"])
        video = next(s for s in info["streams"] if s["codec_type"] == "video")
        audio = next(s for s in info["streams"] if s["codec_type"] == "audio")
        assert (video["width"], video["height"]) == (1080, 1920)
        assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
        assert audio["codec_name"] == "aac"
        assert 15 <= float(info["format"]["duration"]) <= 60.5
        assert _moov_before_mdat(out / clip["file"]), "not faststart"
        assert (out / clip["thumbnail"]).stat().st_size > 1000


def test_manifest_fields_and_clean_boundaries(first_run):
    _, out = first_run
    manifest = json.loads((out / "manifest.json").read_text())
    words = json.loads((out / "transcript.json").read_text())["words"]
    assert words, "the fixture has speech"
    fields = {"index", "start", "end", "duration", "title", "hook", "description_tiktok",
              "description_instagram", "hashtags", "score", "reason", "file", "thumbnail",
              "boundaries"}  # fmt: skip
    for clip in manifest["clips"]:
        assert fields <= clip.keys()
        assert 15 <= clip["end"] - clip["start"] <= 60
        assert len(clip["title"]) <= 100 and len(clip["hook"].split()) <= 10
        assert 0 <= clip["score"] <= 100
        for t in (clip["start"], clip["end"]):
            inside = [w for w in words if w["start_s"] < t < w["end_s"]]
            assert not inside, f"clip {clip['index']} cuts inside {inside[0]['text']!r} at {t}"
        assert not clip["boundaries"]["starts_inside_word"]
        assert not clip["boundaries"]["ends_inside_word"]
    spans = sorted((c["start"], c["end"]) for c in manifest["clips"])
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), "clips overlap"


def test_crop_follows_the_face(first_run, ffmpeg):
    """The fixture's face moves between scenes; a cropped clip must keep it in frame."""
    import cv2

    from reelflow.faces import get_face_detector

    _, out = first_run
    manifest = json.loads((out / "manifest.json").read_text())
    truth = json.loads((SAMPLE.parent / "sample.json").read_text())
    found = 0
    for clip in manifest["clips"]:
        t = clip["start"] + 3.0
        if _scene_at(truth, t)["face_count"] != 1:
            continue
        frame = out / f"frame{clip['index']}.png"
        subprocess.run([ffmpeg, "-v", "error", "-y", "-ss", "3", "-i", str(out / clip["file"]),
                        "-frames:v", "1", str(frame)], check=True)  # fmt: skip
        faces = get_face_detector().detect(cv2.imread(str(frame)))
        assert faces, f"no face in clip {clip['index']} at +3 s"
        assert 1080 * 0.25 < faces[0].cx < 1080 * 0.75, "face is not near the centre"
        found += 1
    assert found, "no clip started in a one-face scene"


def test_second_run_is_served_from_cache(first_run, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.clip import clip_video
    from reelflow.jobs import ClipRequest

    state = clip_video(ClipRequest(source=str(SAMPLE), out_dir=str(tmp_path)), return_state=True)
    assert state.is_completed()
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    names = {r.name.split(" ")[0]: r.state.name for r in runs}
    for stage in ("transcribe", "scenes", "moments", "reframe", "render"):
        assert names.get(stage) == "Cached", f"{stage} ran again: {names}"
    first = json.loads((first_run[1] / "manifest.json").read_text())["clips"]
    again = json.loads((tmp_path / "manifest.json").read_text())["clips"]
    assert [(c["start"], c["end"]) for c in first] == [(c["start"], c["end"]) for c in again]


def _ffprobe(ffmpeg: str, path: Path) -> dict:
    from reelflow.media import ffprobe_path

    out = subprocess.run(
        [ffprobe_path(), "-v", "error", "-print_format", "json", "-show_format",
         "-show_streams", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def _moov_before_mdat(path: Path) -> bool:
    """Walk the top-level MP4 boxes: faststart puts the index (moov) before the media data."""
    order = []
    with path.open("rb") as fh:
        while True:
            header = fh.read(8)
            if len(header) < 8:
                break
            size, kind = int.from_bytes(header[:4], "big"), header[4:].decode("latin-1")
            if size == 1:
                size = int.from_bytes(fh.read(8), "big") - 8
            order.append(kind)
            fh.seek(size - 8, 1)
    return "moov" in order and order.index("moov") < order.index("mdat")


def _scene_at(truth: dict, t: float) -> dict:
    return next(s for s in truth["scenes"] if s["start_s"] <= t < s["end_s"])


def test_deleted_render_is_made_again(first_run, tmp_path):
    """A cache record must never hand back a clip file that cleanup removed."""
    from flows.clip import clip_video
    from reelflow.jobs import ClipRequest
    from reelflow.settings import get_settings

    for cached in (get_settings().cache_dir / "renders").glob("*"):
        cached.unlink()
    state = clip_video(ClipRequest(source=str(SAMPLE), out_dir=str(tmp_path)), return_state=True)
    assert state.is_completed(), state.message
    clips = json.loads((tmp_path / "manifest.json").read_text())["clips"]
    assert all((tmp_path / c["file"]).stat().st_size > 10_000 for c in clips)
