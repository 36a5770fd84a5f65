"""The bundled DejaVu Sans fonts: registered with reportlab once, measured fast, wrapped greedily.

The TrueType files are in the ``fonts/`` folder beside this module (hence this module's name).
Registration is per process, since reportlab's font registry is global; `load_fonts` does it once
and returns the two weights with the `TextCleaner` for the code points both can draw.
"""

from __future__ import annotations

import functools
import os
import pickle
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import reportlab
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont, TTFontFace

from exportdsl.cache import cache_folder, private_file
from exportdsl.transcript.text import TextCleaner

__all__ = ["BOLD_FONT", "FONT_DIR", "REGULAR_FONT", "Font", "Fonts", "load_fonts"]

FONT_DIR = Path(__file__).parent / "fonts"
REGULAR_FONT = "ExportDsl-DejaVuSans"
BOLD_FONT = "ExportDsl-DejaVuSans-Bold"


class Font:
    """A registered TrueType font and cached advance widths (in 1/1000 em) of words."""

    def __init__(self, name: str, ttf: TTFont) -> None:
        self.name = name
        self.ttf = ttf
        self._char_units: dict[int, float] = dict(ttf.face.charWidths)
        self._word_units: dict[str, float] = {}
        self.space_units = self._char_units[32]

    def units(self, word: str) -> float:
        cached = self._word_units.get(word)
        if cached is None:
            cached = sum(map(self._char_units.__getitem__, map(ord, word)))
            if len(word) <= 32:  # long words are rarely repeated; do not let them fill the cache
                if len(self._word_units) > 50_000:
                    self._word_units.clear()
                self._word_units[word] = cached
        return cached

    def width(self, text: str, size: float) -> float:
        words = text.split(" ")
        return (sum(map(self.units, words)) + self.space_units * (len(words) - 1)) * size / 1000

    def wrap(self, line: str, size: float, max_width: float) -> list[str]:
        """Greedy wrapping at spaces; a word wider than the line is broken between characters."""
        limit = max_width * 1000 / size
        words = line.split(" ")
        cached, measure = self._word_units.get, self.units
        widths = [cached(word) or measure(word) for word in words]
        if sum(widths) + self.space_units * (len(words) - 1) <= limit:
            return [line]
        lines: list[str] = []
        current: list[str] = []
        used = 0.0
        for word, units in zip(words, widths, strict=True):
            needed = units if not current else used + self.space_units + units
            if needed <= limit:
                current.append(word)
                used = needed
                continue
            if current:
                lines.append(" ".join(current))
            if units <= limit:
                current, used = [word], units
            else:
                pieces = self._break_word(word, limit)
                lines.extend(pieces[:-1])
                current, used = [pieces[-1]], self.units(pieces[-1])
        lines.append(" ".join(current))
        return lines

    def _break_word(self, word: str, limit: float) -> list[str]:
        pieces, start, used = [], 0, 0.0
        char_units = self._char_units
        for index, char in enumerate(word):
            units = char_units[ord(char)]
            if used + units > limit and index > start:
                pieces.append(word[start:index])
                start, used = index, 0.0
            used += units
        pieces.append(word[start:])
        return pieces


@dataclass(frozen=True, slots=True)
class Fonts:
    """The two weights the transcript uses, and the cleaner for what both of them can draw."""

    regular: Font
    bold: Font
    cleaner: TextCleaner


@cache
def load_fonts() -> Fonts:
    """Register the bundled fonts once per process (reportlab's font registry is global)."""
    try:
        return _register(use_cache=True)
    except Exception:
        return _register(use_cache=False)


def _register(use_cache: bool) -> Fonts:
    folder = cache_folder()
    regular = _parsed_font(REGULAR_FONT, FONT_DIR / "DejaVuSans.ttf", folder, use_cache)
    bold = _parsed_font(BOLD_FONT, FONT_DIR / "DejaVuSans-Bold.ttf", folder, use_cache)
    pdfmetrics.registerFont(regular)
    pdfmetrics.registerFont(bold)
    for font in (regular, bold):
        _remember_subsets(font)
    drawable = set(regular.face.charToGlyph) & set(bold.face.charToGlyph)
    return Fonts(Font(REGULAR_FONT, regular), Font(BOLD_FONT, bold), TextCleaner(drawable))


def _parsed_font(name: str, path: Path, folder: Path | None, use_cache: bool) -> TTFont:
    """reportlab's TTFont for ``path``. Parsing a DejaVu weight takes ~13 ms, paid on every cold
    start of an export, so the parsed font is kept in the user's cache folder (keyed by the file,
    reportlab's version and this code's format) and restored from there: the same attributes, set
    as reportlab's own parse left them. A cache file only this user could have written is loaded
    (a pickle runs code); anything unexpected in it means parsing again."""
    stat = path.stat()
    key = f"{path.name}-{stat.st_size}-{stat.st_mtime_ns}-reportlab{reportlab.Version}"
    cached = folder / f"font-v{_CACHE_FORMAT}-{key}.pickle" if folder is not None else None
    if use_cache and cached is not None and private_file(cached):
        try:
            return _restore(name, pickle.loads(cached.read_bytes()))
        except Exception:
            pass
    font = TTFont(name, str(path))
    if cached is not None:
        _store(font, cached)
    return font


_CACHE_FORMAT = 1  # raise it when what is stored changes
# What a parsed TTFont holds that cannot be pickled, and is made anew on restoring.
_FONT_TRANSIENT, _FACE_TRANSIENT = ("state",), ("_pdfScale",)
# What the transcript and reportlab's PDF writer read of a face, with its type: a cached state
# without them is refused rather than failing halfway through a render.
_FACE_NEEDS = {
    "name": bytes,
    "charWidths": dict,
    "charToGlyph": dict,
    "glyphToChar": dict,
    "unitsPerEm": int,
    "_ttf_data": bytes,
    "hmetrics": list,
    "glyphPos": list,
    "defaultWidth": float,
}


def _store(font: TTFont, target: Path) -> None:
    font_state = {k: v for k, v in vars(font).items() if k not in _FONT_TRANSIENT}
    font_state.pop("face")
    face_state = {k: v for k, v in vars(font.face).items() if k not in _FACE_TRANSIENT}
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        partial.write_bytes(pickle.dumps((font_state, face_state), pickle.HIGHEST_PROTOCOL))
        partial.replace(target)  # whole or not at all, also with two processes at once
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        partial.unlink(missing_ok=True)


def _restore(name: str, states: tuple[dict[str, Any], dict[str, Any]]) -> TTFont:
    font_state, face_state = states
    if not isinstance(font_state, dict) or not isinstance(face_state, dict):
        raise ValueError("not a cached font")
    for attribute, kind in _FACE_NEEDS.items():
        if not isinstance(face_state.get(attribute), kind):
            raise ValueError(f"cached font without {attribute}")
    face = TTFontFace.__new__(TTFontFace)
    face.__dict__.update(face_state)
    per_em = face.unitsPerEm
    face._pdfScale = (lambda x: x) if per_em == 1000 else (lambda x: x * (1000 / per_em))
    font = TTFont.__new__(TTFont)
    font.__dict__.update(font_state, face=face, state=WeakKeyDictionary(), fontName=name)
    return font


def _remember_subsets(font: TTFont) -> None:
    """Embedding a font subset means rebuilding a TrueType file in Python (~0.6 ms a font, most of a
    short transcript's time). The same glyphs give the same bytes, so the last few are kept."""
    build = font.face.makeSubset
    remembered = functools.lru_cache(maxsize=32)(lambda glyphs: build(list(glyphs)))
    font.face.makeSubset = lambda subset: remembered(tuple(subset))
