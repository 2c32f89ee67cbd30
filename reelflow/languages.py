"""Spoken languages by ISO 639-1 code: whisper's 100, with their English names.

A job's `language` is `auto` (detected from the first 30 s of speech) or one of these codes;
translation targets are these codes too (and `fil`, Filipino, as the translation services name
it). Names go into prompts ("Write the title in German") and logs.
"""

from __future__ import annotations

AUTO = "auto"

NAMES: dict[str, str] = {
    "af": "Afrikaans", "am": "Amharic", "ar": "Arabic", "as": "Assamese", "az": "Azerbaijani",
    "ba": "Bashkir", "be": "Belarusian", "bg": "Bulgarian", "bn": "Bengali", "bo": "Tibetan",
    "br": "Breton", "bs": "Bosnian", "ca": "Catalan", "cs": "Czech", "cy": "Welsh",
    "da": "Danish", "de": "German", "el": "Greek", "en": "English", "es": "Spanish",
    "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fo": "Faroese",
    "fr": "French", "gl": "Galician", "gu": "Gujarati", "ha": "Hausa", "haw": "Hawaiian",
    "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "ht": "Haitian Creole", "hu": "Hungarian",
    "hy": "Armenian", "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese",
    "jw": "Javanese", "ka": "Georgian", "kk": "Kazakh", "km": "Khmer", "kn": "Kannada",
    "ko": "Korean", "la": "Latin", "lb": "Luxembourgish", "ln": "Lingala", "lo": "Lao",
    "lt": "Lithuanian", "lv": "Latvian", "mg": "Malagasy", "mi": "Maori", "mk": "Macedonian",
    "ml": "Malayalam", "mn": "Mongolian", "mr": "Marathi", "ms": "Malay", "mt": "Maltese",
    "my": "Burmese", "ne": "Nepali", "nl": "Dutch", "nn": "Norwegian Nynorsk", "no": "Norwegian",
    "oc": "Occitan", "pa": "Punjabi", "pl": "Polish", "ps": "Pashto", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "sa": "Sanskrit", "sd": "Sindhi", "si": "Sinhala",
    "sk": "Slovak", "sl": "Slovenian", "sn": "Shona", "so": "Somali", "sq": "Albanian",
    "sr": "Serbian", "su": "Sundanese", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil",
    "te": "Telugu", "tg": "Tajik", "th": "Thai", "tk": "Turkmen", "tl": "Tagalog",
    "tr": "Turkish", "tt": "Tatar", "uk": "Ukrainian", "ur": "Urdu", "uz": "Uzbek",
    "vi": "Vietnamese", "yi": "Yiddish", "yo": "Yoruba", "zh": "Chinese", "yue": "Cantonese",
}  # fmt: skip
TARGET_NAMES = {**NAMES, "fil": "Filipino"}


def name_of(code: str) -> str:
    return TARGET_NAMES.get(code, code)


def spoken_language(value: str) -> str:
    """A job's `language` option, normalised: `auto` or a known code. ValueError otherwise."""
    code = value.strip().lower().replace("_", "-")
    if code in ("", AUTO):
        return AUTO
    code = code.split("-")[0] if code not in NAMES else code
    if code not in NAMES:
        raise ValueError(f"unknown language '{value}': use auto or a code such as en, de, es, fr")
    return code


def target_languages(values: list[str] | str) -> list[str]:
    """Translation targets from a list or "es,de": known codes, each once, in order."""
    if isinstance(values, str):
        values = values.split(",")
    out: list[str] = []
    for value in values:
        code = str(value).strip().lower().replace("_", "-")
        if not code:
            continue
        if code not in TARGET_NAMES:
            code = code.split("-")[0]
        if code not in TARGET_NAMES:
            raise ValueError(f"unknown language '{value}': use codes such as es, de, fr, pt, ja")
        if code not in out:
            out.append(code)
    return out
