"""Word lists the local scorer reads a transcript with, per language.

The scorer's language-neutral signals (questions, figures in digits, exclamation marks, pace,
loudness, clean sentence ends, length) work in any language. These lists add what words say:
emphatic words, number words, hooky and dangling openers, intro/outro talk and the stop words
kept out of hashtags. English, German, Spanish and French have lists; any other language gets
no word lists, and its stop words are learned from the transcript itself (short words found in
a large share of its sentences), so hashtags stay content words there too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


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

LEXICONS = {
    "en": Lexicon(_EN_EMPHATIC, _EN_NUMBERS, _EN_OPENERS, _EN_DANGLING, _EN_INTRO, _EN_STOP),
    "de": Lexicon(_DE_EMPHATIC, _DE_NUMBERS, _DE_OPENERS, _DE_DANGLING, _DE_INTRO, _DE_STOP),
    "es": Lexicon(_ES_EMPHATIC, _ES_NUMBERS, _ES_OPENERS, _ES_DANGLING, _ES_INTRO, _ES_STOP),
    "fr": Lexicon(_FR_EMPHATIC, _FR_NUMBERS, _FR_OPENERS, _FR_DANGLING, _FR_INTRO, _FR_STOP),
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
