"""An effects plan: a clip-wide grade, punch-in segments and silence cuts, as plain numbers.

Whoever plans (the local rules or Gemini), only these numbers, clamped by
`tasks.effects.local.sanitize_plan`, ever reach the filter graph.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Grade(BaseModel):
    model_config = ConfigDict(frozen=True)

    brightness: float = Field(0.0, ge=-0.3, le=0.3, description="eq brightness, 0 = unchanged.")
    contrast: float = Field(1.0, ge=0.7, le=1.4, description="eq contrast, 1 = unchanged.")
    saturation: float = Field(1.0, ge=0.0, le=2.0, description="eq saturation, 1 = unchanged.")

    @property
    def identity(self) -> bool:
        return (self.brightness, self.contrast, self.saturation) == (0.0, 1.0, 1.0)

    def eq_filter(self) -> str:
        return (
            f"eq=brightness={self.brightness:.3f}:contrast={self.contrast:.3f}"
            f":saturation={self.saturation:.3f}"
        )


class EffectSegment(BaseModel):
    """A stretch of the clip (seconds from its start) with a punch-in and its own grade."""

    model_config = ConfigDict(frozen=True)

    start_s: float
    end_s: float
    zoom: float = Field(1.0, ge=1.0, le=1.5)
    grade: Grade = Grade()
    reason: str = ""  # for people reading the manifest; never rendered


class SilenceCut(BaseModel):
    model_config = ConfigDict(frozen=True)

    start_s: float
    end_s: float


class EffectsPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    duration_s: float = Field(description="The clip's length before cuts.")
    source: Literal["local", "gemini"] = "local"
    base: Grade = Grade()
    segments: list[EffectSegment] = Field(default_factory=list)
    cuts: list[SilenceCut] = Field(default_factory=list)
    note: str = ""


# -- the local rules --------------------------------------------------------------------------
