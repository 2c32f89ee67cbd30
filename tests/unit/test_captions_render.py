"""Captions, hook title and effects inside the real render pass, on a short synthetic clip:
one ffmpeg encode, a 1080x1920 H.264 stream, the right caption on screen at a word's time
(against a reference render of that line alone), and paths ffmpeg would choke on."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from reelflow.ass import new_document, write_ass
from reelflow.media import ffprobe_path, probe, tool_env
from reelflow.models import CropKey, CropSegment, ReframePlan
from reelflow.styles import CaptionStyle, EffectsOptions, HookStyle, LookOptions
from tasks import render as render_module
from tasks.captions import add_captions
from tasks.effects.local import clip_words, local_plan
from tasks.look import build_look
from tasks.render import render_clip
from tests.helpers.look_media import ass_frames, grab, make_source
from tests.helpers.transcript_factory import make_transcript

SECONDS = 6.0
TRANSCRIPT = make_transcript(
    [
        ("Nobody ever tells you this secret.", 0.3, 0.35, 0.8),
        ("It changes everything, honestly!", None, 0.4, 0.3),
    ],
    duration_s=SECONDS,
)
PLAN = ReframePlan(
    source_width=1280, source_height=720, crop_width=406, crop_height=720,
    segments=[CropSegment(start_s=0, end_s=SECONDS, layout="crop",
                          path=[CropKey(t=0, cx=640, cy=360)], faces=1)],
)  # fmt: skip


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return probe(make_source(tmp_path_factory.mktemp("src") / "flat.mp4", SECONDS))


def _render(source, look: LookOptions, out: Path, effects=None):
    words = clip_words(TRANSCRIPT, 0, SECONDS)
    built = build_look(look, words, "The hook line", SECONDS, PLAN, source.fps, effects)
    clip = render_clip(source, 0, SECONDS, PLAN, out / "clip.mp4", out / "clip.jpg",
                       extra_video_filters=built.video_filters,
                       extra_audio_filters=built.audio_filters)  # fmt: skip
    return clip, built


def _streams(path: Path) -> list[dict]:
    out = subprocess.run(
        [ffprobe_path(), "-v", "error", "-print_format", "json", "-show_streams", str(path)],
        capture_output=True, check=True, env=tool_env(),
    )  # fmt: skip
    return json.loads(out.stdout)["streams"]


def test_one_encode_one_vertical_stream_and_no_intermediate_files(
    data_dir, source, tmp_path, monkeypatch
):
    calls = []
    real = render_module.run_tool
    monkeypatch.setattr(render_module, "run_tool", lambda args, **kw: calls.append(args) or
                        real(args, **kw))  # fmt: skip
    look = LookOptions(captions="bold", hook=True, effects=EffectsOptions())
    clip, _built = _render(source, look, tmp_path / "out")
    assert len(calls) == 1, "captions, hook and effects must join the clip's one ffmpeg call"
    (args,) = calls
    graph = args[args.index("-filter_complex") + 1]
    assert "ass=filename=" in graph and "fontsdir=" in graph
    videos = [str(a) for a in args if str(a).endswith(".mp4")]
    assert videos[0] == source.path and len(videos) == 2  # one input, one output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip.jpg", "clip.mp4"]
    cache = data_dir / "cache"
    assert not [p for p in cache.rglob("*") if p.suffix in {".mp4", ".mkv", ".mov", ".ts"}]
    video = [s for s in _streams(Path(clip.path)) if s["codec_type"] == "video"]
    assert len(video) == 1
    assert (video[0]["width"], video[0]["height"], video[0]["codec_name"]) == (1080, 1920, "h264")


def test_a_frame_at_a_words_time_shows_that_words_line(data_dir, source, tmp_path):
    """Each grabbed frame's caption band matches a reference render of the line it should
    show far better than a reference of any other line."""
    style = CaptionStyle(preset="classic", position="bottom")
    _, built = _render(source, LookOptions(captions=style), tmp_path)
    lines = built.captions
    assert len(lines) >= 3
    references = []
    for line in lines:
        doc = new_document()
        add_captions(doc, [line], style)
        references.append(ass_frames(write_ass(doc), [line.start_s + 0.01], "0x808080")[0])
    band = slice(900, 1500)
    for i, line in enumerate(lines):
        for word in line.words:
            frame = grab(Path(tmp_path / "clip.mp4"), (word.start_s + word.end_s) / 2)
            errors = [
                np.abs(frame[band].astype(int) - ref[band].astype(int)).mean() for ref in references
            ]
            best = int(np.argmin(errors))
            assert best == i, f"at {word.text!r} the frame matches line {best}, not {i}"
            others = [e for k, e in enumerate(errors) if k != i]
            assert errors[i] < 2.0 and min(others) > 2 * errors[i]


def test_nothing_is_shown_before_the_first_word(data_dir, source, tmp_path):
    style = CaptionStyle(preset="classic")
    _render(source, LookOptions(captions=style), tmp_path)
    frame = grab(tmp_path / "clip.mp4", 0.1)  # the first word starts at 0.3 s
    assert np.abs(frame[900:1500].astype(int) - 128).max() < 30


def test_hostile_paths_and_text_render(monkeypatch, tmp_path, source):
    """A data folder whose name has every character ffmpeg's filter syntax cares about."""
    from reelflow.settings import get_settings

    odd = tmp_path / "da ta'x:[1],y;z\\w"
    monkeypatch.setenv("REELFLOW_DATA_DIR", str(odd))
    get_settings.cache_clear()
    try:
        hook = HookStyle(text='{\\pos(0,0)}"Quote" #1: C:\\dir 🔥 שלום ' + "long " * 40)
        look = LookOptions(captions="pop", hook=hook)
        clip, built = _render(source, look, tmp_path / "out")
        assert str(odd) in str(built.ass_path)
        assert Path(clip.path).stat().st_size > 10_000
    finally:
        get_settings.cache_clear()


def test_silence_cuts_shorten_video_and_audio_alike(data_dir, source, tmp_path):
    opts = EffectsOptions(cut_silences=True, min_silence_s=0.5, zoom=True)
    words = clip_words(TRANSCRIPT, 0, SECONDS)
    plan = local_plan(words, [], 0.25, SECONDS, opts)
    assert plan.cuts, "the 0.8 s pause is cut"
    clip, built = _render(source, LookOptions(captions="bold", effects=opts), tmp_path, plan)
    streams = {s["codec_type"]: float(s["duration"]) for s in _streams(Path(clip.path))}
    expected = built.duration_s
    assert expected < SECONDS - 0.2
    assert abs(streams["video"] - expected) < 0.1
    # loudnorm may leave up to one 100 ms block of tail: a frame held, never a drift.
    assert abs(streams["audio"] - streams["video"]) <= 0.15
    # Caption times moved to the cut timeline: the last line ends inside the shorter clip.
    assert built.captions[-1].end_s <= expected + 0.5


def test_cuts_keep_sound_and_picture_in_sync(data_dir, tmp_path):
    """A flash and a beep at the same moment after a cut still coincide in the output."""
    from reelflow.media import decode_audio, ffmpeg_path, iter_frames
    from tasks.effects.types import EffectsPlan, SilenceCut

    src = tmp_path / "flash.mp4"
    flash = "between(t,4,4.2)"
    subprocess.run([
        ffmpeg_path(), "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"color=c=black:s=1280x720:r=30:d={SECONDS},"
        f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{flash}'",
        "-f", "lavfi", "-i", f"sine=f=1000:d={SECONDS},volume=0:enable='not({flash})'",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(src),
    ], check=True, env=tool_env())  # fmt: skip
    media = probe(src)
    plan = EffectsPlan(duration_s=SECONDS, cuts=[SilenceCut(start_s=1.0, end_s=2.5)])
    look = LookOptions(effects=EffectsOptions(cut_silences=True, zoom=False, colour=False))
    built = build_look(look, [], "", SECONDS, PLAN, media.fps, plan)
    clip = render_clip(media, 0, SECONDS, PLAN, tmp_path / "c.mp4", tmp_path / "c.jpg",
                       extra_video_filters=built.video_filters,
                       extra_audio_filters=built.audio_filters)  # fmt: skip
    frames = iter_frames(clip.path, width=54, height=96, gray=True)
    seen = next(i for i, f in enumerate(frames) if f.mean() > 128) / 30
    audio = decode_audio(clip.path, rate=16000)
    heard = int(np.argmax(np.abs(audio) > 0.05)) / 16000
    assert seen == pytest.approx(4.0 - 1.5, abs=0.05)
    assert abs(seen - heard) < 0.045, (seen, heard)
