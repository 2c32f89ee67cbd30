"""What the user asked of the moment finders; every provider (local, Gemini) takes the same one."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
