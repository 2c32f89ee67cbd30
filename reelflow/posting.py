"""Posting clips to social platforms: what a post asks for, what came of it, and the small
interface every posting provider (Upload-Post first) implements.

A *post* is one publish request for one clip: one or more platforms, now or at a time, the
texts per platform. It runs as one flow run of the publish-clip deployment (a scheduled run
when it has a time), and its record (`PostRecord`) lives in the clip's manifest entry under
`posts`: scheduled, posting, posted (each platform's id and URL) or failed (the provider's
reason), or cancelled.

Errors: a provider raises `PostRetryLater` for what a later try may fix (429 with its
Retry-After, 5xx, timeouts) and `PostRefused` for what it will not (a refused key, rejected
media): the first is retried, the second fails the post at once with the provider's words.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reelflow.errors import ReelflowError

PLATFORMS = ("tiktok", "instagram", "youtube", "facebook", "linkedin", "x", "threads", "pinterest")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PostState = Literal["scheduled", "posting", "posted", "failed", "cancelled"]


class PostRefused(ReelflowError):
    """The provider refused the post for a reason a retry would not change (a bad key,
    rejected media, an unknown profile): the message is the provider's."""


class PostRetryLater(ReelflowError):
    """Rate limit, a server error or a timeout: worth another try, after `retry_after_s`
    when the provider said how long."""

    permanent = False

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PlatformTexts(BaseModel):
    """What one platform shows with the clip."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str | None = Field(None, max_length=2200, description="Caption or title.")
    description: str | None = Field(
        None, max_length=5000, description="Longer text where the platform has one (YouTube)."
    )


class PlatformResult(BaseModel):
    """What one platform made of a post."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    state: Literal["posted", "failed"]
    post_id: str | None = Field(None, description="The platform's id of the post.")
    url: str | None = Field(None, description="The post on the platform, when it says.")
    error: str | None = Field(None, description="The provider's reason, when it failed.")


class PostRecord(BaseModel):
    """One post of a clip, as the manifest keeps it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    post_id: str
    provider: str = "upload-post"
    platforms: list[str]
    at: str | None = Field(None, description="When it was to go out (UTC); None: at once.")
    state: PostState = "scheduled"
    run_id: str | None = Field(None, description="Its publish-clip flow run.")
    profile: str = ""
    file: str | None = Field(None, description="The clip file that was posted.")
    texts: dict[str, PlatformTexts] = Field(default_factory=dict)
    results: dict[str, PlatformResult] = Field(default_factory=dict)
    error: str | None = None
    attempts: int = 0
    created_at: str | None = None
    updated_at: str | None = None


class PublishRequest(BaseModel):
    """A post of one clip: the publish-clip flow's parameter (the Prefect UI's run form).
    Never the key: `key_block` names the Secret block holding it."""

    model_config = ConfigDict(frozen=True)

    job: str = Field(description="The job's id (or folder) whose clip is posted.")
    index: int = Field(ge=1, description="The clip's number.")
    post_id: str = Field(description="The post's id in the clip's manifest entry.")
    version: int | None = Field(
        None, ge=2, description="Which look of the clip (clip_NN_vK); empty: the newest."
    )
    platforms: list[str] = Field(min_length=1, description=f"Any of {', '.join(PLATFORMS)}.")
    at: datetime | None = Field(None, description="When to post (with a time zone); empty: now.")
    texts: dict[str, PlatformTexts] = Field(
        default_factory=dict,
        description='Per platform, texts replacing the clip\'s own: {"tiktok": {"title": ...}}; '
        '"default" applies to every platform.',
    )
    profile: str = Field("", max_length=200, description="The provider's profile (user).")
    key_block: str | None = Field(
        None, description="Name of a Prefect Secret block with the provider's key (never the key)."
    )
    webhook_url: str | None = Field(None, description="Told when the post is posted or failed.")

    @field_validator("platforms")
    @classmethod
    def _known_platforms(cls, value: list[str]) -> list[str]:
        names = [p.strip().lower() for p in value]
        unknown = [p for p in names if p not in PLATFORMS]
        if unknown:
            raise ValueError(f"unknown platform {unknown[0]!r}; use any of {', '.join(PLATFORMS)}")
        return list(dict.fromkeys(names))  # each once, in the order asked

    @field_validator("texts")
    @classmethod
    def _texts_for_asked_platforms(cls, value: dict) -> dict:
        unknown = [k for k in value if k != "default" and k not in PLATFORMS]
        if unknown:
            raise ValueError(f"texts for unknown platform {unknown[0]!r}")
        return value

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the time with its zone, e.g. 2026-05-01T18:00:00Z")
        return value.astimezone(UTC) if value is not None else None

    @model_validator(mode="after")
    def _texts_only_for_asked(self) -> PublishRequest:
        extra = [k for k in self.texts if k != "default" and k not in self.platforms]
        if extra:
            raise ValueError(f"texts for {extra[0]}, which is not among the platforms")
        return self

    def label(self) -> str:
        """`clip 1 of 5a0c1b2d to tiktok, instagram`: a job id shortened as the UI does."""
        job = Path(self.job).name
        job = job[:8] if _UUID.fullmatch(job) else job[:40]
        return f"clip {self.index} of {job} to {', '.join(self.platforms)}"


class ClipTexts(Protocol):
    """The texts a clip carries (a manifest ClipEntry)."""

    title: str
    hook: str
    description_tiktok: str
    description_instagram: str
    hashtags: list[str]


def default_texts(clip: ClipTexts, platform: str) -> PlatformTexts:
    """The clip's own texts for a platform: the TikTok and Instagram descriptions where they
    exist, else the title; hashtags appended when the text does not carry them yet."""
    own = {"tiktok": clip.description_tiktok, "instagram": clip.description_instagram}
    caption = own.get(platform) or clip.title or clip.hook
    tags = [t if t.startswith("#") else f"#{t}" for t in clip.hashtags if t.strip("#")]
    missing = [t for t in tags if t.lower() not in caption.lower()]
    if missing and platform != "youtube":
        caption = f"{caption} {' '.join(missing)}".strip()
    description = clip.description_instagram or clip.description_tiktok or None
    if platform == "youtube":
        return PlatformTexts(title=(clip.title or clip.hook)[:100], description=description)
    return PlatformTexts(title=caption)


def texts_for(clip: ClipTexts, platforms: list[str], overrides: dict[str, PlatformTexts]):
    """Per platform: the clip's texts, then `default` overrides, then the platform's own."""
    out = {}
    for platform in platforms:
        merged = default_texts(clip, platform).model_dump()
        for source in (overrides.get("default"), overrides.get(platform)):
            if source is not None:
                merged.update({k: v for k, v in source.model_dump().items() if v is not None})
        out[platform] = PlatformTexts(**merged)
    return out


class PostingProvider(Protocol):
    """A service that posts a video to social platforms."""

    name: str

    def post(
        self, video: Path, platforms: list[str], texts: dict[str, PlatformTexts], profile: str
    ) -> dict[str, PlatformResult]:
        """Post `video` to each platform; a result per platform. Raises PostRetryLater or
        PostRefused when the request as a whole did not go through."""
        ...


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


__all__ = [
    "PLATFORMS",
    "ClipTexts",
    "PlatformResult",
    "PlatformTexts",
    "PostRecord",
    "PostRefused",
    "PostRetryLater",
    "PostState",
    "PostingProvider",
    "PublishRequest",
    "default_texts",
    "texts_for",
]
