"""Scripts written without spaces (Chinese, Japanese, Thai): joined, split, broken into caption
lines and drawn in a font that has their glyphs, without a space between every syllable."""

from __future__ import annotations

import re
import subprocess

import pytest

from reelflow.ass import SAFE_WIDTH, ass_filter, new_document, write_ass
from reelflow.fonts import fallback_face, find_face
from reelflow.media import ffmpeg_path, tool_env
from reelflow.models import Transcript, Word
from reelflow.scripts import join_words, reading_weight, split_words
from reelflow.sentences import split_sentences
from reelflow.styles import CaptionStyle, HookStyle
from tasks.captions import add_captions, break_lines, caption_words, srt_text
from tasks.hook_title import layout_hook
from tasks.translate.phrases import clip_phrases, timed_words
from tasks.translate.types import Phrase
from tests.helpers.look_media import ass_frames, ink

# Whisper's words for two Chinese sentences: a character or two each, no spaces.
CHINESE = ["我们", "今天", "讲", "一个", "秘密", "。", "大家", "都", "不", "知道", "！"]


def chinese_words(tokens=CHINESE, start=0.5, step=0.3) -> list[Word]:
    return [
        Word(start_s=start + k * step, end_s=start + k * step + step * 0.9, text=t)
        for k, t in enumerate(tokens)
    ]


@pytest.mark.parametrize(
    ("words", "text"),
    [
        (["我们", "今天"], "我们今天"),
        (["你好", "，", "世界", "。"], "你好，世界。"),
        (["こんにちは", "、", "世界"], "こんにちは、世界"),
        (["안녕하세요", "여러분"], "안녕하세요 여러분"),  # Korean keeps its spaces
        (["สวัสดี", "ครับ"], "สวัสดีครับ"),
        (["Hello,", "world."], "Hello, world."),
        (["I", "use", "Python", "写", "代码"], "I use Python写代码"),
        (["", "a", "", "b"], "a b"),
    ],
)
def test_words_are_joined_with_spaces_only_where_the_script_has_them(words, text):
    assert join_words(words) == text


@pytest.mark.parametrize(
    "text",
    [
        "你好，世界。",
        "「秘密」を知っていますか？",
        "Hello, world.",
        "我用Python写代码",
        "안녕 세상",
    ],
)
def test_split_words_gives_back_the_text_when_joined(text):
    words = split_words(text)
    assert join_words(words) == text
    assert all(w.strip() == w and w for w in words)


def test_unspaced_text_splits_into_characters_keeping_marks_with_them():
    assert split_words("你好，世界。") == ["你", "好，", "世", "界。"]
    assert split_words("「秘密」") == ["「秘", "密」"]
    assert split_words("It's fine, ok?") == ["It's", "fine,", "ok?"]


def test_reading_weight_counts_two_characters_as_a_word():
    assert reading_weight("hello") == 1
    assert reading_weight("秘密") == 1
    assert reading_weight("讲") == 0.5
    assert reading_weight("。") == 0
    assert reading_weight("안녕하세요") == 1


def test_chinese_sentences_end_at_their_marks_and_have_no_spaces():
    sentences = split_sentences(chinese_words(), language="zh")
    assert [s.text for s in sentences] == ["我们今天讲一个秘密。", "大家都不知道！"]
    transcript = Transcript(
        language="zh", duration_s=5.0, words=chinese_words(), sentences=sentences
    )
    assert transcript.text == "我们今天讲一个秘密。大家都不知道！"


def test_chinese_caption_lines_hold_about_two_letters_a_word_and_no_spaces():
    style = CaptionStyle(words_per_line=3)
    lines = break_lines(caption_words(chinese_words(), style), style)
    assert "".join(line.text for line in lines) == "".join(CHINESE)
    for line in lines:
        assert " " not in line.text
        assert sum(c.isalnum() for c in line.text) <= 2 * style.words_per_line
    assert lines[0].text == "我们今天讲"  # 2 + 2 + 1 letters; "一个" would make seven
    assert "我们今天讲" in srt_text(lines)
    english = [
        Word(start_s=k * 0.3, end_s=k * 0.3 + 0.25, text=w)
        for k, w in enumerate(["a", "b", "c", "d", "e"])
    ]
    assert [x.text for x in break_lines(caption_words(english, style), style)] == ["A B C", "D E"]


def chinese_captions(animation: str):
    """(lines, ASS document) of the Chinese words under an animation."""
    style = CaptionStyle(animation=animation)
    lines = break_lines(caption_words(chinese_words(), style), style)
    doc = new_document()
    add_captions(doc, lines, style)
    return lines, doc


def chinese_talk(sentences, language: str = "zh") -> Transcript:
    """A transcript of whisper-like Chinese (or Japanese) words: the sentences' space-separated
    tokens."""
    words: list[Word] = []
    t = 0.3
    for sentence in sentences:
        for token in sentence.split():
            words.append(Word(start_s=round(t, 3), end_s=round(t + 0.3, 3), text=token))
            t += 0.34
        t += 0.7
    return Transcript(language=language, duration_s=t + 1, words=words,
                      sentences=split_sentences(words, language))  # fmt: skip


@pytest.mark.parametrize("animation", ["none", "highlight", "karaoke", "pop"])
def test_chinese_captions_carry_no_spaces_in_any_animation(animation):
    _, doc = chinese_captions(animation)
    for event in doc.events:
        shown = re.sub(r"\{[^}]*\}", "", event.text)
        assert " " not in shown, (animation, event.text)


@pytest.mark.parametrize(
    ("text", "language"), [("你好世界", "zh"), ("こんにちは", "ja"), ("안녕하세요", "ko")]
)
def test_cjk_lines_in_a_latin_font_get_the_cjk_face(text, language):
    face = fallback_face(text, find_face("Anton"))
    assert face.family == "Noto Sans CJK JP", language
    assert all(face.covers(c) for c in text)


@pytest.mark.parametrize("animation", ["none", "highlight", "karaoke", "pop"])
def test_chinese_captions_are_drawn_with_the_cjk_font_and_no_missing_glyphs(animation):
    lines, doc = chinese_captions(animation)
    ass = write_ass(doc)
    args = [ffmpeg_path(), "-nostdin", "-v", "verbose", "-f", "lavfi", "-i",
            "color=s=1080x1920:d=4:r=5", "-vf", ass_filter(ass), "-f", "null", "-"]  # fmt: skip
    log = subprocess.run(args, capture_output=True, text=True, env=tool_env()).stderr
    assert "NotoSansCJKjp-Bold" in log, log[-2000:]
    assert "not found" not in log.lower(), log[-2000:]
    frame = ass_frames(ass, [lines[0].start_s + 0.2])[0]
    assert ink(frame).sum() > 2000  # the characters are there, not an empty line


def test_a_translated_chinese_phrase_is_timed_character_by_character():
    phrase = Phrase(start_s=1.0, end_s=3.0, text="你好，世界。")
    words = timed_words(phrase, phrase.text)
    assert [w.text for w in words] == ["你", "好，", "世", "界。"]
    assert words[0].start_s == 1.0 and words[-1].end_s == pytest.approx(3.0)
    assert clip_phrases(chinese_words())[0].text == "我们今天讲一个秘密。"


def test_a_long_chinese_hook_wraps_between_characters_inside_the_safe_area():
    text = "我们今天要讲一个大家都不知道的秘密而且它会改变你的一生"
    layout = layout_hook(text, HookStyle(), 5.0)
    assert layout is not None and len(layout.lines) > 1
    assert "".join(layout.lines) == text
    for line in layout.lines:
        assert layout.face.text_width(line, layout.size) <= SAFE_WIDTH


TALK = (
    "好的 排版 在 有效 的 时候 是 看不见 的 。",
    "王 博士 花了 三年 时间 研究 人们 怎样 阅读 排版 。",
    "为什么 这 对 每个 设计 网页 的 人 都 很 重要 ？",
    "因为 读者 两 秒钟 就 决定 这 一页 值不值得 读 。",
    "行 的 长度 是 第一 件 要 检查 的 事情 。",
    "超过 七十 个 字 的 行 会 让 眼睛 迷路 。",
    "短 的 行 会 打断 阅读 的 节奏 。",
    "第二 件 事 是 文字 和 背景 之间 的 对比 。",
    "灰色 的 文字 看起来 很 优雅 ， 但是 很多 读者 看 不 清楚 。",
    "现在 想 一想 行 与 行 之间 的 距离 。",
    "多 一点 空间 让 每 一行 都 能 呼吸 。",
    "这些 规则 都 不是 新 的 ， 但是 大多数 网页 都 忽略 了 它们 ！",
    "改好 这 三件 事 ， 你 的 读者 就 会 留 得 更久 。",
)


def test_the_local_scorer_writes_chinese_texts_without_spaces_and_tags_chinese_words():
    from tasks.moments.local import find_local_moments
    from tasks.moments.types import MomentOptions

    transcript = chinese_talk(TALK)
    assert len(transcript.sentences) == len(TALK)
    moments = find_local_moments(transcript, [], MomentOptions(clips=2))
    assert moments
    cjk = r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"
    between_characters = re.compile(f"{cjk} {cjk}")
    for m in moments:
        for text in (m.title, m.hook, m.description_tiktok, m.description_instagram):
            assert text and not between_characters.search(text), text
        assert m.hashtags, m
        for tag in m.hashtags:  # content words of two characters or more, no punctuation
            assert len(tag) >= 3 and all("\u4e00" <= c <= "\u9fff" for c in tag[1:]), tag


@pytest.mark.parametrize("script", ["simplified", "traditional"])
def test_chinese_hashtags_leave_out_function_words(script):
    from tasks.moments.local import find_local_moments
    from tasks.moments.types import MomentOptions

    talk = TALK if script == "simplified" else [s.translate(TO_TRADITIONAL) for s in TALK]
    moments = find_local_moments(chinese_talk(talk), [], MomentOptions(clips=2))
    tags = {tag for m in moments for tag in m.hashtags}
    # Before the Chinese word lists, "between" and "but" were among the first five.
    assert tags.isdisjoint({"#之间", "#之間", "#但是", "#我们", "#什么"}), tags
    assert {"#网页", "#網頁"} & tags and {"#读者", "#讀者"} & tags, tags


def test_chinese_hashtags_are_whole_nouns_even_when_whisper_cuts_them_into_characters():
    """Whisper writes a word it knows less well one character per token (人 工 智 能), and the
    two-character tokens it does write are as often verbs (改变, 取代) as topics. Hashtags are the
    nouns of the sentence's text, as jieba segments and tags it."""
    from tasks.moments.local import find_local_moments
    from tasks.moments.types import MomentOptions

    talk = (
        "人 工 智 能 正在 改变 我们 的 工作 。",
        "很多 公司 已经 用 人 工 智 能 写 代码 。",
        "但是 程序 员 还是 需要 检查 每 一 行 。",
        "如果 你 想 学习 编 程 ， 先 从 小 项 目 开始 。",
        "人 工 智 能 不会 取代 好 的 程序 员 。",
        "它 会 取代 不 学习 的 人 ！",
    ) * 2
    moments = find_local_moments(chinese_talk(talk), [], MomentOptions(clips=1))
    tags = {tag for m in moments for tag in m.hashtags}
    # Before: #改变 #取代 #学习 #开始 #程序, and never #人工智能.
    assert {"#人工智能", "#程序员"} <= tags, tags
    assert tags.isdisjoint({"#改变", "#取代", "#学习", "#开始", "#正在", "#程序"}), tags


TO_TRADITIONAL = str.maketrans("间们这样说网页读对还", "間們這樣說網頁讀對還")


def test_chinese_openers_emphatic_words_and_dangling_starts_are_read_from_the_text():
    """Whisper's Chinese tokens are a character or two ("如果" "你"): the word lists are found
    in the sentence's text, so a clip opening on "如果你" with "绝对" and "秘密" in it wins over
    one opening on "但是" (a sentence that needs the one before it)."""
    from tasks.moments.local import find_local_moments
    from tasks.moments.types import MomentOptions

    weak = (
        "但是 我们 还 没有 讲 到 最 后 的 部分 。",
        "然后 他们 把 这 件 事 放 在 一边 了 。",
        "所以 这 个 地方 的 人 每 天 都 去 上班 。",
        "而且 那 条 路 上 的 车 一直 都 很 多 。",
    ) * 2
    strong = (
        "如果 你 每 天 只 读 十 分钟 ， 你 会 怎样 ？",
        "这 绝对 是 一个 大家 都 不 知道 的 秘密 。",
        "如果 你 每 天 只 读 十 分钟 ， 你 会 怎样 ？",
        "这 绝对 是 一个 大家 都 不 知道 的 秘密 。",
    ) * 2
    moments = find_local_moments(chinese_talk(weak + strong), [], MomentOptions(clips=1))
    assert moments[0].hook.startswith("如果你"), moments[0]
    reason = moments[0].reason
    assert "emphatic words (绝对, 秘密)" in reason and "opens mid-thought" not in reason, reason
    first = find_local_moments(chinese_talk(weak), [], MomentOptions(clips=1))[0]
    assert "opens mid-thought" in first.reason, first.reason


JAPANESE_TALK = (
    "今日はデザインの話をします。",
    "なぜ多くのサイトは読みにくいのでしょうか？",
    "実はフォントの大きさが問題です。",
    "デザインで一番大事なのは行の長さです。",
    "長い行は目が迷ってしまいます。",
    "それからコントラストも大事です。",
    "灰色の文字はきれいですが読みにくいです。",
    "この三つを直すと読者は長く残ります！",
    "フォントとコントラストでサイトは変わります。",
)


def test_japanese_hashtags_are_kanji_or_katakana_words():
    """Whisper writes Japanese a character a token ("サ" "イ" "ト"): hashtags are the runs of
    katakana or kanji in the text, never grammar in hiragana (でしょう) or small talk (今日)."""
    from tasks.moments.local import find_local_moments
    from tasks.moments.types import MomentOptions

    tokens = [" ".join(sentence) for sentence in JAPANESE_TALK]
    moments = find_local_moments(chinese_talk(tokens, "ja"), [], MomentOptions(clips=1))
    tags = moments[0].hashtags
    topics = {
        "#デザイン",
        "#フォント",
        "#コントラスト",
        "#サイト",
        "#読者",
        "#問題",
        "#文字",
        "#灰色",
    }
    assert len(topics & set(tags)) >= 3, tags
    for tag in tags:
        assert re.fullmatch(r"#([\u30a1-\u30fc]+|[\u4e00-\u9fff]+)", tag) and tag != "#今日", tags


def test_a_hook_of_ten_words_is_twenty_chinese_characters():
    from reelflow.scripts import first_words

    english = "one two three four five six seven eight nine ten eleven twelve"
    assert first_words(english, 10) == "one two three four five six seven eight nine ten"
    chinese = "为什么这对每个设计网页的人都很重要，因为读者两秒钟就决定这一页值不值得读。"
    hook = first_words(chinese, 10)
    assert chinese.startswith(hook) and sum(c.isalnum() for c in hook) == 20
    assert first_words("  spaced   out  ", 10) == "spaced out"
    assert first_words("", 10) == "" and split_words(" \n ") == [] and join_words([]) == ""


def test_a_long_chinese_opening_line_makes_a_hook_of_about_twenty_characters():
    from tasks.moments.local import find_local_moments
    from tasks.moments.types import MomentOptions

    long_line = (
        "我们 今天 要 讲 一个 故事 ， 关于 排版 设计 的 很 长 的 故事 ， 它 会 改变 你 对 网页 "
        "的 看法 。"
    )
    transcript = chinese_talk((long_line,) * 6)
    hook = find_local_moments(transcript, [], MomentOptions(clips=1))[0].hook
    # Twenty characters of the 33-character line, then back to its last comma.
    assert hook == "我们今天要讲一个故事"


def test_a_clip_translated_into_chinese_gets_timed_unspaced_caption_lines():
    """Through the real google-genai client against the stand-in: Chinese phrases come back,
    are timed a character at a time inside their source phrase, and make caption lines of at
    most six characters (three words' worth) in the CJK face; the hook is cut to twenty."""
    from reelflow.gemini import GeminiOptions
    from reelflow.manifest import ClipTexts
    from tasks.translate.gemini import GeminiTranslator
    from tasks.translate.types import TranslationJob
    from testkit.gemini import GeminiStandIn
    from testkit.translation import translator

    chinese = ["大家好，今天我们来谈排版。", "好的排版是看不见的！"]
    answer = {
        "phrases": [{"id": k, "text": text} for k, text in enumerate(chinese, start=1)],
        "title": "排版的秘密", "hook": "为什么这对每个设计网页的人都很重要而且大家都不知道呢",
        "description_tiktok": "排版。", "description_instagram": "排版。", "hashtags": ["#排版"],
    }  # fmt: skip

    job = TranslationJob(
        source_language="en", target_language="zh",
        phrases=[Phrase(start_s=0.2, end_s=2.4, text="Hello everyone, today: typesetting."),
                 Phrase(start_s=2.9, end_s=4.6, text="Good type is invisible!")],
        texts=ClipTexts(title="Type", hook="Why it matters", hashtags=["#type"]),
    )  # fmt: skip
    with GeminiStandIn(responder=translator(translate=lambda prompt: answer)) as server:
        options = GeminiOptions(model="gemini-2.5-flash", base_url=server.url, timeout_s=10)
        result = GeminiTranslator(options, "k").translate(job)
    assert result.phrases == chinese
    assert result.texts.hook == "为什么这对每个设计网页的人都很重要而且大"
    words = [w for p, text in zip(job.phrases, result.phrases, strict=True)
             for w in timed_words(p, text)]  # fmt: skip
    assert words[0].start_s == 0.2 and words[-1].end_s == pytest.approx(4.6)
    style = CaptionStyle(words_per_line=3)
    lines = break_lines(caption_words(words, style), style)
    assert join_words(line.text for line in lines) == "".join(chinese)
    for line in lines:
        assert " " not in line.text and sum(c.isalnum() for c in line.text) <= 6
        assert line.face.family == "Noto Sans CJK JP"
        assert line.scale == 1.0  # fits the safe area without shrinking
