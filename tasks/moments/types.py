"""The moment providers' shared types: what the user asked (MomentOptions, the same for every
provider) and what a provider returns (MomentPicks)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reelflow.models import Moment, MomentsUsage

ProviderName = Literal["local", "gemini"]
# With no count asked for, a provider picks between these many moments.
AUTO_MIN, AUTO_MAX = 3, 15
MIN_GAP_S = 1.0  # clips closer than this would feel like one clip cut in two


class MomentOptions(BaseModel):
    """How many clips to find and how long each may be.

    `clips=None` means "as many good ones as the video has, between 3 and 15" (fewer only when
    the video cannot hold 3).
    """

    model_config = ConfigDict(frozen=True)

    clips: int | None = Field(None, ge=1, le=15, description="Exact number of clips wanted.")
    min_seconds: float = Field(15, ge=5, allow_inf_nan=False)
    max_seconds: float = Field(60, le=180, allow_inf_nan=False)

    @model_validator(mode="after")
    def _min_below_max(self) -> MomentOptions:
        if self.min_seconds >= self.max_seconds:
            raise ValueError(
                f"min_seconds ({self.min_seconds:g}) must be below max_seconds "
                f"({self.max_seconds:g})"
            )
        return self


class MomentPicks(BaseModel):
    """A provider's moments, best first, and what finding them cost."""

    model_config = ConfigDict(frozen=True)

    moments: list[Moment]
    usage: MomentsUsage
