"""Speech in German, Spanish and Japanese with known truth, for the language tests and the
benchmark.

The same kind of talk as testkit.speech's English one (sentences with abbreviations, figures and
questions that a sentence splitter must read right), read by espeak-ng's German and Spanish
voices and laid over the sample video's pictures.
"""

from __future__ import annotations

from pathlib import Path

from testkit.speech import SpeechTruth, make_speech_video

GERMAN = (
    "Gute Typografie ist unsichtbar, wenn sie funktioniert, und schmerzhaft, wenn sie versagt.",
    "Dr. Weber hat drei Jahre lang untersucht, wie Menschen eine Seite lesen.",
    "Die meisten überfliegen zuerst Überschriften, Listen, Bildunterschriften usw. und lesen "
    "dann erst einen Absatz.",
    "Warum ist das für jeden wichtig, der eine Webseite gestaltet?",
    "Weil ein Leser in etwa zwei Sekunden entscheidet, ob sich die Seite lohnt.",
    "Die Zeilenlänge ist das Erste, was man prüfen sollte.",
    "Zeilen mit mehr als siebzig Zeichen lassen das Auge die Stelle verlieren.",
    "Kurze Zeilen dagegen zerstören den Rhythmus beim Lesen.",
    "Das Zweite ist der Kontrast zwischen der Schrift und dem Hintergrund.",
    "Graue Schrift auf weißem Papier wirkt elegant, aber viele Leser können sie kaum sehen.",
    "Denken Sie jetzt an den Abstand zwischen den Zeilen.",
    "Ein wenig mehr Raum lässt jede Zeile atmen, und die Seite wirkt ruhiger.",
    "Keine dieser Regeln ist neu, und trotzdem ignorieren die meisten Seiten sie.",
    "Korrigieren Sie diese drei Dinge, und Ihre Leser bleiben länger.",
)

SPANISH = (
    "La buena tipografía es invisible cuando funciona, y dolorosa cuando falla.",
    "La Dra. Pérez pasó tres años estudiando cómo los lectores recorren una página.",
    "Descubrió que casi todos miran primero los títulos, las listas, las fotos, etc. antes de "
    "leer un solo párrafo.",
    "¿Por qué importa eso a cualquiera que diseña una página web?",
    "Porque un lector decide en unos dos segundos si la página merece el esfuerzo.",
    "La longitud de la línea es lo primero que hay que revisar.",
    "Las líneas de más de setenta caracteres hacen que el ojo pierda su lugar.",
    "Las líneas cortas, en cambio, rompen el ritmo de la lectura.",
    "Lo segundo es el contraste entre el texto y el fondo.",
    "El texto gris sobre una página blanca parece elegante, pero muchos lectores no lo ven.",
    "Ahora piense en el espacio entre las líneas.",
    "Un poco más de espacio deja respirar a cada línea, y la página se siente más tranquila.",
    "Ninguna de estas reglas es nueva, y aun así la mayoría de las páginas las ignoran.",
    "Corrija estas tres cosas y sus lectores se quedarán más tiempo.",
)

# espeak-ng's Japanese voice reads kana, not kanji: the talk is written in kana, with spaces
# where it should pause for breath; whisper writes back kanji, kana and its own marks.
JAPANESE = (
    "よい デザインは、 うまく いって いるときは みえません。",
    "わたしたちは さんねんかん、 ひとが ページを どう よむかを しらべました。",
    "なぜ これが ウェブサイトを つくる ひとに たいせつ なのでしょうか？",
    "どくしゃは にびょうで その ページを よむか どうかを きめるからです。",
    "さいしょに しらべるのは ぎょうの ながさです。",
    "ななじゅう もじより ながい ぎょうは、 めが まよって しまいます。",
    "つぎは もじと はいけいの コントラストです。",
    "グレーの もじは きれいですが、 おおくの どくしゃには みえません。",
    "この みっつを なおせば、 どくしゃは もっと ながく のこります！",
)

VOICES = {"de": ("de", GERMAN), "es": ("es", SPANISH), "ja": ("ja", JAPANESE)}


def make_language_video(
    folder: Path, ffmpeg: str, language: str, pictures: Path | None = None
) -> SpeechTruth:
    """The talk in `language` (de, es or ja), over `pictures` (the sample video) when given."""
    voice, texts = VOICES[language]
    return make_speech_video(folder, ffmpeg, texts=texts, voice=voice, pictures=pictures)
