"""What a translation provider is given and gives back.

A clip's speech is cut into phrases (tasks.translate.phrases); a provider translates each
phrase on its own, so a translated caption line can be shown exactly while its source phrase
is spoken, and translates the clip's texts for the platforms.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from reelflow.manifest import ClipTexts

TranslationProvider = Literal["gemini", "offline"]


class Phrase(BaseModel):
    """A stretch of the clip's speech, in seconds from the clip's start."""

    model_config = ConfigDict(frozen=True)

    start_s: float
    end_s: float
    text: str


class TranslationJob(BaseModel):
    """One clip, into one language."""

    model_config = ConfigDict(frozen=True)

    source_language: str
    target_language: str
    phrases: list[Phrase]
    texts: ClipTexts


class Translation(BaseModel):
    """The provider's answer: one translated text per phrase, in order, and the texts."""

    model_config = ConfigDict(frozen=True)

    language: str
    phrases: list[str]
    texts: ClipTexts
    provider: str
    model: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    estimated_cost_usd: float | None = Field(None, description="List prices; not a bill.")


class Translator(Protocol):
    def translate(self, job: TranslationJob) -> Translation: ...
