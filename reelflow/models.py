"""Shared result types of the pipeline stages.

Pydantic models so they round-trip through Prefect's JSON result serializer and into
manifest.json unchanged. Times are seconds in the source video, named `*_s`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from reelflow.scripts import join_words


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
    language: str = Field(description="The spoken language's code (reelflow.languages).")
    language_detected: bool = Field(False, description="Detected, rather than given by the job.")
    language_probability: float | None = Field(
        None, description="How sure the detection was (0-1); None when the job named it."
    )
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
        return join_words(s.text for s in self.sentences)

    def words_between(self, start_s: float, end_s: float) -> list[Word]:
        """The words that overlap [start_s, end_s], in source times."""
        return [w for w in self.words if w.end_s > start_s and w.start_s < end_s]


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


class PersonBox(_Frozen):
    """A person seen in a scene: their face's median box there, in source pixels."""

    cx: float
    cy: float
    w: float
    h: float


class CropPane(_Frozen):
    """One half of a split layout: a `width` x `height` window of the source following `path`,
    shown in the top (first pane) or bottom half of the picture."""

    width: int
    height: int
    path: list[CropKey]
    person: int | None = Field(None, description="Index into the segment's `people`.")


Layout = Literal["crop", "fit", "split"]


class CropSegment(_Frozen):
    """One shot of a clip with one layout. Times are seconds from the clip's start.

    crop: a full-height 9:16 window whose centre follows `path`; fit: the whole picture over
    a blurred copy; split: two panes stacked, each on one face. Fields after `faces` were
    added later; older plans load with their defaults."""

    start_s: float
    end_s: float
    layout: Layout
    path: list[CropKey] = Field(
        default_factory=list,
        description="Crop centre keyframes; one key holds the window still, more make it move.",
    )
    faces: int = 0
    panes: list[CropPane] = Field(default_factory=list, description="The split layout's two.")
    scene: int | None = Field(None, description="Scene number in the clip, from 1.")
    people: list[PersonBox] = Field(
        default_factory=list, description="The scene's people, left to right."
    )
    person: int | None = Field(None, description="Whom a crop follows: index into `people`.")
    reason: str = Field("", description="Why this layout, in a few words.")


class SpeechTurn(_Frozen):
    """A stretch of speech (clip seconds) and who was speaking, as the planner judged it."""

    start_s: float
    end_s: float
    scene: int | None = None
    person: int | None = Field(None, description="Index into the scene's `people`; None: unknown.")


class ShotReport(_Frozen):
    start_s: float
    end_s: float
    layout: Layout
    reason: str = ""


class ReframeReport(_Frozen):
    """How the reframe came out for one clip, for the manifest.

    Speech-time figures count the speech (transcript words) during which the face of whoever
    was judged to be speaking lies wholly inside a visible window (fit shows the whole frame)."""

    shots: list[ShotReport]
    layout_s: dict[str, float] = Field(description="Seconds per layout.")
    speech_s: float = Field(0.0, description="Speech time in the clip.")
    speaker_known_s: float = Field(0.0, description="Speech time with a judged speaker.")
    speaker_in_frame: float | None = Field(
        None, description="Share of speaker_known_s with that speaker's face in frame."
    )
    crop_speed_median_px_s: float = Field(0.0, description="Median crop-centre speed.")
    crop_speed_max_px_s: float = Field(0.0, description="Fastest crop-centre speed.")
    switches_per_min: float = Field(
        0.0, description="Changes of layout or subject inside a scene (not at cuts), per minute."
    )
    manual: bool = Field(False, description="A manual override shaped the plan.")


class ReframePlan(_Frozen):
    source_width: int
    source_height: int
    crop_width: int
    crop_height: int
    segments: list[CropSegment]
    turns: list[SpeechTurn] = Field(default_factory=list)
    report: ReframeReport | None = None


class LayoutOverride(_Frozen):
    """Force a layout on one scene of a clip."""

    scene: int = Field(ge=1, description="Scene number in the clip, from 1 (see the plan).")
    layout: Layout
    person: int | None = Field(
        None, ge=1, description="For crop: whom to follow, from 1 = leftmost person."
    )


class CropKeyframe(_Frozen):
    """The 9:16 window's centre at clip time t, in source pixels (y: the frame's middle)."""

    t: float = Field(ge=0, description="Seconds from the clip's start.")
    x: float = Field(ge=0, description="Horizontal centre of the window, source pixels.")


class ReframeOverride(_Frozen):
    """A person's corrections to a clip's reframe: per-scene layouts, or a hand-made camera
    path (keyframes, linear between them, held before the first and after the last)."""

    layouts: list[LayoutOverride] = Field(default_factory=list)
    keyframes: list[CropKeyframe] = Field(default_factory=list)


class ClipFile(_Frozen):
    index: int
    path: str
    thumbnail: str
    duration_s: float
    width: int
    height: int
    render_seconds: float = 0.0
