"""Synthetic transcripts for tests: words laid out on a regular, predictable grid.

Word k of a sentence starting at t starts at t + k * seconds_per_word and lasts
seconds_per_word * WORD_FILL, so the gap between two words of a sentence is the rest of the slot.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from reelflow.models import Sentence, Transcript, Word

WORD_FILL = 0.85

SentenceSpec = tuple[str, float | None, float, float]
"""(text, start_s or None for "right after the previous pause", seconds_per_word, pause_after)"""

SAMPLE_SENTENCES = (
    "Why do ninety percent of people never save any money?",
    "Here's the secret nobody tells you about compound interest.",
    "The team met in the office on a grey morning.",
    "And so it went on like that for a while.",
    "We spent 3 years and $40,000 building the first prototype.",
    "That was the worst mistake I have ever made.",
    "They walked back to the station after lunch.",
    "Welcome to the channel, and don't forget to subscribe.",
    "Thanks for watching, see you next time.",
    "The garden needs water every second day in summer.",
    "But the weather changed before the harvest.",
    "You will never guess what happened next!",
    "Engineers measured the bridge with lasers and drones.",
    "It is honestly the most amazing result in twenty years.",
    "Most people think marathon training starts with running.",
    "Because the budget was small, we rented the cameras.",
)


def make_transcript(
    sentences: Sequence[SentenceSpec],
    *,
    duration_s: float | None = None,
    loudness_db: list[float] | None = None,
    loudness_hop_s: float = 0.25,
) -> Transcript:
    words: list[Word] = []
    out: list[Sentence] = []
    t = 0.0
    for text, start, seconds_per_word, pause_after in sentences:
        t = t if start is None else start
        first = len(words)
        for k, token in enumerate(text.split()):
            word_start = t + k * seconds_per_word
            words.append(
                Word(
                    start_s=word_start, end_s=word_start + seconds_per_word * WORD_FILL, text=token
                )
            )
        out.append(
            Sentence(
                start_s=words[first].start_s,
                end_s=words[-1].end_s,
                text=text,
                first_word=first,
                last_word=len(words) - 1,
            )
        )
        t = words[-1].end_s + pause_after
    end = words[-1].end_s if words else 0.0
    return Transcript(
        language="en",
        duration_s=duration_s if duration_s is not None else end + 1.0,
        words=words,
        sentences=out,
        loudness_hop_s=loudness_hop_s,
        loudness_db=loudness_db or [],
    )


def random_transcript(duration_s: float, seed: int = 0) -> Transcript:
    """Speech from SAMPLE_SENTENCES at varied pace and pauses, with a loudness track."""
    rng = random.Random(seed)
    specs: list[SentenceSpec] = []
    t = 0.0
    while True:
        text = rng.choice(SAMPLE_SENTENCES)
        seconds_per_word = rng.uniform(0.25, 0.45)
        pause = rng.uniform(0.2, 1.2)
        t += len(text.split()) * seconds_per_word + pause
        if t > duration_s - 1:
            break
        specs.append((text, None, seconds_per_word, pause))
    hops = int(duration_s / 0.25)
    loudness = [rng.gauss(-22.0, 3.0 + 3.0 * ((i // 200) % 3)) for i in range(hops)]
    return make_transcript(specs, duration_s=duration_s, loudness_db=loudness)
