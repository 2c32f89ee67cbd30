"""Names that came from outside (an upload's file name, a video's title) made safe to use.

A caller's file name must never pick where a file lands (`../../etc/x`, `/abs`), hide it
(`.name`), look like an option (`-i`) or an ffmpeg protocol (`concat:a|b`), or break a
filter graph or a shell line (quotes, `:`, `,`, `;`, `#`, newlines). `safe_filename` keeps
letters and digits of every script and a few harmless marks, and replaces the rest.
A title is only ever data (JSON, CSV, markdown): `clean_title` drops control characters and
caps its length, and never makes it into a path.
"""

from __future__ import annotations

import re
import unicodedata

MAX_FILENAME_BYTES = 120  # well under the 255-byte limit of common file systems
MAX_TITLE_CHARS = 300
_KEEP_MARKS = "-_.()+ "


def safe_filename(name: str | None, *, fallback: str = "video") -> str:
    """The last path component of `name`, with only letters, digits and `-_.()+ ` left,
    no leading dot, dash or space, at most MAX_FILENAME_BYTES of UTF-8; `fallback` when
    nothing is left. The extension (a short alphanumeric suffix) is kept when it is cut."""
    text = unicodedata.normalize("NFC", name or "")
    text = re.split(r"[/\\]", text)[-1]  # a browser may send a whole Windows path
    text = "".join(c if _keep(c) else "_" for c in text)
    text = re.sub(r"_{2,}", "_", re.sub(r"\s+", " ", text))
    text = text.strip(" ._-")
    stem, dot, ext = text.rpartition(".")
    if not dot or not re.fullmatch(r"[A-Za-z0-9]{1,8}", ext):
        stem, ext = text, ""
    stem = _cut(stem.rstrip(" ._-"), MAX_FILENAME_BYTES - len(ext) - 1).rstrip(" ._-")
    if not stem:
        stem = fallback
    return f"{stem}.{ext}" if ext else stem


def clean_title(title: str | None) -> str | None:
    """One line of printable text, at most MAX_TITLE_CHARS; None when nothing is left."""
    if title is None:
        return None
    text = "".join(" " if _is_control(c) else c for c in unicodedata.normalize("NFC", title))
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_TITLE_CHARS:
        text = text[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return text or None


def _keep(c: str) -> bool:
    return c in _KEEP_MARKS or unicodedata.category(c)[0] in "LNM"


def _is_control(c: str) -> bool:
    # Cc: control characters, newlines, NUL; Cf: invisible format characters such as the
    # right-to-left override that makes "clip\u202egnp.exe" display as "clipexe.png".
    return unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def _cut(text: str, max_bytes: int) -> str:
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode(errors="ignore")
