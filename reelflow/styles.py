"""How a clip looks: caption style, hook title and effects options, with a few named presets.

Shared by the clip request (applied to every clip of a job), the restyle request (one clip
again), the API and the CLI. Sizes are pixels of the 1080x1920 output; colours are "#RRGGBB".
Shorthands: `captions: "bold"` is that preset, `captions: {"preset": "bold", "size": 96}` the
preset with changes, `captions: true` the default preset; `hook: true` and `effects: true` are
the defaults. Text given here only ever goes into the ASS subtitle file, never into an ffmpeg
filter string (see reelflow/ass.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from reelflow.models import ReframeOverride

Colour = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$", description='"#RRGGBB"')]
Position = Literal["top", "middle", "bottom"] | Annotated[float, Field(ge=0, le=100)]
Animation = Literal["none", "highlight", "karaoke", "pop"]

DEFAULT_PRESET = "bold"
CAPTION_PRESETS: dict[str, dict[str, Any]] = {
    # Big condensed capitals, three words at a time, the spoken word lit up: the common look.
    "bold": {"font": "Anton", "size": 96, "uppercase": True, "words_per_line": 3,
             "outline_width": 7, "animation": "highlight", "highlight_colour": "#FFE000"},
    # Plain subtitles: sentence case, longer lines, no animation.
    "classic": {"font": "Rubik", "bold": True, "size": 64, "uppercase": False,
                "words_per_line": 6, "outline_width": 4, "animation": "none"},
    # Each word fills with colour from left to right while it is spoken.
    "karaoke": {"font": "Rubik", "bold": True, "size": 76, "uppercase": False,
                "words_per_line": 4, "outline_width": 5, "animation": "karaoke",
                "highlight_colour": "#00E5FF"},
    # Words pop in one by one as they are spoken, centre screen.
    "pop": {"font": "Anton", "size": 110, "uppercase": True, "words_per_line": 2,
            "outline_width": 8, "animation": "pop", "position": "middle",
            "highlight_colour": "#FFFFFF"},
    # White text on a translucent dark box, for busy backgrounds.
    "boxed": {"font": "Rubik", "bold": True, "size": 68, "uppercase": False,
              "words_per_line": 4, "outline_width": 0, "box_colour": "#000000",
              "box_opacity": 0.65, "animation": "highlight", "highlight_colour": "#FFD400"},
}  # fmt: skip


class CaptionStyle(BaseModel):
    """Word-by-word captions burned into the clip, built from the transcript's word timings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    preset: str | None = Field(None, description=f"Start from: {', '.join(CAPTION_PRESETS)}.")
    position: Position = Field(
        "bottom", description="top, middle, bottom, or the caption's centre in % of the height."
    )
    font: str = Field("Anton", description="An installed font family (see reelflow/fonts.py).")
    size: int = Field(96, ge=24, le=200, description="Font size in px of the 1920 px height.")
    bold: bool = Field(False, description="Bold face (synthesised when the font has none).")
    colour: Colour = Field("#FFFFFF", description="Text colour.")
    outline_colour: Colour = Field("#000000", description="Outline colour.")
    outline_width: float = Field(7, ge=0, le=20, description="Outline width in px.")
    box_colour: Colour = Field("#000000", description="Background box colour.")
    box_opacity: float = Field(0, ge=0, le=1, description="Box opacity; 0: no box.")
    uppercase: bool = Field(True, description="Write captions in capitals.")
    words_per_line: int = Field(3, ge=1, le=8, description="Most words shown at once.")
    animation: Animation = Field(
        "highlight",
        description="none; highlight (the spoken word in highlight_colour); karaoke (each "
        "word fills while spoken); pop (words appear one by one as spoken).",
    )
    highlight_colour: Colour = Field("#FFE000", description="Spoken-word / fill colour.")
    pause_s: float = Field(
        0.45, ge=0.1, le=3, description="A pause this long between words starts a new line."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_preset(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = {"preset": data}
        if isinstance(data, dict) and data.get("preset") is not None:
            name = str(data["preset"]).strip().lower()
            if name not in CAPTION_PRESETS:
                raise ValueError(
                    f"unknown caption preset '{data['preset']}': use one of "
                    f"{', '.join(CAPTION_PRESETS)}"
                )
            data = {**CAPTION_PRESETS[name], **data, "preset": name}
        return data

    @field_validator("font")
    @classmethod
    def _font_installed(cls, value: str) -> str:
        return _installed(value)


class HookStyle(BaseModel):
    """The clip's hook line as a title card over the opening seconds (or the whole clip)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str | None = Field(
        None, max_length=300, description="Title text; empty: the clip's hook line."
    )
    position: Position = Field("top", description="top, middle, bottom, or centre in %.")
    size: Literal["S", "M", "L"] | Annotated[int, Field(ge=24, le=160)] = Field(
        "M", description="S, M, L, or a font size in px."
    )
    font: str = Field("Rubik", description="An installed font family.")
    bold: bool = True
    colour: Colour = Field("#111111", description="Text colour.")
    outline_colour: Colour = "#FFFFFF"
    outline_width: float = Field(0, ge=0, le=20)
    box_colour: Colour = "#FFFFFF"
    box_opacity: float = Field(0.92, ge=0, le=1, description="Box opacity; 0: no box.")
    uppercase: bool = False
    duration_s: float | None = Field(
        3.5, gt=0, le=600, description="Shown for the first N seconds; empty: the whole clip."
    )

    @field_validator("font")
    @classmethod
    def _font_installed(cls, value: str) -> str:
        return _installed(value)

    @property
    def font_size(self) -> int:
        return {"S": 56, "M": 72, "L": 92}.get(self.size, self.size)  # type: ignore[arg-type]


class EffectsOptions(BaseModel):
    """An effects plan per clip: punch-in zooms on emphasis, a colour grade, silence cuts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Literal["auto", "local", "gemini"] = Field(
        "auto", description="Who plans: auto (Gemini when the job has a key), local, gemini."
    )
    zoom: bool = Field(True, description="Punch in on emphasised words, centred on the face.")
    max_zoom: float = Field(1.3, ge=1.0, le=1.5, description="Largest zoom factor.")
    colour: bool = Field(True, description="Brightness/contrast/saturation grading.")
    cut_silences: bool = Field(False, description="Cut pauses longer than min_silence_s.")
    min_silence_s: float = Field(1.0, ge=0.4, le=10, description="Shortest pause that is cut.")


def _installed(font: str) -> str:
    """Refuse a font that is not installed when the style is made, long before a render:
    libass would otherwise quietly draw some other font."""
    from reelflow.fonts import FontNotAvailable, find_face

    try:
        find_face(font)
    except FontNotAvailable as exc:
        raise ValueError(str(exc)) from None
    return font


def _captions_shorthand(value: Any) -> Any:
    if value is True:
        return {"preset": DEFAULT_PRESET}
    return None if value is False or value == "" else value


def _flag_shorthand(value: Any) -> Any:
    if value is True:
        return {}
    return None if value is False or value == "" else value


CaptionsOption = Annotated[CaptionStyle | None, BeforeValidator(_captions_shorthand)]
HookOption = Annotated[HookStyle | None, BeforeValidator(_flag_shorthand)]
EffectsOption = Annotated[EffectsOptions | None, BeforeValidator(_flag_shorthand)]


class LookOptions(BaseModel):
    """Everything the render pass adds to a clip beyond the cut and the reframe."""

    model_config = ConfigDict(frozen=True)

    captions: CaptionsOption = None
    hook: HookOption = None
    effects: EffectsOption = None

    @property
    def plain(self) -> bool:
        return self.captions is None and self.hook is None and self.effects is None


class RestyleRequest(BaseModel):
    """One clip of a finished job, and its new look. The Prefect UI shows these as a form."""

    model_config = ConfigDict(frozen=True)

    job: str = Field(description="The job's id (its folder under <data dir>/jobs) or folder path.")
    index: int = Field(ge=1, le=99, description="Which clip (its number in the manifest).")
    captions: CaptionsOption = Field(None, description="Caption preset name or style; empty: none.")
    hook: HookOption = Field(None, description="Hook title card (true: the default style).")
    effects: EffectsOption = Field(None, description="Effects (true: the defaults).")
    reframe: ReframeOverride | None = Field(
        None,
        description="Corrections to the clip's framing: per-scene layouts "
        '(`{"layouts": [{"scene": 2, "layout": "split"}]}`) or crop keyframes '
        '(`{"keyframes": [{"t": 3.5, "x": 820}]}`).',
    )
    gemini_key_block: str | None = Field(
        None, description="Name of a Prefect Secret block holding the Gemini key (never the key)."
    )

    def look(self) -> LookOptions:
        return LookOptions(captions=self.captions, hook=self.hook, effects=self.effects)

    def label(self) -> str:
        return f"{Path(self.job).name[:40]} clip {self.index}"
