"""Text made drawable: stand-ins for what the fonts lack, control characters, line breaks.

Text goes through `TextCleaner` before it is measured or drawn: characters the bundled DejaVu Sans
lacks become visible, extractable stand-ins (``[U+1F600]``), control characters become stand-ins
or line breaks, and a few invisible format characters are dropped (the rules are in
docs/transcript.md). The text is drawn as text, never parsed, so ``<b>`` and ``&amp;`` show as
typed. This module knows nothing of PDF or fonts: it is given the set of drawable code points.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

__all__ = ["INVISIBLE", "TAB", "TextCleaner", "stand_in"]

# UAX #14 mandatory breaks (BK, CR, LF, NL): each starts a new line in the transcript.
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x85\u2028\u2029]")
# Invisible format characters that only steer shaping, joining or direction. We neither shape
# nor reorder, so they have nothing to show; they are dropped (documented in docs/transcript.md).
INVISIBLE = (
    "\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)
_INVISIBLE = re.compile("[" + re.escape(INVISIBLE) + "]+")
TAB = "    "


def stand_in(chars: str) -> str:
    """The visible, extractable replacement for characters the font cannot show."""
    return "[" + " ".join(f"U+{ord(char):04X}" for char in chars) + "]"


def _char_class(codepoints: Iterable[int]) -> str:
    """A regex character class body for a set of code points, as ranges."""
    parts = []
    for _, group in itertools.groupby(
        enumerate(sorted(codepoints)), lambda pair: pair[1] - pair[0]
    ):
        run = [codepoint for _, codepoint in group]
        first, last = re.escape(chr(run[0])), re.escape(chr(run[-1]))
        parts.append(first if run[0] == run[-1] else f"{first}-{last}")
    return "".join(parts)


class TextCleaner:
    """Makes any string safe to draw: every character left is one both fonts can show."""

    def __init__(self, drawable: set[int]) -> None:
        # No C0/C1 controls; nothing beyond the BMP either: reportlab writes such code points into
        # the ToUnicode map as bare hex (<1F600>) instead of UTF-16 surrogates, so text extraction
        # would lose them. They get stand-ins like any character the font lacks.
        printable = {cp for cp in drawable if cp <= 0xFFFF and not (cp < 0x20 or 0x7F <= cp < 0xA0)}
        self._unsupported = re.compile(f"[^{_char_class(printable)}]+")
        # The fast path: a line made only of these needs no change (a set test beats a regex scan).
        self._plain = frozenset(map(chr, printable)) - frozenset(INVISIBLE)

    def line(self, text: str) -> str:
        """One line of text; a line break in it is a control character and becomes a stand-in."""
        if (text.isascii() and text.isprintable()) or self._plain.issuperset(text):
            return text
        if "\t" in text:
            text = text.replace("\t", TAB)
        if _INVISIBLE.search(text):
            text = _INVISIBLE.sub("", text)
        return self._unsupported.sub(lambda match: stand_in(match.group()), text)

    def paragraphs(self, text: str) -> list[str]:
        """Text that may span lines: split at line breaks, each line cleaned."""
        return [self.line(part) for part in _LINE_BREAK.split(text)]
