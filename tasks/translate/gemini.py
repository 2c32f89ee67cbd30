"""The `gemini` translation provider: one request per clip and language, under a response
schema, at temperature 0 with a fixed seed (a rerun gives the same words; answers are cached).

The model gets the clip's phrases numbered, one per line, and its texts, and answers with one
translation per phrase number and the texts translated. An answer that leaves out or adds
phrases is asked for once more with the problem stated, then fails clearly; a refused key, a
safety block and outages are reelflow's Gemini errors, as for the moments.
"""

from __future__ import annotations

from google.genai import types
from pydantic import BaseModel, Field

from reelflow.errors import GeminiBadAnswer
from reelflow.gemini import (
    GeminiOptions,
    UnusableAnswer,
    check_blocked,
    estimate_cost,
    generate,
    make_client,
    parse_answer,
    token_counts,
)
from reelflow.languages import name_of
from reelflow.manifest import ClipTexts
from reelflow.scripts import first_words
from tasks.translate.types import Translation, TranslationJob

PROMPT_VERSION = "gemini-translate-1"  # part of the cache key: change it with the prompt
TEMPERATURE = 0.0
SEED = 20_250_601
HOOK_WORDS = 10

SYSTEM_PROMPT = """\
You translate the subtitles and the texts of a short vertical video clip.
- Translate each numbered phrase on its own line into the target language, keeping its number: \
the translation is shown on screen while that phrase is spoken. Never merge, split, drop or add \
phrases; keep names, figures and units.
- Spoken, natural language, as a native speaker would say it; no notes or explanations.
- Translate the title (at most 100 characters), the hook (at most 10 words), both descriptions \
and the hashtags (each starting with #, written as people of that language would tag it).
Answer with JSON only, as the response schema describes."""

REPAIR_NOTE = (
    "Your previous answer could not be used ({problem}). Answer again with only the JSON "
    "object the response schema describes, one entry per phrase number."
)


class TranslatedPhrase(BaseModel):
    id: int = Field(description="The phrase's number, as given.")
    text: str = Field(description="The phrase in the target language.")


class GeminiTranslationAnswer(BaseModel):
    """The phrases and the texts in the target language."""

    phrases: list[TranslatedPhrase]
    title: str = Field(description="Title, at most 100 characters.")
    hook: str = Field(description="On-screen hook, at most 10 words.")
    description_tiktok: str
    description_instagram: str
    hashtags: list[str] = Field(description="Hashtags, each starting with #.")


class GeminiTranslator:
    def __init__(self, options: GeminiOptions, key: str):
        self.options = options
        self.key = key

    def translate(self, job: TranslationJob) -> Translation:
        config = types.GenerateContentConfig(
            system_instruction=SYSTEM_PROMPT,
            response_mime_type="application/json",
            response_schema=GeminiTranslationAnswer,
            temperature=TEMPERATURE,
            seed=SEED,
        )
        prompt = build_prompt(job)
        contents, spent = prompt, (0, 0)
        with make_client(self.key, self.options.base_url, self.options.timeout_s) as client:
            for attempt in (1, 2):
                response = generate(client, self.options.model, contents, config)
                spent = tuple(a + b for a, b in zip(spent, token_counts(response), strict=True))
                check_blocked(response)
                try:
                    return self._translation(job, _checked(response, len(job.phrases)), spent)
                except UnusableAnswer as exc:
                    if attempt == 2:
                        raise GeminiBadAnswer(
                            f"Gemini gave no usable translation, asked twice: {exc}"
                        ) from None
                    contents = f"{prompt}\n\n{REPAIR_NOTE.format(problem=exc)}"
        raise AssertionError("unreachable")

    def _translation(self, job: TranslationJob, answer: GeminiTranslationAnswer,
                     spent: tuple[int, int]) -> Translation:  # fmt: skip
        by_id = {p.id: " ".join(p.text.split()) for p in answer.phrases}
        texts = ClipTexts(
            title=answer.title.strip()[:100],
            hook=first_words(answer.hook, HOOK_WORDS),
            description_tiktok=answer.description_tiktok.strip(),
            description_instagram=answer.description_instagram.strip(),
            hashtags=["#" + "".join(t.split()).lstrip("#") for t in answer.hashtags if t.strip()],
        )
        return Translation(
            language=job.target_language,
            phrases=[by_id[i] for i in range(1, len(job.phrases) + 1)],
            texts=texts,
            provider="gemini",
            model=self.options.model,
            tokens_in=spent[0],
            tokens_out=spent[1],
            estimated_cost_usd=estimate_cost(self.options.model, *spent),
        )


def _checked(response, count: int) -> GeminiTranslationAnswer:
    answer = parse_answer(response, GeminiTranslationAnswer)
    ids = [p.id for p in answer.phrases]
    if sorted(ids) != list(range(1, count + 1)):
        raise UnusableAnswer(f"phrases numbered {_span(ids)}; expected 1-{count}, each once")
    if any(not p.text.strip() for p in answer.phrases):
        raise UnusableAnswer("a phrase's translation was empty")
    return answer


def _span(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids[:20]) or "none"


def build_prompt(job: TranslationJob) -> str:
    source, target = name_of(job.source_language), name_of(job.target_language)
    t = job.texts
    lines = [
        f"From {source} ({job.source_language}) into {target} ({job.target_language}).",
        f"Target language: {target} ({job.target_language})",
        "",
        "Phrases, one per line as number| text:",
        *(f"{i}| {' '.join(p.text.split())}" for i, p in enumerate(job.phrases, start=1)),
        "",
        f"Title: {t.title}",
        f"Hook: {t.hook}",
        f"TikTok description: {t.description_tiktok}",
        f"Instagram description: {t.description_instagram}",
        f"Hashtags: {' '.join(t.hashtags)}",
    ]
    return "\n".join(lines)
