"""A line of any script as runs of glyphs in visual order: bidi order, font fallback, shaping.

For a line that the primary face cannot draw on its own (`typeface.Font.simple`), in three steps:

1. **Direction**: the Unicode bidi algorithm (UAX #9) gives each character its embedding level;
   the line is cut into *pieces* of one direction, in the order they are seen from left to right
   (fpdf2's implementation of the algorithm, the one well-kept Python implementation that tells
   the levels; it is imported when a line first needs it). Direction marks and embeddings have
   done their work then and are dropped.
2. **Fallback**: each piece is cut where the face that draws its characters changes (the first
   face of the chain that has a character; a combining mark or a joiner stays with its base).
3. **Shaping**: a piece of a right-to-left level, or of a script whose glyphs join, reorder or
   stack, is shaped by HarfBuzz (uharfbuzz) in its face: joining forms, ligatures, conjuncts, mark
   positions and, right to left, mirrored brackets. Other text is drawn character by character.

The same cuts measure a word for wrapping (`measure`), so a line's width is the sum of its runs'.
"""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass

from exportdsl.transcript.text import FORMAT_KEPT
from exportdsl.transcript.typeface import Face, Font, needs_shaping, right_to_left

__all__ = ["Run", "base_right_to_left", "measure", "runs"]

# Read by the bidi algorithm, then dropped: they have no glyph. The joiners stay, for the shaper.
_BIDI_CONTROLS = FORMAT_KEPT - frozenset("\u200c\u200d")
# Those that can turn text of a left-to-right line around: RLM, ALM, RLE, RLO, RLI, FSI.
_TURNING = frozenset("\u200f\u061c\u202b\u202e\u2067\u2068")


@dataclass(frozen=True, slots=True)
class Run:
    """Part of a line drawn in one face, left to right: the characters (or private keys) to encode,
    the shaper's position corrections (`typeface.Glyphs.adjust`), and its advance in 1/1000 em."""

    face: Face
    keys: str
    adjust: tuple[tuple[float, float, float], ...] | None
    units: float


def base_right_to_left(text: str) -> bool:
    """A paragraph's direction (UAX #9 rules P2 and P3): that of its first strong character,
    isolates skipped; left to right when it has none."""
    isolates = 0
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("LRI", "RLI", "FSI"):
            isolates += 1
        elif kind == "PDI":
            isolates = max(0, isolates - 1)
        elif isolates == 0 and kind in ("L", "R", "AL"):
            return kind != "L"
    return False


def runs(font: Font, line: str, rtl: bool) -> list[Run]:
    """The runs of one line, left to right; `rtl` is the direction of its paragraph."""
    out: list[Run] = []
    for piece, piece_rtl in _pieces(line, rtl):
        segments = _by_face(font, piece)
        if piece_rtl:
            segments.reverse()  # cut in logical order; drawn right to left
        for face, text in segments:
            out.append(_run(face, text, piece_rtl))
    return out


def measure(font: Font, word: str) -> float:
    """A word's advance in 1/1000 em, cut and shaped as `runs` draws it."""
    text = "".join(char for char in word if char not in _BIDI_CONTROLS)
    return sum(
        _run(face, segment, any(map(right_to_left, segment))).units
        for face, segment in _by_face(font, text)
    )


def _run(face: Face, text: str, rtl: bool) -> Run:
    if rtl or any(map(needs_shaping, text)):
        glyphs = face.shape(text, rtl)
        return Run(face, glyphs.keys, glyphs.adjust, glyphs.units)
    units = face.char_units
    return Run(face, text, None, sum(units.get(ord(char), 0.0) for char in text))


def _pieces(line: str, rtl: bool) -> list[tuple[str, bool]]:
    """(text in logical order, right to left) pieces of one direction, left to right."""
    if not rtl and not any(map(right_to_left, line)) and _TURNING.isdisjoint(line):
        return [("".join(char for char in line if char not in _BIDI_CONTROLS), False)]
    from fpdf.bidi import BidiParagraph  # a few ms to import; only for right-to-left text
    from fpdf.enums import TextDirection

    direction = TextDirection.RTL if rtl else TextDirection.LTR
    paragraph = BidiParagraph(line, base_direction=direction, preserve_bn_chars=True)
    visual = paragraph.get_reordered_characters()
    pieces = []
    for odd, group in itertools.groupby(visual, lambda char: char.embedding_level % 2 == 1):
        text = "".join(char.character for char in group if char.character not in _BIDI_CONTROLS)
        if text:
            pieces.append((text[::-1] if odd else text, odd))
    return pieces


def _by_face(font: Font, text: str) -> list[tuple[Face, str]]:
    """`text` cut where the face that draws it changes; a mark or a joiner keeps its base's face."""
    segments: list[tuple[Face, str]] = []
    current, start = -1, 0
    for index, char in enumerate(text):
        at = font.face_index(char)
        if at < 0 or (current >= 0 and _joins(font, current, char)):
            continue  # stays with the base before it (a kept format character has no face)
        if current < 0:
            current = at  # what came before (faceless) goes with the first face
        elif at != current:
            segments.append((font.face(current), text[start:index]))
            current, start = at, index
    if current >= 0:
        segments.append((font.face(current), text[start:]))
    elif text:
        segments.append((font.primary, text))
    return segments


def _joins(font: Font, base: int, char: str) -> bool:
    """Whether `char` is drawn with the face of the character before it: a joiner, and a
    combining mark that face has (one it lacks is drawn by the face that has it)."""
    if char in FORMAT_KEPT:
        return True
    return unicodedata.combining(char) != 0 and font.face(base).covers(ord(char))
