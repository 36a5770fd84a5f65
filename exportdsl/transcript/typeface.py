"""The transcript's fonts: chains of TrueType faces registered with reportlab, measured fast.

A weight (`Font`) is a chain of faces (`fonts.chain` says which files, in which order); each
character is drawn with the first face that has it. The first face that serves every script is the
*primary* one: a line made only of characters it draws without shaping (Latin, Greek, Cyrillic and
most symbols) takes the fast path, one string in one font, as before fonts were chained. Anything
else (right-to-left text, scripts that need shaping, characters of a fallback face) is laid out
by `shaping` into runs of glyphs, each run in one face.

Registration is per process, since reportlab's font registry is global; faces after the primary
one are parsed only when a character first needs them. `load_fonts` does it once per fonts folder
and returns the two weights with the `TextCleaner` for what the chain can draw.

Shaped glyphs that are not a character's own (Arabic joining forms, ligatures, Indic conjuncts) are
drawn through *private keys*: code points of the supplementary private use planes that reportlab's
subsetting maps to the glyph, each with the text it stands for, which the PDF's ToUnicode map gets
instead of the key (`PRIVATE_TEXT`), so text extraction reads the characters, not the glyphs.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import operator
import os
import pickle
import threading
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast
from weakref import WeakKeyDictionary

import reportlab
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont, TTFontFace

from exportdsl.cache import cache_folder, private_file
from exportdsl.errors import ConfigError
from exportdsl.transcript.fonts import BEYOND_LATIN, FontFile, chain, system_fonts
from exportdsl.transcript.text import FORMAT_KEPT, TextCleaner

__all__ = [
    "BOLD_FONT",
    "PRIVATE_TEXT",
    "REGULAR_FONT",
    "Face",
    "Font",
    "Fonts",
    "Glyphs",
    "load_fonts",
    "needs_shaping",
    "right_to_left",
]

REGULAR_FONT = "ExportDsl-DejaVuSans"
BOLD_FONT = "ExportDsl-DejaVuSans-Bold"

# Private key -> the text its glyph stands for (see the module docstring). Keys are unique in the
# process, whatever the face, so the ToUnicode map needs nothing but the key.
PRIVATE_TEXT: dict[int, str] = {}
_PRIVATE_PLANES = (range(0xF0000, 0xFFFFE), range(0x100000, 0x10FFFE))
_private_codes = iter([code for plane in _PRIVATE_PLANES for code in plane])
_private_lock = threading.Lock()

# Scripts drawn through HarfBuzz even left to right: their glyphs are reordered, joined or stacked.
_SHAPED_RANGES = (
    (0x0590, 0x08FF),  # Hebrew, Arabic, Syriac, Thaana, NKo ... (also right to left)
    (0x0900, 0x0DFF),  # Devanagari, Bengali, Gurmukhi, Gujarati, Oriya, Tamil, Telugu ...
    (0x0E00, 0x0FFF),  # Thai, Lao, Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0xA8E0, 0xA8FF),  # Devanagari Extended
    (0xFB1D, 0xFDFF),  # Hebrew and Arabic presentation forms
    (0xFE70, 0xFEFF),
)


@functools.cache
def needs_shaping(char: str) -> bool:
    """Whether a character is drawn through the shaper (a complex script, a combining mark, a
    joiner or a direction mark), not as its own glyph."""
    code = ord(char)
    return (
        any(first <= code <= last for first, last in _SHAPED_RANGES)
        or unicodedata.combining(char) != 0
        or char in FORMAT_KEPT
    )


@functools.cache
def right_to_left(char: str) -> bool:
    return unicodedata.bidirectional(char) in ("R", "AL")


@dataclass(frozen=True, slots=True)
class Glyphs:
    """A piece of text shaped in one face: the keys to encode, in visual order, and where the
    shaper's positions differ from the font's advance widths: per key (advance difference, x
    offset, y offset) in 1/1000 em, or None when they do not."""

    keys: str
    adjust: tuple[tuple[float, float, float], ...] | None
    units: float  # the advance of the whole piece, in 1/1000 em


class Face:
    """One registered TrueType face of a chain."""

    def __init__(self, file: FontFile, ttf: TTFont) -> None:
        self.file = file
        self.ttf = ttf
        self.name: str = ttf.fontName
        face = ttf.face
        self._cmap: dict[int, int] = face.charToGlyph
        self.char_units: dict[int, float] = face.charWidths  # 1/1000 em; reportlab's own
        self._scale = 1000 / face.unitsPerEm
        self._hb_font: Any = None
        self._shaped: dict[tuple[str, bool], Glyphs] = {}
        self._keys: dict[tuple[int, str], str] = {}

    def covers(self, code: int) -> bool:
        """Whether this face is asked for a character: one it has (a private key is not a
        character), of its script for a script face."""
        script = self.file.script
        return (
            code in self._cmap and code not in PRIVATE_TEXT and (script is None or code in script)
        )

    def shape(self, text: str, rtl: bool) -> Glyphs:
        """`text` (in logical order) shaped by HarfBuzz with this face's OpenType tables."""
        cached = self._shaped.get((text, rtl))
        if cached is None:
            cached = self._shape(text, rtl)
            if len(self._shaped) > 20_000:  # bounded; most chat words repeat
                self._shaped.clear()
            self._shaped[text, rtl] = cached
        return cached

    def _shape(self, text: str, rtl: bool) -> Glyphs:
        import uharfbuzz  # 27 ms to import: only when a line first needs shaping

        if self._hb_font is None:
            self._hb_font = uharfbuzz.Font(uharfbuzz.Face(uharfbuzz.Blob(self.ttf.face._ttf_data)))
        buffer = uharfbuzz.Buffer()
        buffer.add_str(text)
        buffer.guess_segment_properties()
        buffer.direction = "rtl" if rtl else "ltr"
        buffer.cluster_level = uharfbuzz.BufferClusterLevel.MONOTONE_CHARACTERS
        uharfbuzz.shape(self._hb_font, buffer, {})
        infos, positions = buffer.glyph_infos, buffer.glyph_positions
        ends = dict(itertools.pairwise([*sorted({info.cluster for info in infos}), len(text)]))
        read = {cluster: 0 for cluster in ends}  # how much of each cluster's text is given out
        keys, adjust, units = [], [], 0.0
        for index, (info, position) in enumerate(zip(infos, positions, strict=True)):
            cluster = info.cluster
            last = index + 1 == len(infos) or infos[index + 1].cluster != cluster
            # a cluster's text is shared out over its glyphs in drawing order, one character a
            # glyph and the rest to its last glyph, so that reading the glyphs left to right gives
            # the text. Right to left, readers of PDF text turn each run around character by
            # character: the piece is given reversed
            begin = cluster + read[cluster]
            end = ends[cluster] if last else min(begin + 1, ends[cluster])
            piece = text[begin:end]
            read[cluster] += len(piece)
            key = self.key(info.codepoint, piece[::-1] if rtl else piece)
            advance = position.x_advance * self._scale
            keys.append(key)
            adjust.append(
                (
                    advance - self.char_units[ord(key)],
                    position.x_offset * self._scale,
                    position.y_offset * self._scale,
                )
            )
            units += advance
        exact = all(entry == (0.0, 0.0, 0.0) for entry in adjust)
        return Glyphs("".join(keys), None if exact else tuple(adjust), units)

    def key(self, glyph: int, text: str) -> str:
        """The character that draws `glyph` and reads as `text`: the character itself when the
        font maps it to this glyph, else a private key."""
        face = self.ttf.face
        if len(text) == 1 and face.charToGlyph.get(ord(text)) == glyph:
            return text
        found = self._keys.get((glyph, text))
        if found is not None:
            return found
        with _private_lock:
            code = next(_private_codes, None)
            if code is None:  # all 131,068 keys taken: draw the text's own glyph, unshaped
                return text[:1] or " "
            face.charToGlyph[code] = glyph
            width = face.hmetrics[glyph][0] if glyph < len(face.hmetrics) else 0
            self.char_units[code] = width * self._scale
            PRIVATE_TEXT[code] = text
            key = self._keys[glyph, text] = chr(code)
        return key


class Font:
    """One weight: a chain of faces, word widths (in 1/1000 em) and greedy wrapping."""

    def __init__(self, files: list[FontFile], folder: Path | None) -> None:
        self._files = list(files)
        self._folder = folder
        self._system_added = False
        self._system_start = len(self._files)
        self.faces: list[Face | None] = [None] * len(files)
        self._face_of: dict[str, int] = {}
        self._unusable: set[int] = set()  # system fonts that could not be read: skipped
        self.primary_index = next(i for i, file in enumerate(files) if file.script is None)
        self.primary = self.face(self.primary_index)
        self.name = self.primary.name
        # what the fast path draws: the primary face's characters that need no shaping and that
        # no face before it claims
        self.simple = frozenset(
            chr(code)
            for code in list(self.primary.ttf.face.charToGlyph)
            if self.primary.covers(code)
            and not needs_shaping(chr(code))
            and not right_to_left(chr(code))
            and not self._claimed_before_primary(code)
        )
        self.draws_ascii = self.simple.issuperset(map(chr, range(32, 127)))
        # the widest printable ASCII character (an upper bound for a quick "it fits")
        self._widest_ascii = max(self.primary.char_units.get(code, 0.0) for code in range(32, 127))
        self._narrow = frozenset(  # the characters no wider than that (most of every alphabet)
            char for char in self.simple if self.primary.char_units[ord(char)] <= self._widest_ascii
        )
        self._char_units = self.primary.char_units
        self._word_units: dict[str, float] = {}
        self.space_units = self.char_units(" ")  # a folder font may lack a space

    def _claimed_before_primary(self, code: int) -> bool:
        """Whether a face before the primary one draws `code`: a bundled script font by its
        script's range (those are right to left anyway), a folder's by what it has."""
        return any(
            file.script is not None
            and code in file.script
            and (file.source != "folder" or self.face(at).covers(code))
            for at, file in enumerate(self._files[: self.primary_index])
        )

    def face(self, index: int) -> Face:
        face = self.faces[index]
        if face is None:
            face = self.faces[index] = _register(self._files[index], self._folder)
        return face

    def face_index(self, char: str) -> int:
        """The first face of the chain that has `char`; -1 when none has. The system fonts join
        the chain when a character is first looked up past its end (the folders are walked then,
        not on every start)."""
        index = self._face_of.get(char)
        if index is None:
            index = self._lookup(ord(char), 0)
            if index < 0:
                with _SYSTEM_LOCK:
                    start = self._add_system_fonts()
                index = self._lookup(ord(char), start)
            self._face_of[char] = index
        return index

    def listing(self) -> list[tuple[FontFile, bool]]:
        """Every font of the chain, system fonts included, in lookup order, and whether it can be
        used (each one read): what ``exportdsl fonts`` shows."""
        with _SYSTEM_LOCK:
            self._add_system_fonts()
        return [(file, self._usable(at) is not None) for at, file in enumerate(self._files)]

    def _add_system_fonts(self) -> int:
        """Once: the system fonts join the chain; returns where they start in it."""
        if not self._system_added:
            self._system_added = True
            start = len(self._files)
            added = [file for file in system_fonts() if file not in self._files]
            self.faces += [None] * len(added)
            self._files += added
            return start
        return self._system_start

    def _lookup(self, code: int, start: int) -> int:
        for at in range(start, len(self._files)):
            script = self._files[at].script
            if at in self._unusable or (script is not None and code not in script):
                continue
            face = self._usable(at)
            if face is not None and face.covers(code):
                return at
        return -1

    def _usable(self, index: int) -> Face | None:
        """The face, or None for a system font that cannot be read (skipped, as documented); a
        fonts folder's or a bundled font that cannot be read is an error naming it."""
        try:
            return self.face(index)
        except ConfigError:
            if self._files[index].source != "system":
                raise
            self._unusable.add(index)
            return None

    def units(self, word: str) -> float:
        cached = self._word_units.get(word)
        if cached is None:
            if self.simple.issuperset(word):
                cached = sum(map(self._char_units.__getitem__, map(ord, word)))
            else:
                from exportdsl.transcript.shaping import measure

                cached = measure(self, word)
            if len(word) <= 32:  # long words are rarely repeated; do not let them fill the cache
                if len(self._word_units) > 50_000:
                    self._word_units.clear()
                self._word_units[word] = cached
        return cached

    def char_units(self, char: str) -> float:
        """A character's own advance in the face that draws it (0 for one none draws)."""
        index = self.face_index(char)
        return 0.0 if index < 0 else self.face(index).char_units.get(ord(char), 0.0)

    def width(self, text: str, size: float) -> float:
        words = text.split(" ")
        return (sum(map(self.units, words)) + self.space_units * (len(words) - 1)) * size / 1000

    def wrap(self, line: str, size: float, max_width: float) -> list[str]:
        """Greedy wrapping at spaces; a word wider than the line is broken between characters."""
        limit = max_width * 1000 / size
        if len(line) * self._widest_ascii <= limit and (
            line.isascii() or self._narrow.issuperset(line)
        ):
            return [line]  # fits even if every character were the widest: most chat lines
        words = line.split(" ")
        cached = list(map(self._word_units.get, words))
        widths: list[float] = (
            [
                self.units(word) if units is None else units
                for word, units in zip(words, cached, strict=True)
            ]
            if None in cached
            else cast(list[float], cached)
        )
        space = self.space_units
        if sum(widths) + space * (len(words) - 1) <= limit:
            return [line]
        if max(widths) > limit:
            return self._wrap_breaking(words, widths, limit)
        # ends[i]: the advance of words[:i + 1], each followed by a space; a line of words[s:e]
        # fits when ends[e - 1] - ends[s - 1] - space <= limit: found by bisection, not word by word
        ends = list(itertools.accumulate(map(operator.add, widths, itertools.repeat(space))))
        lines, start, before = [], 0, 0.0
        while start < len(words):
            end = bisect.bisect_right(ends, limit + before + space, lo=start + 1)
            lines.append(" ".join(words[start:end]))
            start, before = end, ends[end - 1]
        return lines

    def _wrap_breaking(self, words: list[str], widths: list[float], limit: float) -> list[str]:
        """`wrap` when a word is wider than the line: word by word, breaking that word."""
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
        """Between user-perceived characters (UAX #29's extended grapheme clusters), never inside
        one: a base keeps its marks, an Indic conjunct its parts, an emoji sequence or a flag
        stays whole. Thai and other scripts written without spaces break here too, between
        clusters rather than at word boundaries (a dictionary's work, not done)."""
        import regex  # only for a word wider than a line: rare, and the module costs ~10 ms

        pieces: list[str] = []
        current: list[str] = []
        used = 0.0
        for cluster in regex.findall(r"\X", word):
            units = sum(map(self.char_units, cluster))
            if current and used + units > limit:
                pieces.append("".join(current))
                current, used = [], 0.0
            current.append(cluster)
            used += units
        pieces.append("".join(current))
        return pieces


@dataclass(frozen=True, slots=True)
class Fonts:
    """The two weights the transcript uses, and the cleaner for what their chains can draw."""

    regular: Font
    bold: Font
    cleaner: TextCleaner


@functools.cache
def load_fonts(folder: Path | None = None) -> Fonts:
    """The chains for a fonts folder (None: the bundled and system fonts only), once per process:
    reportlab's font registry is global."""
    regular_files = _house_first(chain(False, folder, system=False))
    bold_files = _house_first(chain(True, folder, system=False))
    # the regular fonts as the bold chain's last resort
    bold_files += [file for file in regular_files if file not in bold_files]
    regular = Font(regular_files, folder)
    bold = Font(bold_files, folder)
    drawable = functools.cache(lambda char: regular.face_index(char) >= 0)
    return Fonts(regular, bold, TextCleaner(regular.simple & bold.simple, drawable))


def _house_first(files: list[FontFile]) -> list[FontFile]:
    """A fonts folder's fonts come first. One that has the Latin alphabet is a house font, asked
    for everything; one that has not (a font for one script, say Bengali) is asked only beyond
    Latin and the general punctuation, so that it adds its script without taking the digits, the
    punctuation and the space from the body font."""
    folder = [file for file in files if file.source == "folder"]
    house = [file for file in folder if _LATIN.issubset(_register(file, None).ttf.face.charToGlyph)]
    scripts = [replace(file, script=BEYOND_LATIN) for file in folder if file not in house]
    return house + scripts + [file for file in files if file.source != "folder"]


_LATIN = frozenset(range(ord("A"), ord("Z") + 1)) | frozenset(range(ord("a"), ord("z") + 1))
_LOAD_LOCK = threading.Lock()
_SYSTEM_LOCK = threading.Lock()
_FACES: dict[FontFile, Face] = {}  # one for each file, whichever weights' chains it is in


def _register(file: FontFile, folder: Path | None) -> Face:
    with _LOAD_LOCK:
        registered = _FACES.get(file)
        if registered is not None:
            return registered
        name = _face_name(file)
        try:
            ttf = _load(name, file)
        except (TTFError, OSError, ValueError, KeyError, IndexError, AssertionError) as error:
            postscript = "postscript outlines" in str(error).lower()
            raise ConfigError(
                f"cannot use the font {file.path}: {error}",
                hint=(
                    "the transcript embeds TrueType (glyf) outlines only; this font has "
                    "PostScript (CFF) outlines, as Noto Sans CJK's .otf files do: use a TrueType "
                    "build of it, or another font"
                    if postscript
                    else "expected a TrueType font (.ttf, .ttc, or .otf with TrueType outlines); "
                    "remove the file from the fonts folder"
                ),
            ) from None
        pdfmetrics.registerFont(ttf)
        _remember_subsets(ttf)
        face = _FACES[file] = Face(file, ttf)
        return face


def _face_name(file: FontFile) -> str:
    if file.source == "bundled":
        stem = file.path.stem
        return {"DejaVuSans": REGULAR_FONT, "DejaVuSans-Bold": BOLD_FONT}.get(
            stem, f"ExportDsl-{stem}"
        )
    digest = hashlib.sha256(f"{file.path}:{file.index}".encode()).hexdigest()[:10]
    return f"ExportDsl-{file.path.stem}-{digest}"


def _load(name: str, file: FontFile) -> TTFont:
    try:
        return _parsed_font(name, file, cache_folder(), use_cache=True)
    except (TTFError, OSError):
        raise
    except Exception:
        return _parsed_font(name, file, cache_folder(), use_cache=False)


def _parsed_font(name: str, file: FontFile, folder: Path | None, use_cache: bool) -> TTFont:
    """reportlab's TTFont for ``path``. Parsing a DejaVu weight takes ~13 ms, paid on every cold
    start of an export, so the parsed font is kept in the user's cache folder (keyed by the file,
    reportlab's version and this code's format) and restored from there: the same attributes, set
    as reportlab's own parse left them. A cache file only this user could have written is loaded
    (a pickle runs code); anything unexpected in it means parsing again."""
    path = file.path
    stat = path.stat()
    where = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    key = f"{path.name}-{where}-{file.index}-{stat.st_size}-{stat.st_mtime_ns}"
    key += f"-reportlab{reportlab.Version}"
    cached = folder / f"font-v{_CACHE_FORMAT}-{key}.pickle" if folder is not None else None
    if use_cache and cached is not None and private_file(cached):
        try:
            with cached.open("rb") as stream:  # not read whole first: a CJK face is 7 MB
                return _restore(name, pickle.load(stream))
        except Exception:
            pass
    font = TTFont(name, str(path), subfontIndex=file.index)
    del font.face.glyphToChar
    if cached is not None:
        _store(font, cached)
    return font


_CACHE_FORMAT = 2  # raise it when what is stored changes
# What a parsed TTFont holds that cannot be pickled, and is made anew on restoring; and what is
# never kept: the glyph -> characters map is read only by reportlab's own shaping (not used), and
# is the largest part of a CJK face (5 MiB of 21 for WenQuanYi Micro Hei).
_FONT_TRANSIENT, _FACE_TRANSIENT = ("state",), ("_pdfScale", "glyphToChar")
# What the transcript and reportlab's PDF writer read of a face, with its type: a cached state
# without them is refused rather than failing halfway through a render.
_FACE_NEEDS = {
    "name": bytes,
    "charWidths": dict,
    "charToGlyph": dict,
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
