"""The fonts captions and titles are drawn with: found, checked, measured, handed to libass.

Fonts come from PyPI packages of the `fontpkg` family (`fontpkg-anton`, `fontpkg-rubik` are
dependencies; any other installed `fontpkg-*` package is picked up too) and of the `noto-cjk-*`
family (`noto-cjk-sans-jp-bold` draws Chinese, Japanese and Korean), never from the system: a
style that names a font which is not installed is an error before anything renders
(`FontNotAvailable`), not libass quietly drawing another font.

libass matches a style's font name against each file's family name (OpenType name ID 1), which
for a variable font is its default instance ("Rubik Light"), not the family users know
("Rubik", name ID 16). So each file's names are read here from its own tables, a style's name
is resolved to the exact name libass will match, and the files are laid out in one folder for
the `ass` filter's `fontsdir`. The same tables give glyph advances, so caption lines can be
measured to stay inside the safe area, and character coverage, so a line in a script the
chosen font lacks (Hebrew in Anton) is set in an installed font that has it.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from importlib.metadata import distributions, entry_points
from pathlib import Path

from reelflow.errors import InvalidRequest
from reelflow.files import link_or_copy
from reelflow.settings import get_settings

ENTRY_POINT_GROUP = "fontpkg.family"
CJK_PACKAGE_PREFIX = "noto-cjk-"  # these declare no entry point: found by distribution name
FONT_SUFFIXES = (".ttf", ".otf")
# Used for a line whose script the chosen font cannot draw: the one that draws most of it
# (ties: the first). Rubik: Latin, Cyrillic, Hebrew, Arabic; Noto Sans adds Greek, Vietnamese
# and Devanagari; Noto Sans Devanagari and Noto Sans Thai their scripts in full; Noto Sans CJK
# JP all of Chinese (simplified and traditional), Japanese and Korean.
FALLBACK_FAMILIES = (
    "Rubik", "Noto Sans", "Noto Sans Devanagari", "Noto Sans Thai", "Noto Sans CJK JP",
)  # fmt: skip
_BOLD = 700
_REGULAR = 400


class FontNotAvailable(InvalidRequest):
    """A style names a font that is not installed."""


@dataclass(frozen=True)
class FontFace:
    """One font file and what libass and the layout need to know about it."""

    path: Path
    ass_name: str  # name ID 1: what an ASS style must say for libass to pick this file
    family: str  # name ID 16, else 1: the name people use
    names: frozenset[str]  # lower-case names this file answers to (IDs 1, 4, 6, 16)
    weight: int  # OS/2 usWeightClass (a variable font: its default instance)
    italic: bool
    height_units: int  # usWinAscent + usWinDescent: libass maps the font size to this
    advances: dict[int, int] = field(repr=False, compare=False)  # code point -> advance

    def covers(self, char: str) -> bool:
        return ord(char) in self.advances

    def text_width(self, text: str, size_px: float, *, faux_bold: bool = False) -> float:
        """Advance width in pixels at an ASS font size (no kerning: a little on the wide side).

        Characters the font lacks count as a wide letter, so an estimate never comes out short.
        """
        if not text:
            return 0.0
        wide = max(self.advances.get(ord("M"), 0), self.height_units // 2)
        units = sum(self.advances.get(ord(c), wide) for c in text)
        width = units * size_px / self.height_units
        # libass's synthetic bold thickens strokes; allow it a little room per glyph.
        return width + (len(text) * size_px / 64 if faux_bold else 0.0)


def installed_faces() -> tuple[FontFace, ...]:
    return _installed_faces()


@lru_cache(maxsize=1)
def _installed_faces() -> tuple[FontFace, ...]:
    faces = []
    for path in sorted(_font_files(), key=lambda p: p.name):
        try:
            faces.append(read_face(path))
        except (ValueError, struct.error, KeyError, OSError):
            continue  # not a font libass could use either
    return tuple(faces)


def _font_files() -> list[Path]:
    files: list[Path] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            root = Path(str(resources.files(ep.value)))
        except (ModuleNotFoundError, TypeError):
            continue
        files += [p for p in (root / "files").glob("*") if p.suffix.lower() in FONT_SUFFIXES]
    for dist in distributions():
        if (dist.metadata["Name"] or "").lower().startswith(CJK_PACKAGE_PREFIX):
            found = (Path(str(dist.locate_file(f))) for f in dist.files or ())
            files += [p for p in found if p.suffix.lower() in FONT_SUFFIXES]
    return files


def available_families() -> list[str]:
    return sorted({f.family for f in installed_faces()})


def find_face(name: str, *, bold: bool = False, italic: bool = False) -> FontFace:
    """The installed face for a style's font name, or FontNotAvailable naming what there is."""
    wanted = " ".join(name.split()).lower()
    matches = [f for f in installed_faces() if wanted in f.names]
    if not matches:
        families = ", ".join(available_families()) or "none"
        raise FontNotAvailable(
            f"Font '{name}' is not installed (installed: {families}). Choose one of those, or "
            f"install its fontpkg package (e.g. pip install fontpkg-{_slug(name)})"
        )
    target = _BOLD if bold else _REGULAR
    return min(matches, key=lambda f: (f.italic != italic, abs(f.weight - target), f.path.name))


def fallback_face(text: str, preferred: FontFace) -> FontFace:
    """`preferred` when it draws every letter of `text`; else the fallback family that draws
    most of them (a Hebrew line in Anton is set in Rubik, a Hindi one in Noto Sans Devanagari)."""
    letters = [c for c in text if not c.isspace()]
    missing = sum(not preferred.covers(c) for c in letters)
    if not missing:
        return preferred
    best = preferred
    for family in FALLBACK_FAMILIES:
        try:
            face = find_face(family, bold=preferred.weight >= 600, italic=preferred.italic)
        except FontNotAvailable:
            continue
        lacking = sum(not face.covers(c) for c in letters)
        if lacking < missing:
            best, missing = face, lacking
        if not missing:
            break
    return best


def drawable(text: str) -> str:
    """`text` without the characters no installed font can draw (emoji, mostly): libass has
    no colour glyphs and would leave a gap or a box for each."""
    faces = installed_faces()
    return "".join(c for c in text if c.isspace() or any(f.covers(c) for f in faces))


def fonts_dir() -> Path:
    """One folder holding every installed font file, for the `ass` filter's `fontsdir`.

    Named by the files' names and sizes, so a changed set of fonts gets a new folder and a
    render's filter string (part of its cache key) changes with it.
    """
    faces = installed_faces()
    tag = hashlib.sha256(
        "|".join(f"{f.path.name}:{f.path.stat().st_size}" for f in faces).encode()
    ).hexdigest()[:16]
    folder = get_settings().cache_dir / "fonts" / tag
    if not all((folder / f.path.name).exists() for f in faces):
        folder.mkdir(parents=True, exist_ok=True)
        for face in faces:
            link_or_copy(face.path, folder / face.path.name)
    return folder


def _slug(name: str) -> str:
    return "-".join(name.lower().split())


# -- reading OpenType tables ------------------------------------------------------------------


def read_face(path: Path) -> FontFace:
    data = path.read_bytes()
    tables = _tables(data)
    names = _names(data, tables["name"])
    if 1 not in names:
        raise ValueError(f"{path.name}: no family name")
    os2 = tables.get("OS/2")
    weight, italic, height = _REGULAR, False, 0
    if os2 is not None:
        weight = struct.unpack_from(">H", data, os2 + 4)[0]
        italic = bool(struct.unpack_from(">H", data, os2 + 62)[0] & 1)
        win_ascent, win_descent = struct.unpack_from(">HH", data, os2 + 74)
        height = win_ascent + win_descent
    if height <= 0:  # libass then uses hhea's ascender - descender
        ascender, descender = struct.unpack_from(">hh", data, tables["hhea"] + 4)
        height = ascender - descender
    glyph_of = _cmap(data, tables["cmap"])
    widths = _advances(data, tables)
    advances = {cp: widths[min(g, len(widths) - 1)] for cp, g in glyph_of.items() if widths}
    return FontFace(
        path=path,
        ass_name=names[1],
        family=names.get(16, names[1]),
        names=frozenset(" ".join(v.split()).lower() for v in names.values()),
        weight=weight,
        italic=italic,
        height_units=height,
        advances=advances,
    )


def _tables(data: bytes) -> dict[str, int]:
    count = struct.unpack_from(">H", data, 4)[0]
    out = {}
    for i in range(count):
        tag, _, offset, _ = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        out[tag.decode("latin-1")] = offset
    return out


def _names(data: bytes, offset: int) -> dict[int, str]:
    """Windows-platform English names (IDs 1, 4, 6, 16), as libass reads them."""
    _, count, strings = struct.unpack_from(">HHH", data, offset)
    out: dict[int, str] = {}
    for i in range(count):
        pid, _, lang, nid, length, at = struct.unpack_from(">HHHHHH", data, offset + 6 + 12 * i)
        if pid == 3 and nid in (1, 4, 6, 16) and (lang == 0x409 or nid not in out):
            start = offset + strings + at
            out[nid] = data[start : start + length].decode("utf-16-be", errors="replace")
    return out


def _cmap(data: bytes, offset: int) -> dict[int, int]:
    """Code point -> glyph id from the best Unicode subtable (format 12, else format 4)."""
    count = struct.unpack_from(">H", data, offset + 2)[0]
    subtables = {}
    for i in range(count):
        pid, eid, at = struct.unpack_from(">HHI", data, offset + 4 + 8 * i)
        fmt = struct.unpack_from(">H", data, offset + at)[0]
        if (pid, eid) in ((3, 10), (0, 4), (0, 6)) and fmt == 12:
            subtables.setdefault(12, offset + at)
        elif (pid, eid) in ((3, 1), (0, 3), (0, 4)) and fmt == 4:
            subtables.setdefault(4, offset + at)
    if 12 in subtables:
        return _cmap12(data, subtables[12])
    if 4 in subtables:
        return _cmap4(data, subtables[4])
    raise ValueError("no Unicode cmap")


def _cmap12(data: bytes, at: int) -> dict[int, int]:
    groups = struct.unpack_from(">I", data, at + 12)[0]
    out = {}
    for i in range(groups):
        first, last, glyph = struct.unpack_from(">III", data, at + 16 + 12 * i)
        for cp in range(first, min(last, first + 0xFFFF) + 1):
            out[cp] = glyph + cp - first
    return out


def _cmap4(data: bytes, at: int) -> dict[int, int]:
    segs = struct.unpack_from(">H", data, at + 6)[0] // 2
    ends = struct.unpack_from(f">{segs}H", data, at + 14)
    starts = struct.unpack_from(f">{segs}H", data, at + 16 + 2 * segs)
    deltas = struct.unpack_from(f">{segs}h", data, at + 16 + 4 * segs)
    range_at = at + 16 + 6 * segs
    offsets = struct.unpack_from(f">{segs}H", data, range_at)
    out = {}
    for i in range(segs):
        for cp in range(starts[i], ends[i] + 1):
            if cp == 0xFFFF:
                continue
            if offsets[i] == 0:
                glyph = (cp + deltas[i]) & 0xFFFF
            else:
                where = range_at + 2 * i + offsets[i] + 2 * (cp - starts[i])
                glyph = struct.unpack_from(">H", data, where)[0]
                glyph = (glyph + deltas[i]) & 0xFFFF if glyph else 0
            if glyph:
                out[cp] = glyph
    return out


def _advances(data: bytes, tables: dict[str, int]) -> list[int]:
    metrics = struct.unpack_from(">H", data, tables["hhea"] + 34)[0]
    return list(struct.unpack_from(f">{2 * metrics}H", data, tables["hmtx"])[::2])
