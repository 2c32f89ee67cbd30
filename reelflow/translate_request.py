"""A request to make one clip of a finished job in other languages: captions and texts
translated, or the voice dubbed. Shared by the flow (its Prefect UI form), the API and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reelflow.languages import target_languages


class TranslateRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    job: str = Field(description="The job's id (its folder under <data dir>/jobs) or folder path.")
    index: int = Field(ge=1, le=99, description="Which clip (its number in the manifest).")
    languages: list[str] = Field(
        min_length=1, max_length=10, description="Target languages: codes such as es, de, fr."
    )
    provider: Literal["gemini", "offline"] = Field(
        "gemini", description="Who translates: Gemini (needs a key), or an offline model."
    )
    dub: bool = Field(
        False,
        description="Dub the voice (ElevenLabs) instead of only translating the captions; "
        "captions then follow a transcription of the dub.",
    )
    gemini_key_block: str | None = Field(
        None, description="Name of a Prefect Secret block holding the Gemini key (never the key)."
    )
    elevenlabs_key_block: str | None = Field(
        None, description="Name of a Prefect Secret block holding the ElevenLabs key."
    )

    @field_validator("languages", mode="before")
    @classmethod
    def _targets(cls, value: object) -> object:
        return target_languages(value) if isinstance(value, (str, list)) else value

    def label(self) -> str:
        what = "dub" if self.dub else "translate"
        return f"{Path(self.job).name[:40]} clip {self.index} {what} {','.join(self.languages)}"
