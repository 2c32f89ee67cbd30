"""The `gemini` moment provider, driven through the real google-genai client against a
stand-in Gemini server on 127.0.0.1 (tests/gemini_server.py). No network.

Most cases run the provider as a plain function on small synthetic transcripts; the retry
cases run the `moments` task under Prefect (real task retries, 0.05 s apart); two slow tests
run the whole flow on the committed sample video.
"""

from __future__ import annotations

import itertools
import json
import math

import pytest

from reelflow.caching import retry_transient_only
from reelflow.errors import (
    GeminiBadAnswer,
    GeminiBlocked,
    GeminiKeyError,
    GeminiUnavailable,
)
from reelflow.gemini import KEY_REJECTED, NO_KEY, GeminiOptions, estimate_cost
from reelflow.settings import get_settings
from tasks.boundaries import repair_moments
from tasks.moments.dispatch import fill_from_local, find_moments, moments_task
from tasks.moments.gemini import (
    CHARS_PER_TOKEN,
    SEED,
    build_prompt,
    find_gemini_moments,
    transcript_windows,
)
from tasks.moments.types import MomentOptions
from tests.helpers.gemini_server import GeminiStandIn, gemini_stand_in
from tests.helpers.media import SAMPLE
from tests.helpers.transcript_factory import random_transcript

KEY = "AIzaTEST-secret-123"
CUTS = [30.0, 75.5, 140.2]


@pytest.fixture
def gemini(monkeypatch):
    with gemini_stand_in(monkeypatch, KEY, GEMINI_TIMEOUT_S="10") as server:
        yield server


@pytest.fixture(scope="module")
def transcript():
    return random_transcript(180, seed=3)


def pick(start: float, end: float, score: float = 80, **extra) -> dict:
    """One moment as Gemini would answer it."""
    return {
        "start_s": start,
        "end_s": end,
        "title": extra.pop("title", f"A strong moment at {start:g} s"),
        "hook": "You will not believe this",
        "description_tiktok": "Short and punchy.",
        "description_instagram": "A longer caption. With two sentences.",
        "hashtags": ["#learning", "focus"],
        "score": score,
        "reason": "Opens on a question and pays off.",
        **extra,
    }


def ask(transcript, opts=None, provider="gemini"):
    return find_moments(transcript, CUTS, opts or MomentOptions(clips=3), provider)


def run_task(transcript, opts):
    """The `moments` task as the flow runs it: under Prefect, with its retries."""
    from prefect import flow

    @flow
    def find() -> object:
        return moments_task("gemini")(transcript, CUTS, opts, "gemini", None)

    return find()


# --- A good answer, and what the SDK sent ---------------------------------------------------


def test_good_answer_is_parsed_ranked_and_accounted(gemini, transcript):
    gemini.answer([pick(60, 90, 70), pick(10, 40, 91.5), pick(120, 150, 80)])
    picks = ask(transcript)
    assert [m.score for m in picks.moments] == [91.5, 80, 70]
    assert all(m.source == "gemini" for m in picks.moments)
    assert picks.moments[0].hashtags == ["#learning", "#focus"]
    usage = picks.usage
    assert (usage.provider, usage.model, usage.requests) == ("gemini", "gemini-2.5-flash", 1)
    assert (usage.tokens_in, usage.tokens_out) == (1200, 300)
    assert usage.estimated_cost_usd == estimate_cost("gemini-2.5-flash", 1200, 300) > 0


def test_request_carries_schema_settings_and_transcript(gemini, transcript):
    gemini.answer([pick(10, 40)])
    ask(transcript)
    (request,) = gemini.requests
    assert request.model == "gemini-2.5-flash"
    assert request.headers["x-goog-api-key"] == KEY  # in the header, never in the URL
    assert KEY not in request.path
    config = request.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert (config["temperature"], config["seed"]) == (0.0, SEED)
    item = config["responseSchema"]["properties"]["moments"]["items"]
    assert set(item["properties"]) == {
        "start_s", "end_s", "title", "hook", "description_tiktok", "description_instagram",
        "hashtags", "score", "reason",
    }  # fmt: skip
    assert set(item["required"]) == set(item["properties"])
    system = request.body["systemInstruction"]["parts"][0]["text"]
    assert "self-contained" in system.lower() and "sponsor" in system
    prompt = request.prompt
    assert "Video duration: 180.0 s" in prompt and "exactly 3 moments" in prompt
    assert "Scene cuts (s): 30.0, 75.5, 140.2" in prompt
    for s in transcript.sentences:
        assert f"[{s.start_s:.1f}-{s.end_s:.1f}] {s.text}" in prompt


def test_long_sentences_carry_word_times(gemini):
    from tests.helpers.transcript_factory import make_transcript

    words = " ".join(f"word{k}" for k in range(40))
    transcript = make_transcript([(words + ".", 0.0, 0.5, 0.5), ("Short one here.", None, 0.3, 0)])
    gemini.answer([])
    ask(transcript)
    prompt = gemini.requests[0].prompt
    assert "[0.0-19.9] word0 word1 word2 word3 word4 word5 {3.0} word6" in prompt
    assert "[20.4-21.3] Short one here." in prompt


# --- Bad timestamps reach boundary repair -----------------------------------------------------


def test_bad_timestamps_are_repaired_or_dropped(gemini, transcript):
    w = transcript.words[40]
    mid_word = (w.start_s + w.end_s) / 2
    end_word = transcript.words[120]
    gemini.answer([
        pick(mid_word, (end_word.start_s + end_word.end_s) / 2, 95),  # cuts words at both ends
        pick(100, 130, 90),
        pick(125, 150, 70),  # overlaps the one before by 5 s
        pick(400, 430, 85),  # outside the 180 s video
        pick(170, 200, 60),  # runs past the end
        pick(50, 45, 50),  # ends before it starts
    ])  # fmt: skip
    opts = MomentOptions(clips=6)
    picks = ask(transcript, opts)
    kept, dropped = repair_moments(picks.moments, transcript, CUTS, transcript.duration_s, opts)
    reasons = " | ".join(d.reason for d in dropped)
    assert "outside the video" in reasons and "not after its start" in reasons
    spans = sorted((k.moment.start_s, k.moment.end_s) for k in kept)
    assert all(a[1] <= b[0] + 1e-6 for a, b in itertools.pairwise(spans)), spans
    for item in kept:
        m = item.moment
        assert 0 <= m.start_s < m.end_s <= transcript.duration_s
        assert 15 - 1e-6 <= m.duration_s <= 60 + 1e-6
        assert not item.facts.starts_inside_word and not item.facts.ends_inside_word
        assert m.source == "gemini"
    repaired = next(k for k in kept if k.moment.score == 95)
    assert repaired.facts.adjustments, "the mid-word cuts were moved"


def test_texts_are_trimmed_and_score_clamped(gemini, transcript):
    long_title = "word " * 30
    gemini.answer([pick(10, 40, 140, title=long_title, hook=" ".join(["go"] * 14))])
    (m,) = ask(transcript).moments
    assert len(m.title) <= 100 and m.title.startswith("word word")
    assert len(m.hook.split()) == 10 and m.score == 100


# --- Transient errors: retried by Prefect; permanent ones: not ----------------------------------


@pytest.mark.parametrize(
    "failures",
    [pytest.param([429], id="429-then-ok"), pytest.param([500, 500], id="500-twice-then-ok")],
)
def test_transient_errors_are_retried(gemini, transcript, prefect_server, caplog, failures):
    for status in failures:
        gemini.error(status)
    gemini.answer([pick(10, 40), pick(60, 90)])
    task = moments_task("gemini")
    assert task.retries == 3 and task.retry_jitter_factor
    picks = run_task(transcript, MomentOptions(clips=2))
    assert len(picks.moments) == 2
    assert len(gemini.requests) == len(failures) + 1
    assert picks.usage.requests == 1  # refused requests cost nothing
    assert f"Retry {len(failures)}/3" in caplog.text


def test_a_retry_asks_only_the_windows_without_an_answer(gemini, prefect_server, caplog):
    """A 503 on the last of three windows: the retry asks that window alone; the two answered
    before are neither asked nor paid for again, yet still counted in the job's usage."""
    transcript = random_transcript(4000, seed=11)
    opts = MomentOptions()
    overlap = max(GeminiOptions().overlap_s, opts.max_seconds)
    assert len(transcript_windows(transcript, GeminiOptions(), overlap)) == 3
    gemini.answer([pick(100, 130, 80)])
    gemini.answer([pick(2000, 2030, 70)])
    gemini.error(503)
    gemini.answer([pick(3800, 3830, 90)])
    picks = run_task(transcript, opts)
    parts = [r.prompt.split("This is part ")[1][:1] for r in gemini.requests]
    assert parts == ["1", "2", "3", "3"]
    assert [m.score for m in picks.moments] == [90, 80, 70]
    assert (picks.usage.requests, picks.usage.tokens_in) == (3, 3600)
    assert "Retry 1/3" in caplog.text and "not asked again" in caplog.text


@pytest.mark.parametrize(
    ("script", "error", "message"),
    [
        pytest.param(lambda g: g.error(401), GeminiKeyError, KEY_REJECTED, id="401"),
        pytest.param(
            lambda g: g.error(
                400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID"
            ),
            GeminiKeyError,
            KEY_REJECTED,
            id="400-key-invalid",
        ),
        pytest.param(lambda g: g.error(403), GeminiKeyError, KEY_REJECTED, id="403"),
        pytest.param(
            lambda g: g.blocked_prompt("SAFETY"),
            GeminiBlocked,
            "block reason SAFETY",
            id="prompt-blocked",
        ),
        pytest.param(
            lambda g: g.blocked_answer("SAFETY"),
            GeminiBlocked,
            "finish reason SAFETY",
            id="answer-blocked",
        ),
        pytest.param(lambda g: g.error(404), Exception, "no model 'gemini-2.5-flash'", id="404"),
    ],
)
def test_permanent_errors_fail_at_once(
    gemini, transcript, prefect_server, caplog, script, error, message
):
    caplog.errors_expected = True  # Prefect logs the task's failure
    script(gemini)
    gemini.answer([pick(10, 40)])  # never asked for: no retry, no repair attempt
    with pytest.raises(error) as raised:
        run_task(transcript, MomentOptions(clips=1))
    assert message in str(raised.value)
    assert raised.value.permanent
    assert len(gemini.requests) == 1
    assert "Retry 1/" not in caplog.text


def test_blocked_is_not_reported_as_an_outage(gemini, transcript):
    gemini.blocked_answer("PROHIBITED_CONTENT")
    with pytest.raises(GeminiBlocked) as raised:
        ask(transcript)
    text = str(raised.value)
    assert "PROHIBITED_CONTENT" in text and "HARM_CATEGORY_DANGEROUS_CONTENT" in text
    assert "unavailable" not in text.lower() and "try again" not in text.lower()


def test_retry_condition_tells_transient_from_permanent():
    from prefect.states import Failed

    def retried(exc: Exception) -> bool:
        return retry_transient_only(None, None, Failed(data=exc))

    assert retried(GeminiUnavailable("Gemini is unavailable (503 UNAVAILABLE)"))
    for exc in (GeminiKeyError(KEY_REJECTED), GeminiBlocked("x"), GeminiBadAnswer("x")):
        assert not retried(exc)


def test_timeout_and_refused_connection_are_transient(gemini, transcript, monkeypatch):
    monkeypatch.setenv("GEMINI_TIMEOUT_S", "0.5")
    get_settings.cache_clear()
    gemini.reply(200, {}, delay_s=2.0)
    with pytest.raises(GeminiUnavailable, match="did not answer in time"):
        ask(transcript)
    closed = GeminiStandIn().start()
    url = closed.url
    closed.stop()
    monkeypatch.setenv("GEMINI_BASE_URL", url)
    get_settings.cache_clear()
    with pytest.raises(GeminiUnavailable, match="Could not reach Gemini"):
        ask(transcript)


def test_missing_key_fails_before_any_request(gemini, transcript, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "")
    get_settings.cache_clear()
    with pytest.raises(GeminiKeyError) as raised:
        ask(transcript)
    assert str(raised.value) == NO_KEY and raised.value.permanent
    assert gemini.requests == []


# --- Empty or malformed answers: one repair attempt -----------------------------------------


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        pytest.param(
            lambda g: g.text('{"moments": [{"start_s": 10'), "Invalid JSON", id="malformed-json"
        ),
        pytest.param(
            lambda g: g.text('{"clips": []}'), "moments: Field required", id="wrong-shape"
        ),
        pytest.param(lambda g: g.text(""), "the answer was empty", id="empty"),
        pytest.param(
            lambda g: g.text("", finish="MAX_TOKENS"),
            "finish reason MAX_TOKENS",
            id="empty-max-tokens",
        ),
    ],
)
def test_unusable_answer_gets_one_repair(gemini, transcript, script, problem):
    script(gemini)
    gemini.answer([pick(10, 40)])
    picks = ask(transcript)
    assert len(picks.moments) == 1 and picks.usage.requests == 2
    first, second = gemini.requests
    assert "could not be used" not in first.prompt
    assert "could not be used" in second.prompt and problem in second.prompt
    assert second.prompt.startswith(first.prompt)


def test_unusable_twice_fails_clearly(gemini, transcript):
    gemini.text("Sure! Here are some moments: ...")
    gemini.text("")
    gemini.answer([pick(10, 40)])  # never asked for
    with pytest.raises(GeminiBadAnswer, match="no usable answer, asked twice: the answer was"):
        ask(transcript)
    assert len(gemini.requests) == 2


# --- Too few moments: fill from the local scorer --------------------------------------------


def test_too_few_moments_are_filled_from_local(gemini, transcript):
    gemini.answer([pick(60, 90, 88), pick(400, 420, 80)])  # the second lies outside the video
    opts = MomentOptions(clips=4)
    picks = ask(transcript, opts)
    kept, _ = repair_moments(picks.moments, transcript, CUTS, transcript.duration_s, opts)
    assert len(kept) == 1
    filled = fill_from_local(kept, transcript, CUTS, transcript.duration_s, opts)
    assert len(filled) == 4
    assert [k.moment.source for k in filled] == ["gemini", "local", "local", "local"]
    assert filled[0] is kept[0]
    spans = sorted((k.moment.start_s, k.moment.end_s) for k in filled)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans)), spans


def test_fill_keeps_enough_as_is(transcript):
    opts = MomentOptions()
    local = find_moments(transcript, [], opts, "local").moments[:3]
    kept, _ = repair_moments(local, transcript, [], transcript.duration_s, opts)
    assert fill_from_local(kept, transcript, [], transcript.duration_s, opts) == kept


# --- Long videos: overlapping windows --------------------------------------------------------


def test_three_hour_video_is_asked_in_windows_within_budget():
    transcript = random_transcript(3 * 3600, seed=5)
    options = GeminiOptions()
    opts = MomentOptions()
    windows = transcript_windows(transcript, options, options.overlap_s)
    assert 5 <= len(windows) <= 9
    assert windows[0].start_s == transcript.sentences[0].start_s
    assert windows[-1].end_s == transcript.sentences[-1].end_s
    for a, b in itertools.pairwise(windows):
        assert a.end_s - b.start_s >= opts.max_seconds, "a moment on the edge must fit whole"
        assert b.start_s > a.start_s
    for part, window in enumerate(windows):
        prompt = build_prompt(transcript, [], opts, window, part, len(windows))
        assert len(prompt) / CHARS_PER_TOKEN < 40_000  # Gemini 2.5 Flash reads 1M tokens
        assert f"part {part + 1} of {len(windows)}" in prompt
    lines = sum(len(w.lines) for w in windows)
    assert len(transcript.sentences) <= lines < 1.2 * len(transcript.sentences)


def test_windows_are_merged_deduplicated_and_ranked(gemini, monkeypatch):
    transcript = random_transcript(900, seed=7)
    options = GeminiOptions(base_url=gemini.url, window_s=400, overlap_s=120)
    windows = transcript_windows(transcript, options, options.overlap_s)
    assert len(windows) == 3
    edge = windows[0].end_s - 60  # inside the overlap of windows 1 and 2
    gemini.answer([pick(20, 50, 60), pick(edge, edge + 30, 85)])
    gemini.answer(
        [pick(edge + 2, edge + 31, 83), pick(windows[1].end_s - 200, windows[1].end_s - 170, 95)]
    )
    gemini.answer([pick(850, 880, 75)])
    picks = find_gemini_moments(transcript, [], MomentOptions(), options)
    assert [m.score for m in picks.moments] == [95, 85, 75, 60]  # the 83 was the 85 seen twice
    assert picks.usage.requests == 3 and picks.usage.tokens_in == 3600
    prompts = [r.prompt for r in gemini.requests]
    assert all(f"part {k + 1} of 3" in p for k, p in enumerate(prompts))


def test_no_speech_asks_nothing(gemini):
    from tests.helpers.transcript_factory import make_transcript

    silent = make_transcript([], duration_s=120)
    picks = ask(silent)
    assert picks.moments == [] and picks.usage.requests == 0 and gemini.requests == []


# --- Cache key: transcript, cuts, options, model, prompt; never the key ----------------------


def test_cache_key_ignores_the_key_block_and_follows_the_model(gemini, transcript, monkeypatch):
    from tasks.moments.dispatch import _cache_key

    params = {"transcript": transcript, "scene_cuts": CUTS, "opts": MomentOptions(),
              "provider": "gemini", "gemini_key_block": "gemini-key-job-1"}  # fmt: skip
    key = _cache_key(None, params)
    assert _cache_key(None, {**params, "gemini_key_block": "gemini-key-job-2"}) == key
    assert _cache_key(None, {**params, "gemini_key_block": None}) == key
    assert KEY not in key
    assert _cache_key(None, {**params, "scene_cuts": [30.0]}) != key
    assert _cache_key(None, {**params, "opts": MomentOptions(clips=4)}) != key
    monkeypatch.setenv("GEMINI_MODEL", "gemini-2.5-pro")
    get_settings.cache_clear()
    assert _cache_key(None, params) != key
    local = {**params, "provider": "local"}
    assert _cache_key(None, local) == _cache_key(None, {**local, "gemini_key_block": None})


def test_answer_is_cached_across_key_blocks(gemini, transcript, prefect_server):
    """A rerun under a new job's key block pays nothing; the flow reads the "Cached" state."""
    from prefect import flow
    from prefect.blocks.system import Secret

    @flow
    def find_twice() -> list:
        states = []
        for block in ("gemini-key-cache-1", "gemini-key-cache-2"):
            Secret(value=KEY).save(block, overwrite=True)
            find = moments_task("gemini")
            opts = MomentOptions()
            states.append(find(transcript, [12.5], opts, "gemini", block, return_state=True))
            Secret.delete(block)
        return states

    gemini.answer([pick(10, 40), pick(60, 90), pick(120, 150)])
    first, second = find_twice()
    assert (first.name, second.name) == ("Completed", "Cached")
    assert first.result() == second.result()
    assert len(gemini.requests) == 1


def test_cost_estimate_uses_the_longest_matching_price():
    assert estimate_cost("gemini-2.5-flash", 1_000_000, 0) == 0.30
    assert estimate_cost("models/gemini-2.5-flash-lite-001", 0, 1_000_000) == 0.40
    assert estimate_cost("some-other-model", 1000, 1000) is None
    assert math.isclose(estimate_cost("gemini-2.5-pro", 2000, 1000), 0.0125)


# --- The whole flow on the sample video (slow) ------------------------------------------------


@pytest.mark.slow
def test_flow_with_gemini_key_block_fills_and_never_leaks_the_key(
    gemini, prefect_server, data_dir, tmp_path, caplog, capsys, monkeypatch
):
    import asyncio

    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.clip import clip_video
    from reelflow.jobs import ClipRequest

    monkeypatch.setenv("GEMINI_API_KEY", "")  # the key must come from the job's block
    get_settings.cache_clear()
    Secret(value=KEY).save("gemini-key-test-job", overwrite=True)
    gemini.answer([pick(40.5, 57.5, 88), pick(300, 330, 80)], tokens_in=2345, tokens_out=456)
    out = tmp_path / "job"
    request = ClipRequest(source=str(SAMPLE), clips=3, provider="gemini",
                          gemini_key_block="gemini-key-test-job", out_dir=str(out))  # fmt: skip
    try:
        state = clip_video(request, return_state=True)
    finally:
        Secret.delete("gemini-key-test-job")  # as the API does when a job ends
    assert state.is_completed(), state.message

    manifest = json.loads((out / "manifest.json").read_text())
    assert [c["source"] for c in manifest["clips"]] == ["gemini", "local", "local"]
    assert manifest["moments"] == {
        "provider": "gemini", "model": "gemini-2.5-flash", "requests": 1, "tokens_in": 2345,
        "tokens_out": 456, "estimated_cost_usd": estimate_cost("gemini-2.5-flash", 2345, 456),
        "cached": False,
    }  # fmt: skip
    assert any("came from the local scorer" in w for w in manifest["warnings"])
    assert gemini.requests[0].headers["x-goog-api-key"] == KEY  # it did travel, via the block

    async def run_record():
        async with get_client() as client:
            run = await client.read_flow_run(state.state_details.flow_run_id)
            flt = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
            return run, await client.read_artifacts(artifact_filter=flt)

    run, artifacts = asyncio.run(run_record())
    assert any("tokens in" in str(a.data) for a in artifacts)
    everything = [
        json.dumps(run.parameters),
        *(f"{a.key} {a.description} {a.data}" for a in artifacts),
        *(p.read_text(errors="replace") for p in out.iterdir() if p.suffix in (".json", ".csv")),
        caplog.text,
        *capsys.readouterr(),
    ]
    assert "moments by gemini" in caplog.text  # the log was captured, so the check means something
    for text in everything:
        assert KEY not in text


@pytest.mark.slow
def test_cli_with_rejected_key_fails_with_the_reason(
    gemini, prefect_server, data_dir, caplog, capsys, tmp_path
):
    from reelflow.cli import main

    caplog.errors_expected = True
    gemini.error(401, "API key not valid. Please pass a valid API key.")
    code = main(["process", str(SAMPLE), "--provider", "gemini", "--out", str(tmp_path / "job")])
    assert code == 1
    err = capsys.readouterr().err
    assert f"reelflow: error: {KEY_REJECTED}" in err
    manifest = json.loads((tmp_path / "job" / "manifest.json").read_text())
    assert (manifest["status"], manifest["error"]) == ("failed", KEY_REJECTED)
    assert len(gemini.requests) == 1  # a refused key is never retried
    assert KEY not in err + caplog.text + json.dumps(manifest)
