"""The restyle_clip flow on a finished job (a small hand-made one): new versions render from
the source beside the earlier files, the job's manifest lists them, and the run has a status
folder of its own. Runs the flow against the session's Prefect server."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelflow.cli import main
from reelflow.manifest import ClipEntry, Manifest, VideoSummary, read_manifest, write_manifest
from reelflow.media import probe
from reelflow.models import CropKey, CropSegment, ReframePlan
from reelflow.styles import RestyleRequest
from tests.helpers.look_media import make_source
from tests.helpers.transcript_factory import make_transcript


@pytest.fixture
def finished_job(data_dir, tmp_path):
    source = probe(make_source(tmp_path / "talk.mp4", 5.0, colour="0x336699"))
    folder = tmp_path / "job"
    folder.mkdir()
    transcript = make_transcript([("You will never guess what happened next!", 0.4, 0.4, 0.3)])
    (folder / "transcript.json").write_text(transcript.model_dump_json())
    # The earlier render: not a video at all, so a restyle that read it would fail.
    (folder / "clip_01.mp4").write_bytes(b"earlier render")
    plan = ReframePlan(source_width=1280, source_height=720, crop_width=406, crop_height=720,
                       segments=[CropSegment(start_s=0, end_s=4.5, layout="crop",
                                             path=[CropKey(t=0, cx=640, cy=360)])])  # fmt: skip
    clip = ClipEntry(index=1, start=0.0, end=4.5, duration=4.5, title="T", hook="Guess what",
                     file="clip_01.mp4", thumbnail="clip_01.jpg", reframe=plan)  # fmt: skip
    write_manifest(folder, Manifest(
        job_id="job-1", status="completed", request={"source": source.path, "provider": "local"},
        video=VideoSummary(sha256=source.sha256), clips=[clip],
    ))  # fmt: skip
    return folder


@pytest.mark.slow
def test_restyle_adds_versions_from_the_source(prefect_server, finished_job, caplog, capsys):
    from flows.restyle import restyle_clip

    request = RestyleRequest(job=str(finished_job), index=1, captions="pop", hook=True,
                             effects={"cut_silences": False})  # fmt: skip
    state = restyle_clip(request, return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert result["file"] == "clip_01_v2.mp4"
    clip = probe(finished_job / "clip_01_v2.mp4")
    assert (clip.width, clip.height) == (1080, 1920)
    assert (finished_job / "clip_01.mp4").read_bytes() == b"earlier render"  # kept
    for name in ("clip_01_v2.jpg", "clip_01_v2.srt", "clip_01_v2.vtt"):
        assert (finished_job / name).stat().st_size > 0
    (entry,) = read_manifest(finished_job).clips
    (v2,) = entry.versions
    assert v2.version == 2 and v2.captions_srt == "clip_01_v2.srt"
    assert v2.look["captions"]["preset"] == "pop" and v2.hook_title
    # The run's own folder: a completed manifest with the new clip, and its files.
    own = Path(result["folder"])
    status = read_manifest(own)
    assert status.status == "completed"
    assert status.clips[0].file == "clip_01_v2.mp4"
    assert (own / "clip_01_v2.mp4").exists()

    # The CLI: a second restyle is version 3; the earlier versions stay.
    assert main(["restyle", str(finished_job), "1", "--captions", "karaoke"]) == 0
    assert capsys.readouterr().out.strip().endswith("clip_01_v3.mp4")
    versions = read_manifest(finished_job).clips[0].versions
    assert [v.version for v in versions] == [2, 3]
    assert (finished_job / "clip_01_v2.mp4").exists()

    # A clip the job does not have fails with a reason, and its status says so.
    caplog.errors_expected = True
    state = restyle_clip(RestyleRequest(job=str(finished_job), index=7, captions="bold"),
                         return_state=True)  # fmt: skip
    assert state.is_failed() and "has no clip 7" in state.message


def test_form_and_json_look_fields_become_request_options(data_dir):
    from api.service import look_fields
    from reelflow.jobs import ClipRequest

    form = {"captions": "karaoke", "hook": "true", "effects": '{"cut_silences": true}'}
    request = ClipRequest(source="x.mp4", **look_fields(form))
    assert request.captions.animation == "karaoke" and request.hook is not None
    assert request.effects.cut_silences
    as_json = {"captions": {"preset": "pop", "size": 80}, "hook": False, "effects": None}
    request = ClipRequest(source="x.mp4", **look_fields(as_json))
    assert (request.captions.size, request.hook, request.effects) == (80, None, None)
    with pytest.raises(ValueError, match="unknown caption preset"):
        ClipRequest(source="x.mp4", **look_fields({"captions": "sparkly"}))


@pytest.mark.slow
def test_a_corrected_framing_renders_from_the_source(prefect_server, finished_job, caplog, capsys):
    """`--reframe` keyframes steer the crop of the new version; the corrected plan is kept with
    it, and a correction that names a scene the clip does not have fails with the reason."""
    from reelflow.cli import main

    keys = '{"keyframes": [{"t": 0, "x": 300}, {"t": 4, "x": 900}]}'
    assert main(["restyle", str(finished_job), "1", "--reframe", keys]) == 0
    (version,) = read_manifest(finished_job).clip(1).versions
    (segment,) = version.reframe.segments
    assert [(k.t, k.cx) for k in segment.path] == [(0, 300), (4, 900)]
    assert version.reframe.report.manual
    assert read_manifest(finished_job).clip(1).reframe.segments[0].path[0].cx == 640, "kept"

    caplog.errors_expected = True
    bad = '{"layouts": [{"scene": 7, "layout": "fit"}]}'
    assert main(["restyle", str(finished_job), "1", "--reframe", bad]) == 1
    assert "scene 7" in capsys.readouterr().err.lower()
    with pytest.raises(SystemExit) as usage:
        main(["restyle", str(finished_job), "1", "--reframe", "[1, 2]"])
    assert usage.value.code == 2 and "must be a JSON object" in capsys.readouterr().err


def test_job_folder_takes_an_id_or_a_folder_and_nothing_else(data_dir, finished_job):
    from flows.restyle import job_folder
    from reelflow.errors import InvalidRequest

    assert job_folder(str(finished_job)) == finished_job.resolve()
    for bad in ("../../etc", "no-such-job", "/"):
        with pytest.raises(InvalidRequest, match="No job"):
            job_folder(bad)
