"""Effects plans: the local rules, the limits every plan is held to, the filters they become,
and the Gemini planner through the real google-genai client against the stand-in server."""

from __future__ import annotations

import itertools
import json
import re

import pytest

from reelflow.errors import GeminiBadAnswer, GeminiBlocked
from reelflow.gemini import GeminiOptions
from reelflow.models import CropKey, CropSegment, ReframePlan
from reelflow.styles import EffectsOptions, LookOptions
from tasks.effects.dispatch import plan_effects
from tasks.effects.filters import effect_filters, kept_spans
from tasks.effects.gemini import gemini_plan
from tasks.effects.local import clip_words, local_plan, sanitize_plan
from tasks.effects.types import EffectSegment, EffectsPlan, Grade, SilenceCut
from tasks.look import plan_clip_effects
from tests.helpers.gemini_server import gemini_stand_in
from tests.helpers.transcript_factory import make_transcript

KEY = "AIzaTEST-effects-1"
TRANSCRIPT = make_transcript(
    [
        ("So I tried it for a while and it was fine.", 0.2, 0.3, 0.4),
        ("Then it was the worst mistake I ever made.", None, 0.3, 1.6),
        ("We lost $40,000 in one week!", None, 0.3, 0.4),
        ("And nobody told us anything about it.", None, 0.3, 0.2),
    ],
    duration_s=20.0,
)
WORDS = clip_words(TRANSCRIPT, 0, 20.0)
PLAN = ReframePlan(
    source_width=1920, source_height=1080, crop_width=608, crop_height=1080,
    segments=[CropSegment(start_s=0, end_s=10, layout="crop", path=[CropKey(t=0, cx=1700, cy=540)]),
              CropSegment(start_s=10, end_s=20, layout="fit")],
)  # fmt: skip


def test_local_plan_punches_in_on_emphatic_words_within_limits():
    plan = local_plan(WORDS, [], 0.25, 20.0, EffectsOptions(max_zoom=1.4))
    assert plan.source == "local" and plan.segments
    texts = " ".join(s.reason for s in plan.segments)
    assert any(w in texts for w in ("worst", "mistake", "$40,000", "week!", "nobody"))
    for seg in plan.segments:
        assert 0 <= seg.start_s < seg.end_s <= 20.0
        assert 1.0 < seg.zoom <= 1.4
    spans = sorted((s.start_s, s.end_s) for s in plan.segments)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert not plan.cuts  # not asked for


def test_loud_words_are_emphasised_even_when_plain():
    loud = [-30.0] * 80
    target = next(w for w in WORDS if w.text == "fine.")
    loud[int((target.start_s + target.end_s) / 2 / 0.25)] = -6.0
    plan = local_plan(WORDS, loud, 0.25, 20.0, EffectsOptions())
    assert any("fine." in s.reason for s in plan.segments)


def test_silence_cuts_leave_some_pause_and_never_touch_words():
    plan = local_plan(WORDS, [], 0.25, 20.0, EffectsOptions(cut_silences=True))
    assert len(plan.cuts) == 1  # the 1.6 s pause
    cut = plan.cuts[0]
    assert all(w.end_s <= cut.start_s - 0.2 or w.start_s >= cut.end_s + 0.2 for w in WORDS)


def test_sanitize_holds_any_plan_to_the_options():
    wild = EffectsPlan(
        duration_s=10,
        source="gemini",
        segments=[
            EffectSegment(start_s=-5, end_s=3, zoom=1.5, grade=Grade(brightness=0.3)),
            EffectSegment(start_s=2, end_s=4, zoom=1.5),  # overlaps: trimmed to 3-4
            EffectSegment(start_s=9.9, end_s=50, zoom=1.2),  # too short once clipped
        ],
        cuts=[SilenceCut(start_s=5, end_s=6)],
    )
    plan = sanitize_plan(wild, EffectsOptions(max_zoom=1.2, colour=False))
    assert [(s.start_s, s.end_s, s.zoom) for s in plan.segments] == [(0, 3, 1.2), (3, 4, 1.2)]
    assert all(s.grade.identity for s in plan.segments) and plan.base.identity
    assert plan.cuts == []  # cut_silences is off


def test_filters_are_numbers_only_and_centre_on_the_face():
    plan = EffectsPlan(
        duration_s=20,
        segments=[EffectSegment(start_s=2, end_s=4, zoom=1.5, reason="'; drop table --,[x]")],
        cuts=[SilenceCut(start_s=8, end_s=9)],
        base=Grade(contrast=1.1),
    )
    video, audio, time_map = effect_filters(plan, PLAN, 30.0)
    graph = ";".join(video + audio)
    assert "drop" not in graph
    assert re.fullmatch(r"[\w=:.,;\[\]\-/ ]+", graph), graph
    # The window is pushed against the right edge (1312-1920), so the face at 1700 is at
    # (1700 - 1312) * 1080 / 608 = 689 of the picture, not at its centre.
    crop = re.search(r"crop=(\d+):(\d+):(\d+):(\d+)", graph).groups()
    w, _, x, _ = map(int, crop)
    assert w == 720 and abs(x + w / 2 - 689) <= 1
    assert time_map.duration_s == pytest.approx(19.0, abs=0.05)
    assert time_map.to_output(10.0) == pytest.approx(9.0, abs=0.05)
    assert kept_spans(plan, 30.0).spans[0] == (0.0, 8.0)


def test_no_effects_no_filters():
    plan = EffectsPlan(duration_s=5)
    assert effect_filters(plan, PLAN, 30.0)[:2] == ([], [])


# --- Gemini ---------------------------------------------------------------------------------


@pytest.fixture
def gemini(monkeypatch):
    with gemini_stand_in(monkeypatch, KEY, GEMINI_RETRIES="1") as server:
        yield server


def answer(segments, **base) -> str:
    return json.dumps({"segments": segments, **base})


def test_gemini_plan_is_parsed_and_held_to_the_limits(gemini):
    gemini.text(answer([
        {"start_s": 4.0, "end_s": 5.5, "zoom": 3.0, "contrast": 9, "reason": "the worst"},
        {"start_s": 12.0, "end_s": 13.0, "zoom": 1.2, "saturation": 1.3, "reason": "money"},
    ], base_contrast=1.05))  # fmt: skip
    opts = EffectsOptions(max_zoom=1.3)
    plan = plan_effects(WORDS, [], 0.25, 20.0, opts, "gemini")
    assert plan.source == "gemini"
    assert [s.zoom for s in plan.segments] == [1.3, 1.2]
    assert plan.segments[0].grade.contrast == 1.4 and plan.base.contrast == 1.05
    (request,) = gemini.requests
    assert request.headers["x-goog-api-key"] == KEY
    assert "worst@" in request.prompt and "Clip length: 20.0 s" in request.prompt
    config = request.body["generationConfig"]
    assert config["responseMimeType"] == "application/json" and config["temperature"] == 0.0


def test_a_malformed_answer_is_asked_for_once_more(gemini, caplog):
    gemini.text("not json")
    gemini.text(answer([{"start_s": 1, "end_s": 2, "zoom": 1.2}]))
    plan = gemini_plan(WORDS, [], 0.25, 20.0, EffectsOptions(), GeminiOptions.from_settings())
    assert len(plan.segments) == 1 and len(gemini.requests) == 2
    assert "could not be used" in gemini.requests[1].prompt


def test_two_bad_answers_and_blocks_fail_clearly(gemini):
    gemini.text("")
    gemini.text('{"segments": [{"start_s": "soon"}]}')
    with pytest.raises(GeminiBadAnswer, match="asked twice"):
        gemini_plan(WORDS, [], 0.25, 20.0, EffectsOptions(), GeminiOptions.from_settings())
    gemini.blocked_answer()
    with pytest.raises(GeminiBlocked):
        gemini_plan(WORDS, [], 0.25, 20.0, EffectsOptions(), GeminiOptions.from_settings())


def test_gemini_outage_is_retried_then_falls_back_to_local(gemini, prefect_server, caplog):
    from prefect import flow

    gemini.error(503)
    gemini.text(answer([{"start_s": 1, "end_s": 2, "zoom": 1.2}]))
    look = LookOptions(effects=EffectsOptions(provider="gemini"))

    @flow
    def plan_once():
        return plan_clip_effects(look, 1, WORDS, [], 0.25, 20.0, "local", None)

    assert plan_once().source == "gemini"  # the 503 was retried
    assert len(gemini.requests) == 2
    caplog.errors_expected = True  # Prefect logs the failed tries
    warnings = []
    gemini.error(401, "bad key")

    @flow
    def plan_refused():
        return plan_clip_effects(look, 2, WORDS[:-1], [], 0.25, 20.0, "gemini", None,
                                 warn=warnings.append)  # fmt: skip

    assert plan_refused().source == "local"
    assert warnings and "planned locally" in warnings[0]
