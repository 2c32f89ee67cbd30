"""Word lists the local scorer reads a transcript with, per language.

The scorer's language-neutral signals (questions, figures in digits, exclamation marks, pace,
loudness, clean sentence ends, length) work in any language. These lists add what words say:
emphatic words, number words, hooky and dangling openers, intro/outro talk and the stop words
kept out of hashtags. English, German, Spanish, French, Chinese and Japanese have lists; any
other language gets no word lists, and its stop words are learned from the transcript itself
(short words found in a large share of its sentences), so hashtags stay content words there too.

Chinese and Japanese are written without spaces, and whisper's "words" in them are a character
or two (its tokens), not words: their lists are matched inside the sentence's text (openers and
dangling words at its start, emphatic and number words anywhere). Hashtags come from the
sentence's text too: in Chinese its nouns, found by jieba's segmenter and tagger (whisper cuts
人工智能 into 人 工 智 能 as often as not), and in Japanese its runs of katakana or kanji. The stop
words are checked against those.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


@dataclass(frozen=True)
class Lexicon:
    emphatic: frozenset[str] = frozenset()
    numbers: frozenset[str] = frozenset()
    openers: frozenset[str] = frozenset()  # matched on a sentence's first one to three words
    dangling: frozenset[str] = frozenset()  # a clip opening on these needs what came before
    intro: tuple[str, ...] = ()  # phrases of intros, outros and sponsor reads
    stop: frozenset[str] = frozenset()  # never a hashtag
    unspaced: bool = False  # matched inside a sentence's text, not token by token
    # Finds the hashtag candidates in a sentence's (lower-case) text instead of its tokens.
    find_terms: Callable[[str], list[str]] | None = None

    def terms(self, tokens: Sequence[str], text: str) -> list[str]:
        """A sentence's hashtag candidates, before stop words and length are checked."""
        if self.find_terms is None:
            return list(tokens)
        return self.find_terms(text)

    def opener(self, lead: Sequence[str], text: str) -> str | None:
        """The hook opener a sentence starts with: one of its first three tokens' phrases, or
        in an unspaced script the longest listed start of its (lower-case) text."""
        if self.unspaced:
            return _longest_start(text, self.openers)
        return next((p for k in (3, 2, 1) if (p := " ".join(lead[:k])) in self.openers), None)

    def dangles(self, first: str, text: str) -> bool:
        """Whether a sentence opens on a word that needs what came before it."""
        if self.unspaced:
            return _longest_start(text, self.dangling) is not None
        return first in self.dangling

    def is_number(self, token: str) -> bool:
        if self.unspaced:
            return any(n in token for n in self.numbers)
        return token in self.numbers

    def emphatic_in(self, tokens: Sequence[str], text: str) -> list[str]:
        """The emphatic words of a sentence, in order, once per use."""
        if self.unspaced:
            return self._emphatic_pattern.findall(text) if self.emphatic else []
        return [t for t in tokens if t in self.emphatic]

    @cached_property
    def _emphatic_pattern(self) -> re.Pattern[str]:
        # Longest first: a listed word inside a longer listed one is not counted again.
        return re.compile("|".join(map(re.escape, sorted(self.emphatic, key=len, reverse=True))))


def _longest_start(text: str, phrases: frozenset[str]) -> str | None:
    return max((p for p in phrases if text.startswith(p)), key=len, default=None)


_EN_EMPHATIC = _words(
    """
    amazing awesome incredible unbelievable insane crazy wild huge massive enormous never always
    worst best biggest greatest secret secrets mistake mistakes wrong fail failed failure success
    love loved hate hated terrible horrible awful shocking shocked surprising surprised scary
    afraid fear angry furious painful dangerous deadly powerful brilliant genius stupid
    ridiculous perfect impossible nobody everyone everybody nothing everything literally
    absolutely seriously honestly truth lie lies exactly definitely wow damn critical
    """
)
_EN_NUMBERS = _words(
    """
    two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty
    sixty seventy eighty ninety hundred thousand million billion trillion percent half double
    triple twice dozen
    """
)
# Openers matched on a sentence's first one to three words.
_EN_OPENERS = frozenset(
    {
        "you", "your", "you're", "here's", "here is", "never", "why", "what", "how", "stop",
        "imagine", "nobody", "everyone", "everybody", "most people", "if you", "don't",
        "do you", "did you know", "have you", "the secret", "the truth", "the problem",
        "the biggest", "the best", "the worst", "the real", "the one thing", "the number one",
        "there's a", "let me tell you",
    }
)  # fmt: skip
# A clip opening on these needs what came before it to make sense.
_EN_DANGLING = _words(
    """
    and but so because which or also then plus anyway though although it it's its this that
    that's these those he he's she she's they they're them him her
    """
)
_EN_INTRO = (
    "welcome to", "welcome back", "subscribe", "thanks for watching", "thank you for watching",
    "sponsor", "link in the description", "links in the description", "link below",
    "hit the bell", "see you next time", "see you in the next", "in today's video",
    "before we get started", "patreon",
)  # fmt: skip
_EN_STOP = _words(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each even few
    for from further get gets getting got had has have having he her here hers herself him
    himself his how i if in into is it its itself just know let like lot lots me might more
    most much must my myself no nor not now of off on once one only or other our ours out over
    own really right said same say says see she should so some something such than that the
    their theirs them themselves then there these they thing things think this those through
    to too under until up upon us very want was way we well went were what when where which
    while who whom why will with would yeah yes yet you your yours yourself okay ok um uh gonna
    wanna kind sort actually basically maybe going make made come came take took look still
    back go goes every
    """
)


_DE_EMPHATIC = _words(
    """
    unglaublich wahnsinn wahnsinnig krass riesig riesige enorm nie niemals immer schlimmste
    beste besten größte geheimnis fehler falsch scheitern gescheitert erfolg liebe liebe hasse
    schrecklich furchtbar schockierend überraschend gefährlich tödlich brillant genial dumm
    lächerlich perfekt unmöglich niemand alle jeder nichts alles wirklich absolut ehrlich
    wahrheit lüge genau definitiv wow kritisch extrem
    """
)
_DE_NUMBERS = _words(
    """
    zwei drei vier fünf sechs sieben acht neun zehn elf zwölf fünfzehn zwanzig dreißig vierzig
    fünfzig sechzig siebzig achtzig neunzig hundert tausend million millionen milliarde
    milliarden prozent hälfte doppelt dreifach zweimal dutzend
    """
)
_DE_OPENERS = frozenset(
    {
        "du", "sie", "ihr", "warum", "was", "wie", "stell dir", "stellen sie", "niemand",
        "die meisten", "wenn du", "wenn sie", "wusstest du", "wussten sie", "hast du",
        "haben sie", "das geheimnis", "die wahrheit", "das problem", "der größte", "das beste",
        "das schlimmste", "hier ist", "lass mich",
    }
)  # fmt: skip
_DE_DANGLING = _words(
    "und aber also weil denn oder auch dann außerdem jedenfalls obwohl das dies diese dieser "
    "er sie es ihm ihn ihnen deshalb darum"
)
_DE_INTRO = (
    "willkommen", "abonnier", "abonnieren", "danke fürs zuschauen", "danke für's zuschauen",
    "sponsor", "link in der beschreibung", "links in der beschreibung", "glocke",
    "bis zum nächsten mal", "im heutigen video", "patreon",
)  # fmt: skip
_DE_STOP = _words(
    """
    aber alle allem allen aller alles als also am an ander andere anderen auch auf aus bei bin
    bis bist da damit dann das dass dein deine dem den der des dessen dich die dies diese
    diesem diesen dieser dieses dir doch dort du durch ein eine einem einen einer eines er es
    etwas euch euer eure für gegen gewesen hab habe haben hat hatte hier hin hinter ich ihm
    ihn ihnen ihr ihre im in indem ins ist jede jedem jeden jeder jedes jetzt kann kein keine
    können könnte machen man manche mein meine mich mir mit muss musste nach nicht nichts noch
    nun nur ob oder ohne sehr sein seine selbst sich sie sind so solche soll sollte sondern
    sonst über um und uns unser unter viel vom von vor war waren warum was weg weil weiter
    welche wenn werde werden wie wieder will wir wird wirklich wo wollen würde zu zum zur zwar
    zwischen ja nein mal eben halt schon gibt gut ganz immer wurde wurden
    """
)

_ES_EMPHATIC = _words(
    """
    increíble increibles asombroso loco locura enorme enormes nunca jamás siempre peor mejor
    mayor secreto secretos error errores equivocado fracaso éxito amor odio terrible horrible
    impactante sorprendente peligroso mortal brillante genial estúpido ridículo perfecto
    imposible nadie todos todo nada verdad mentira exactamente definitivamente absolutamente
    crítico extremo
    """
)
_ES_NUMBERS = _words(
    """
    dos tres cuatro cinco seis siete ocho nueve diez once doce quince veinte treinta cuarenta
    cincuenta sesenta setenta ochenta noventa cien ciento mil millón millones porciento
    mitad doble triple docena
    """
)
_ES_OPENERS = frozenset(
    {
        "tú", "usted", "por qué", "qué", "cómo", "imagina", "imagine", "nadie", "la mayoría",
        "si tú", "sabías", "sabías que", "el secreto", "la verdad", "el problema", "el mayor",
        "lo mejor", "lo peor", "aquí está", "déjame",
    }
)  # fmt: skip
_ES_DANGLING = _words(
    "y pero así porque pues o también entonces además aunque eso esto esta este estos esas "
    "él ella ellos ellas lo la le les que"
)
_ES_INTRO = (
    "bienvenidos", "bienvenidas", "suscríbete", "suscribete", "suscríbanse", "gracias por ver",
    "patrocinador", "enlace en la descripción", "campanita", "hasta la próxima",
    "en el video de hoy", "patreon",
)  # fmt: skip
_ES_STOP = _words(
    """
    a al algo algunos ante antes como con contra cual cuando de del desde donde durante e el
    ella ellas ellos en entre era eran es esa esas ese eso esos esta estaba estado estar estas
    este esto estos fue fueron ha hace hacer han hasta hay la las le les lo los mas me mi mis
    mucho muy más nada ni no nos nosotros o os otra otro para pero poco por porque que quien
    se sea ser si sin sobre son su sus también tan te tener tiene tienen todo todos tu tus un
    una uno unos usted ustedes vamos y ya yo sí bien solo cada
    """
)

_FR_EMPHATIC = _words(
    """
    incroyable incroyables fou folle énorme jamais toujours pire meilleur meilleure plus grand
    secret secrets erreur erreurs faux échec succès amour haine terrible horrible choquant
    surprenant dangereux mortel brillant génial stupide ridicule parfait impossible personne
    tout rien vraiment absolument honnêtement vérité mensonge exactement critique extrême
    """
)
_FR_NUMBERS = _words(
    """
    deux trois quatre cinq six sept huit neuf dix onze douze quinze vingt trente quarante
    cinquante soixante cent mille million millions milliard pourcent moitié double triple
    douzaine
    """
)
_FR_OPENERS = frozenset(
    {
        "vous", "tu", "pourquoi", "qu'est-ce", "comment", "imaginez", "imagine", "personne",
        "la plupart", "si vous", "saviez-vous", "le secret", "la vérité", "le problème",
        "le plus", "voici", "laissez-moi",
    }
)  # fmt: skip
_FR_DANGLING = _words(
    "et mais donc parce car ou aussi puis ensuite alors bien que cela ça ce cet cette ces il "
    "elle ils elles lui leur qui"
)
_FR_INTRO = (
    "bienvenue", "abonnez-vous", "abonne-toi", "merci d'avoir regardé", "sponsor",
    "lien dans la description", "la cloche", "à la prochaine", "dans la vidéo d'aujourd'hui",
    "patreon",
)  # fmt: skip
_FR_STOP = _words(
    """
    a à au aux avec avoir c ça ce cela ces cet cette comme dans de des du elle elles en est et
    était être eu il ils je j l la le les leur lui m ma mais me même mes moi mon n ne nos notre
    nous on ou où par pas pour qu que qui s sa se ses si son sont sur ta te tes toi ton tu un
    une vos votre vous y très bien plus tout tous fait faire
    """
)

# Chinese (simplified; the traditional forms are added below). Openers and dangling words are
# matched at a sentence's start, emphatic and number words anywhere in it: whisper's tokens
# in Chinese are a character or two, not words.
_ZH_EMPHATIC = _words(
    """
    惊人 难以置信 不可思议 疯狂 巨大 从来 永远 总是 最好 最差 最糟 最大 秘密 错误 失败 成功 讨厌
    可怕 震惊 危险 致命 天才 愚蠢 完美 不可能 没有人 所有人 一切 绝对 老实说 真相 谎言 确实
    竟然 居然 千万 一定 关键 厉害 太棒 简直
    """
)
# Numerals inside a token (三年, 百分之): 一 is left out, it is in every other word (一个, 一样).
_ZH_NUMBERS = _words("二 两 三 四 五 六 七 八 九 十 百 千 万 亿 倍 一半 百分之")
_ZH_OPENERS = _words(
    """
    你 为什么 怎么 如何 想象 没有人 大多数人 如果你 秘密 真相 问题是 最大的 最好的
    最糟糕的 让我告诉你 记住 千万不要 不要 别
    """
)
_ZH_DANGLING = _words(
    "但是 但 所以 因为 而且 而 然后 还有 那么 那 这 它 他 她 不过 可是 另外 并且 或者 也 就"
)
_ZH_INTRO = (
    "欢迎来到", "欢迎回来", "欢迎收看", "订阅", "点赞", "一键三连", "小铃铛", "感谢观看",
    "谢谢观看", "谢谢收看", "赞助", "下期见", "下次见", "今天的视频", "简介",
)  # fmt: skip
# Only words of two characters or more: a single character is never a hashtag.
_ZH_STOP = _words(
    """
    我们 你们 他们 她们 它们 咱们 自己 大家 这个 那个 这些 那些 这样 那样 这么 那么 这里 那里 哪里
    什么 怎么 怎样 怎么样 为什么 因为 所以 但是 可是 不过 然后 而且 如果 虽然 就是 还是 或者 已经
    可以 可能 应该 需要 没有 不是 一个 一些 一下 一样 一点 一起 一直 之间 之后 之前 时候 现在 今天
    觉得 知道 真的 非常 其实 所有 每个 东西 事情 还有 这是 那是 也是 都是 不会 不要 有点 比较
    特别 很多 只是 只有 的话 对吧 是吧 好的 我的 你的 他的 她的 就会 会有 这种 那种 一种
    """
)
# jieba's tags of the words that make a Chinese hashtag: nouns of every kind (n, nr a person, ns
# a place, nt an organisation, nz another proper noun ...), nouns made of verbs (投资, 设计) and
# words in Latin letters (iPhone, AI).
_ZH_TERM_TAGS = ("n", "vn", "eng")


def _chinese_nouns(text: str) -> list[str]:
    import rjieba  # builds its dictionary on import (0.1 s): only for Chinese talks

    return [word for word, tag in rjieba.tag(text) if tag.startswith(_ZH_TERM_TAGS)]


# Simplified characters of the lists above and their traditional forms, so a talk from Taiwan
# or Hong Kong reads the same.
_TRADITIONAL = str.maketrans(
    "们这个么为说还没会时现应该样问题觉东实点让对经过后间从种难惊疯远总错误败讨厌险绝"
    "谎确键关厉简两万亿数记别欢订阅赞铃铛谢观视频见里连诉议并",
    "們這個麼為說還沒會時現應該樣問題覺東實點讓對經過後間從種難驚瘋遠總錯誤敗討厭險絕"
    "謊確鍵關厲簡兩萬億數記別歡訂閱贊鈴鐺謝觀視頻見裡連訴議並",
)


_Words = TypeVar("_Words", frozenset[str], tuple[str, ...])


def _with_traditional(words: _Words) -> _Words:
    """`words` (a frozenset or a tuple) and their traditional forms, each once."""
    return type(words)(dict.fromkeys([*words, *(w.translate(_TRADITIONAL) for w in words)]))


_JA_EMPHATIC = _words(
    """
    すごい 凄い やばい ヤバい 驚き 信じられない 絶対 最高 最悪 最大 秘密 間違い 失敗 成功 大好き
    嫌い 怖い 危険 天才 完璧 不可能 誰も 全部 全て 本当に 真実 嘘 確かに 決して 必ず 衝撃 大事
    """
)
_JA_NUMBERS = _words("二 三 四 五 六 七 八 九 十 百 千 万 億 倍 半分 パーセント")
_JA_OPENERS = _words(
    """
    あなた 皆さん みなさん なぜ どうして 何が 何を どう 想像して 誰も ほとんどの人 もし 知って
    秘密は 真実は 問題は 一番 最大の 最高の 最悪の 実は ここだけの話
    """
)
_JA_DANGLING = _words(
    "でも だから それ これ あれ そして しかし また つまり そう 彼 だけど けど なので ですから"
)
_JA_INTRO = (
    "チャンネル登録", "高評価", "ご視聴ありがとう", "概要欄", "今日の動画", "また次回", "次の動画",
    "メンバーシップ",
)  # fmt: skip
# Whisper's Japanese tokens are mostly single characters ("サ" "イ" "ト"): a hashtag is a run of
# katakana (a loanword, a name) or of kanji (a compound), which is where Japanese words change
# script; hiragana between them is grammar.
_JA_TERMS = re.compile(r"[\u30a1-\u30fa\u30fc]{2,}|[\u3400-\u4dbf\u4e00-\u9fff\u3005]{2,}")
# The small talk that is written in kanji or katakana (hiragana alone is never a hashtag).
_JA_STOP = _words(
    """
    私 僕 俺 私たち 僕たち 彼女 皆さん 今日 今回 本当 感じ 思い 思う 自分 的な 一番 場合 部分 全部
    最初 最後 以上 以下 必要 普通 大体 結構 多分 人達 何か 何で 大丈夫 一緒 時間
    """
)

LEXICONS = {
    "en": Lexicon(_EN_EMPHATIC, _EN_NUMBERS, _EN_OPENERS, _EN_DANGLING, _EN_INTRO, _EN_STOP),
    "de": Lexicon(_DE_EMPHATIC, _DE_NUMBERS, _DE_OPENERS, _DE_DANGLING, _DE_INTRO, _DE_STOP),
    "es": Lexicon(_ES_EMPHATIC, _ES_NUMBERS, _ES_OPENERS, _ES_DANGLING, _ES_INTRO, _ES_STOP),
    "fr": Lexicon(_FR_EMPHATIC, _FR_NUMBERS, _FR_OPENERS, _FR_DANGLING, _FR_INTRO, _FR_STOP),
    "zh": Lexicon(
        *map(_with_traditional, (_ZH_EMPHATIC, _ZH_NUMBERS, _ZH_OPENERS, _ZH_DANGLING)),
        _with_traditional(_ZH_INTRO),
        _with_traditional(_ZH_STOP),
        unspaced=True,
        find_terms=_chinese_nouns,
    ),
    "ja": Lexicon(
        _JA_EMPHATIC,
        _JA_NUMBERS,
        _JA_OPENERS,
        _JA_DANGLING,
        _JA_INTRO,
        _JA_STOP,
        unspaced=True,
        find_terms=_JA_TERMS.findall,
    ),
}
LEARNED_STOP_SHARE = 0.2  # a word in at least this share of sentences is a stop word
LEARNED_STOP_MIN_SENTENCES = 5  # fewer sentences teach nothing
LEARNED_STOP_LETTERS = 5


def lexicon_for(language: str, sentences: Sequence[Sequence[str]]) -> Lexicon:
    """The language's lists; for a language without lists, stop words learned from
    `sentences` (each a sequence of normalised tokens)."""
    known = LEXICONS.get(language.lower().split("-")[0])
    if known is not None:
        return known
    return Lexicon(stop=learned_stop_words(sentences))


def learned_stop_words(sentences: Sequence[Sequence[str]]) -> frozenset[str]:
    if len(sentences) < LEARNED_STOP_MIN_SENTENCES:
        return frozenset()
    df = Counter(t for tokens in sentences for t in set(tokens))
    floor = max(2, LEARNED_STOP_SHARE * len(sentences))
    # Function words are short in most languages; a long word everywhere is the topic, which
    # makes the best hashtag.
    return frozenset(t for t, n in df.items() if n >= floor and len(t) <= LEARNED_STOP_LETTERS)
