"""Silence cuts shorten the clip to its content: the rendered file's video and audio both end
where the cut timeline ends (issue: the source used to run on past the clip's end to fill the
uncut length, leaving dead air over continuing video at the clip's end)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reelflow.media import ffmpeg_path, probe, tool_env
from reelflow.models import CropKey, CropSegment, ReframePlan
from reelflow.styles import EffectsOptions, LookOptions
from tasks.effects.types import EffectsPlan, SilenceCut
from tasks.look import build_look
from tasks.render import render_clip
from tests.helpers.media import last_second_db, stream_lengths

FPS = 25


@pytest.fixture(scope="module")
def tone_then_silence(tmp_path_factory) -> Path:
    """20 s of picture; a tone for the first 12 s, silence after."""
    out = tmp_path_factory.mktemp("cut") / "src.mp4"
    subprocess.run([
        ffmpeg_path(), "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=s=640x360:r={FPS}:d=20",
        "-f", "lavfi", "-i", "sine=f=440:d=12,apad=whole_dur=20",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-t", "20", str(out),
    ], check=True, env=tool_env(), timeout=120)  # fmt: skip
    return out


def test_a_cut_clip_ends_with_its_content(tone_then_silence, tmp_path):
    media = probe(tone_then_silence)
    start, end = 2.0, 12.0
    # Two shots, as a scene cut makes: the layout is trimmed and joined before the cuts are.
    plan = ReframePlan(source_width=640, source_height=360, crop_width=202, crop_height=360,
                       segments=[CropSegment(start_s=0, end_s=4, layout="crop",
                                             path=[CropKey(t=0, cx=200, cy=180)]),
                                 CropSegment(start_s=4, end_s=10, layout="crop",
                                             path=[CropKey(t=4, cx=440, cy=180)])])  # fmt: skip
    cuts = EffectsPlan(
        duration_s=end - start,
        cuts=[SilenceCut(start_s=2, end_s=3), SilenceCut(start_s=6, end_s=6.5)],
    )
    look = LookOptions(effects=EffectsOptions(cut_silences=True, zoom=False, colour=False))
    built = build_look(look, [], "", end - start, plan, media.fps, cuts)
    assert built.duration_s == pytest.approx(8.5, abs=1 / FPS)
    clip = render_clip(media, start, end, plan, tmp_path / "c.mp4", tmp_path / "c.jpg",
                       extra_video_filters=built.video_filters,
                       extra_audio_filters=built.audio_filters,
                       output_s=built.duration_s)  # fmt: skip
    lengths = stream_lengths(Path(clip.path))
    assert lengths["video"] == pytest.approx(built.duration_s, abs=1 / FPS)
    assert lengths["audio"] == pytest.approx(built.duration_s, abs=1 / FPS)
    assert clip.duration_s == pytest.approx(built.duration_s, abs=1e-3)
    assert last_second_db(Path(clip.path)) > -30, "the clip ends in its sound, not dead air"


@pytest.mark.slow
def test_cli_and_restyle_clips_with_cuts_end_with_their_content(
    prefect_server, data_dir, ffmpeg, tmp_path, capsys
):
    from reelflow.cli import main
    from reelflow.manifest import read_manifest
    from tests.helpers.media import talk_with_pause

    talk = talk_with_pause(ffmpeg, tmp_path / "talk.mp4")
    out = tmp_path / "job"
    cuts = '{"cut_silences": true, "zoom": false, "colour": false}'
    assert main(["process", str(talk), "--clips", "1", "--min-seconds", "15", "--max-seconds",
                 "25", "--effects", cuts, "--out", str(out)]) == 0  # fmt: skip
    clip = read_manifest(out).clip(1)
    assert clip.duration_after_cuts is not None, "the inserted 1.5 s pause is cut"
    assert clip.duration_after_cuts < clip.duration - 1.0
    _ends_with_its_content(out / clip.file, clip.duration_after_cuts)

    assert main(["restyle", str(out), "1", "--captions", "bold", "--effects", cuts]) == 0
    (version,) = read_manifest(out).clip(1).versions
    assert version.duration_after_cuts == pytest.approx(clip.duration_after_cuts, abs=1e-3)
    _ends_with_its_content(out / version.file, version.duration_after_cuts)


def _ends_with_its_content(path: Path, length_s: float) -> None:
    lengths = stream_lengths(path)
    frame = 1 / float(probe(path).fps)
    assert lengths["video"] == pytest.approx(length_s, abs=frame), lengths
    assert lengths["audio"] == pytest.approx(length_s, abs=frame), lengths
    assert last_second_db(path) > -45, "speech, not dead air, in the last second"
