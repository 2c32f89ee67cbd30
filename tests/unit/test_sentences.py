"""reelflow.sentences: which full stops end a sentence, on timed words as whisper gives them."""

from __future__ import annotations

import pytest

from reelflow.models import Word
from reelflow.sentences import MAX_SENTENCE_S, ends_clause, split_sentences


def words(text: str, pauses: dict[int, float] | None = None, step: float = 0.4) -> list[Word]:
    """Words 0.3 s long every `step` s; `pauses` adds extra seconds after word i."""
    out, t = [], 0.0
    for i, token in enumerate(text.split()):
        out.append(Word(start_s=round(t, 3), end_s=round(t + 0.3, 3), text=token))
        t += step + (pauses or {}).get(i, 0.0)
    return out


def texts(ws: list[Word], language: str = "en") -> list[str]:
    return [s.text for s in split_sentences(ws, language)]


CASES = [
    # (language, text, pauses after word i, expected sentences)
    pytest.param("en", "We sell apples, pears, etc. and plums. Then we close.", {},
                 ["We sell apples, pears, etc. and plums.", "Then we close."], id="etc-mid"),
    pytest.param("en", "We sell apples, pears, etc. Then we close.", {4: 0.5},
                 ["We sell apples, pears, etc.", "Then we close."], id="etc-end"),
    pytest.param("en", "Ask Dr. Patel and Mr. Smith today.", {1: 0.5},
                 ["Ask Dr. Patel and Mr. Smith today."], id="titles"),
    pytest.param("en", "Fruit, e.g. apples, i.e. food.", {},
                 ["Fruit, e.g. apples, i.e. food."], id="eg-ie"),
    pytest.param("en", "The U.S. Army came. It left.", {},
                 ["The U.S. Army came.", "It left."], id="initialism-mid"),
    pytest.param("en", "He moved to the U.S. Then he wrote.", {4: 0.6},
                 ["He moved to the U.S.", "Then he wrote."], id="initialism-end"),
    pytest.param("en", "It costs 3. 30 dollars now. Fine.", {},
                 ["It costs 3. 30 dollars now.", "Fine."], id="decimal-split"),
    pytest.param("en", "We meet at 3.30 or 1.5 hours later. Good.", {},
                 ["We meet at 3.30 or 1.5 hours later.", "Good."], id="decimals-whole"),
    pytest.param("en", "I thought... maybe not. Wait... Then go.", {4: 0.6},
                 ["I thought... maybe not.", "Wait...", "Then go."], id="ellipsis"),
    pytest.param("en", 'He said "stop." Then (see above.) Done!', {},
                 ['He said "stop."', "Then (see above.)", "Done!"], id="closers"),
    pytest.param("en", "Really? Yes! Good.", {}, ["Really?", "Yes!", "Good."], id="marks"),
    pytest.param("en", "So the abc. thing went on", {}, ["So the abc. thing went on"],
                 id="unknown-abbreviation-then-lower-case"),
    pytest.param("en", "and then we stopped and went home", {3: 1.2},
                 ["and then we stopped", "and went home"], id="long-pause-no-mark"),
    pytest.param("en", "and then, we stopped", {1: 1.2}, ["and then, we stopped"],
                 id="long-pause-after-comma"),
    pytest.param("de", "Wir treffen uns am 1. Mai, z.B. hier usw. Dann gehen wir.", {8: 0.5},
                 ["Wir treffen uns am 1. Mai, z.B. hier usw.", "Dann gehen wir."], id="de"),
    pytest.param("de", "Das war 2019. Dann kam mehr.", {2: 0.5},
                 ["Das war 2019.", "Dann kam mehr."], id="de-year-ends"),
    pytest.param("es", "El Sr. García vive en EE.UU. desde 2010. Bien.", {},
                 ["El Sr. García vive en EE.UU. desde 2010.", "Bien."], id="es"),
    pytest.param("fr", "M. Dupont et Mme Durand, etc. sont là. Bien.", {},
                 ["M. Dupont et Mme Durand, etc. sont là.", "Bien."], id="fr"),
    pytest.param("ja", "\u4eca\u65e5\u306f\u3002 \u660e\u65e5\u3082\u3002", {},
                 ["\u4eca\u65e5\u306f\u3002", "\u660e\u65e5\u3082\u3002"], id="ja-marks"),
    pytest.param("ja", "Dr. Who", {}, ["Dr. Who"], id="common-titles-any-language"),
]  # fmt: skip


@pytest.mark.parametrize(("language", "text", "pauses", "expected"), CASES)
def test_split(language, text, pauses, expected) -> None:
    assert texts(words(text, pauses), language) == expected


def test_sentences_cover_every_word_once_with_their_times() -> None:
    ws = words("One two. Three, four five? Six.", {1: 0.5})
    sentences = split_sentences(ws)
    assert [(s.first_word, s.last_word) for s in sentences] == [(0, 1), (2, 4), (5, 5)]
    for s in sentences:
        assert (s.start_s, s.end_s) == (ws[s.first_word].start_s, ws[s.last_word].end_s)


def test_a_long_unpunctuated_run_is_split_at_its_longest_pause() -> None:
    # 75 words, 0.4 s apart (30 s): the pause after word 30 is the longest, 0.5 s.
    ws = words(" ".join(f"w{i}" for i in range(75)), {30: 0.5, 50: 0.3})
    sentences = split_sentences(ws)
    assert sentences[0].last_word == 30
    assert all(s.end_s - s.start_s <= MAX_SENTENCE_S for s in sentences)
    assert sentences[-1].last_word == 74


def test_nothing_in_nothing_out() -> None:
    assert split_sentences([]) == []
    assert texts(words("alone"), "xx") == ["alone"]  # an unknown language is no error


@pytest.mark.parametrize(
    ("token", "clause"),
    [("well,", True), ("so;", True), ('"this:"', True), ("end.", False), ("word", False),
     ("\u3001", True), ("", False)],
)  # fmt: skip
def test_ends_clause(token, clause) -> None:
    assert ends_clause(token) is clause
