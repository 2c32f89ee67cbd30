"""Shared result types of the pipeline stages.

Pydantic models so they round-trip through Prefect's JSON result serializer and into
manifest.json unchanged. Times are seconds in the source video, named `*_s`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class MediaInfo(_Frozen):
    path: str
    sha256: str
    size_bytes: int
    duration_s: float
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0
    video_codec: str | None = None
    audio_codec: str | None = None
    title: str | None = Field(None, description="Title from the download's metadata, if any.")
    source: str = Field("", description="What the user asked for: a path or a URL.")


class Word(_Frozen):
    start_s: float
    end_s: float
    text: str
    probability: float = 1.0


class Sentence(_Frozen):
    start_s: float
    end_s: float
    text: str
    first_word: int = Field(description="Index of the sentence's first word in Transcript.words.")
    last_word: int = Field(description="Index of its last word (inclusive).")


class Transcript(_Frozen):
    language: str
    duration_s: float
    words: list[Word]
    sentences: list[Sentence]
    warning: str | None = None
    model: str = ""
    loudness_hop_s: float = 0.25
    loudness_db: list[float] = Field(
        default_factory=list, description="RMS level per hop of the whole audio, in dBFS."
    )

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


class Moment(_Frozen):
    start_s: float
    end_s: float
    title: str = Field("", max_length=100)
    hook: str = ""
    description_tiktok: str = ""
    description_instagram: str = ""
    hashtags: list[str] = Field(default_factory=list)
    score: float = Field(0, ge=0, le=100)
    reason: str = ""
    source: Literal["local", "gemini"] = "local"

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class MomentsUsage(_Frozen):
    """What finding the moments cost: requests, tokens and an estimated price (None: unpriced)."""

    provider: str
    model: str | None = None
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    estimated_cost_usd: float | None = None


EdgeKind = Literal["sentence", "clause", "pause", "word", "none"]


class BoundaryFacts(_Frozen):
    starts_inside_word: bool
    ends_inside_word: bool
    starts_on_sentence_start: bool
    ends_on_sentence_end: bool
    start_to_scene_cut_s: float | None
    end_to_scene_cut_s: float | None
    adjustments: list[str] = Field(default_factory=list)
    start_on: EdgeKind = Field(
        "none",
        description="What the clip starts on: a sentence start, a clause start (after a comma "
        "or the like), the end of a long pause, any word, or none (no speech to align to).",
    )
    end_on: EdgeKind = Field("none", description="What the clip ends on, as for start_on.")
    start_cut_level_db: float | None = Field(
        None, description="Audio level (dBFS, 10 ms) where the clip starts; None: not measured."
    )
    end_cut_level_db: float | None = Field(None, description="The same where it ends.")
    starts_in_pause: bool | None = Field(
        None,
        description="Whether the start cut lies in a pause: at least 25 dB below the speech "
        "around it; None: not measured.",
    )
    ends_in_pause: bool | None = Field(None, description="The same for the end cut.")
    start_pause_s: float | None = Field(
        None,
        description="Length of the pause the start cut lies in, measured on the audio; a "
        "sentence start after a very short pause may be a transcription error. None: not "
        "measured.",
    )
    end_pause_s: float | None = Field(None, description="The same for the end cut.")


class RepairedMoment(_Frozen):
    moment: Moment
    facts: BoundaryFacts


class DroppedMoment(_Frozen):
    moment: Moment
    reason: str


class CropKey(_Frozen):
    """Centre of the crop window at time t (seconds from clip start), in source pixels."""

    t: float
    cx: float
    cy: float


class CropSegment(_Frozen):
    """One stretch of a clip with one layout. Times are seconds from the clip's start."""

    start_s: float
    end_s: float
    layout: Literal["crop", "fit"]
    path: list[CropKey] = Field(
        default_factory=list,
        description="Crop centre keyframes; one key holds the window still, more make it move.",
    )
    faces: int = 0


class ReframePlan(_Frozen):
    source_width: int
    source_height: int
    crop_width: int
    crop_height: int
    segments: list[CropSegment]


class ClipFile(_Frozen):
    index: int
    path: str
    thumbnail: str
    duration_s: float
    width: int
    height: int
    render_seconds: float = 0.0
