"""The Upload-Post provider and the post stage against the stand-in on 127.0.0.1: what goes on
the wire, and what each of its answers (200 with per-platform results, 429 with Retry-After,
500, 401, rejected media) makes of a post."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from reelflow.posting import (
    PlatformTexts,
    PostRefused,
    PostRetryLater,
    PublishRequest,
    default_texts,
    texts_for,
)
from reelflow.upload_post import UploadPostProvider
from tasks.post import PostOptions, post_video
from tests.helpers.upload_post_server import UploadPostStandIn

KEY = "up-secret-key-1234"
TEXTS = {
    "tiktok": PlatformTexts(title="Why quit? #habits"),
    "youtube": PlatformTexts(title="Why people quit", description="A longer note."),
}
FAST = PostOptions(retries=3, retry_delay_s=0.5, max_wait_s=30)


@pytest.fixture
def server():
    with UploadPostStandIn(key=KEY) as stand_in:
        yield stand_in


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip_01.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    return path


def provider(server, key=KEY):
    return UploadPostProvider(key, server.url, timeout_s=10)


def run(server, video, *, key=KEY, opts=FAST, platforms=("tiktok", "youtube")):
    sleeps: list[float] = []
    outcome = post_video(provider(server, key), video, list(platforms), TEXTS, "creator",
                         opts, sleep=sleeps.append)  # fmt: skip
    return outcome, sleeps


def test_a_post_speaks_upload_posts_wire_format(server, video):
    outcome, sleeps = run(server, video)
    (upload,) = server.uploads
    assert upload.headers["Authorization"] == f"Apikey {KEY}"
    assert upload.get("user") == "creator"
    assert upload.all("platform[]") == ["tiktok", "youtube"]
    assert upload.get("tiktok_title") == "Why quit? #habits"
    assert (upload.get("youtube_title"), upload.get("youtube_description")) == (
        "Why people quit", "A longer note.")  # fmt: skip
    assert upload.get("title") == "Why quit? #habits", "the fallback title is the first's"
    assert upload.get("async_upload") == "false"
    assert upload.video_name == "clip_01.mp4"
    assert upload.video_sha256 == hashlib.sha256(video.read_bytes()).hexdigest()
    assert outcome.attempts == 1 and sleeps == []
    assert outcome.results["tiktok"].state == "posted"
    assert outcome.results["tiktok"].url == "https://tiktok.example/p/1"
    assert outcome.results["youtube"].post_id == "youtube-1"


def test_a_rate_limit_waits_for_retry_after(server, video):
    server.rate_limit(retry_after="2")
    server.rate_limit(retry_after=format_datetime(datetime.now(UTC) + timedelta(seconds=5),
                                                  usegmt=True))  # fmt: skip
    outcome, sleeps = run(server, video)
    assert len(server.uploads) == 3 and outcome.attempts == 3
    assert sleeps[0] == 2.0, "the provider's Retry-After, not our own backoff"
    assert 3.0 <= sleeps[1] <= 5.0, f"an HTTP-date Retry-After: {sleeps[1]}"
    assert outcome.results["youtube"].state == "posted"


def test_server_errors_back_off_exponentially(server, video):
    server.server_error()
    server.server_error()
    outcome, sleeps = run(server, video)
    assert outcome.attempts == 3
    assert 0.375 <= sleeps[0] <= 0.625 and 0.75 <= sleeps[1] <= 1.25, sleeps


def test_retries_end_with_the_reason(server, video):
    for _ in range(3):
        server.server_error()
    with pytest.raises(PostRetryLater, match=r"server error 500: Internal error.*after 3 tries"):
        run(server, video, opts=PostOptions(retries=2, retry_delay_s=0))
    assert len(server.uploads) == 3


def test_a_retry_after_past_the_limit_fails_at_once(server, video):
    server.rate_limit(retry_after="3600")
    with pytest.raises(PostRetryLater, match="PUBLISH_MAX_WAIT_S"):
        run(server, video)
    assert len(server.uploads) == 1


def test_a_refused_key_fails_at_once_and_never_shows_the_key(server, video):
    with pytest.raises(PostRefused, match="refused the API key \\(401\\)") as caught:
        run(server, video, key="up-wrong-key-9876")
    assert len(server.uploads) == 1, "a refused key is not retried"
    assert "up-wrong-key-9876" not in str(caught.value)


def test_rejected_media_fails_with_the_providers_reason(server, video):
    server.reject_media("Video duration exceeds the platform's limit")
    with pytest.raises(PostRefused, match="rejected the post \\(400\\): Video duration exceeds"):
        run(server, video)
    assert len(server.uploads) == 1


def test_one_platform_failing_does_not_retry_the_others(server, video):
    server.fail_platform("youtube", "Your YouTube session has expired. Reconnect it.")
    outcome, _ = run(server, video)
    assert len(server.uploads) == 1, "a retry would post TikTok twice"
    assert outcome.results["tiktok"].state == "posted"
    assert outcome.results["youtube"].state == "failed"
    assert "session has expired" in outcome.results["youtube"].error


def test_an_unreachable_provider_is_retried_then_fails(video):
    from deployments.stack import free_port

    dead = UploadPostProvider(KEY, f"http://127.0.0.1:{free_port()}", timeout_s=2)
    sleeps = []
    with pytest.raises(PostRetryLater, match=r"Could not reach Upload-Post.*after 2 tries"):
        post_video(dead, video, ["tiktok"], TEXTS, "creator",
                   PostOptions(retries=1, retry_delay_s=0), sleep=sleeps.append)  # fmt: skip
    assert len(sleeps) == 1


def test_a_missing_file_or_profile_is_refused(server, video, tmp_path):
    with pytest.raises(PostRefused, match="is gone"):
        run(server, tmp_path / "nothing.mp4")
    with pytest.raises(PostRefused, match="profile"):
        post_video(provider(server), video, ["tiktok"], TEXTS, "", FAST)
    assert server.uploads == []


class _Clip:
    title = "Why do so many people quit after three weeks?"
    hook = "Three weeks in"
    description_tiktok = "Most people quit in week three. #habits"
    description_instagram = "Why week three breaks most plans."
    hashtags = ("#habits", "growth")


def test_texts_default_to_the_clips_and_take_overrides():
    clip = _Clip()
    assert default_texts(clip, "tiktok").title == "Most people quit in week three. #habits #growth"
    assert default_texts(clip, "instagram").title.startswith("Why week three breaks")
    youtube = default_texts(clip, "youtube")
    assert youtube.title == clip.title and youtube.description == clip.description_instagram
    texts = texts_for(clip, ["tiktok", "youtube"], {
        "default": PlatformTexts(title="Same for all"), "youtube": PlatformTexts(
            description="Only YouTube's")})  # fmt: skip
    assert texts["tiktok"].title == "Same for all"
    assert (texts["youtube"].title, texts["youtube"].description) == (
        "Same for all", "Only YouTube's")  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"platforms": []}, "at least 1"),
        ({"platforms": ["myspace"]}, "unknown platform 'myspace'"),
        ({"platforms": ["tiktok"], "at": "2030-01-01T10:00:00"}, "zone"),
        ({"platforms": ["tiktok"], "texts": {"youtube": {"title": "x"}}}, "not among"),
        ({"platforms": ["tiktok"], "texts": {"tiktok": {"caption": "x"}}}, "caption"),
    ],
    ids=["none", "unknown", "naive-time", "texts-for-other", "unknown-text-field"],
)
def test_bad_publish_requests_are_refused(fields, reason):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=reason):
        PublishRequest(job="j", index=1, post_id="p", **fields)
