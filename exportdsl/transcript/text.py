"""Text made drawable: stand-ins for what no font has, control characters, line breaks.

Text goes through `TextCleaner` before it is measured or drawn: characters no font of the chain
has become visible, extractable stand-ins (``[U+1F600]``), control characters become stand-ins or
line breaks, and invisible format characters that steer nothing we do are dropped (the rules are in
docs/transcript.md). The joiners and the direction marks are kept: the shaper and the bidi
algorithm read them. The text is drawn as text, never parsed, so ``<b>`` and ``&amp;`` show as
typed. This module knows nothing of PDF or fonts: it is told what is drawable.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["FORMAT_KEPT", "INVISIBLE", "TAB", "TextCleaner", "stand_in"]

# UAX #14 mandatory breaks (BK, CR, LF, NL): each starts a new line in the transcript.
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x85\u2028\u2029]")
# Format characters the shaper and the bidi algorithm read: ZWNJ and ZWJ (joining), LRM, RLM and
# ALM (direction marks), the embeddings and overrides, the isolates. Kept, never drawn.
FORMAT_KEPT = frozenset("\u200c\u200d\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e") | frozenset(
    "\u2066\u2067\u2068\u2069"
)
# Invisible format characters that steer nothing we do: dropped (documented in docs/transcript.md).
INVISIBLE = (
    "\u00ad\u180e\u200b\u2060\u2061\u2062\u2063\u2064\ufeff"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
    + "".join(map(chr, range(0xE0020, 0xE0080)))  # the tags of emoji tag sequences (🏴 flags)
)
# as ranges: a class of the characters one by one is scanned literal by literal (70 us a line)
_INVISIBLE = re.compile(
    "[\u00ad\u180e\u200b\u2060-\u2064\ufeff\ufe00-\ufe0f\U000e0020-\U000e007f"
    "\U000e0100-\U000e01ef]+"
)
# Never drawn, whatever the fonts have: C0 and C1 controls, lone surrogates (JSON allows them) and
# the noncharacters (U+FDD0-U+FDEF and the last two code points of each plane)
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    + "".join(
        f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(1, 17)
    )
    + "]+"
)
TAB = "    "


def stand_in(chars: str) -> str:
    """The visible, extractable replacement for characters the fonts cannot show."""
    return "[" + " ".join(f"U+{ord(char):04X}" for char in chars) + "]"


class TextCleaner:
    """Makes any string safe to draw: every character left is one the fonts can show (or a kept
    format character)."""

    def __init__(self, plain: frozenset[str], drawable: Callable[[str], bool]) -> None:
        # The fast path: a line made only of these needs no change (a set test beats a regex scan).
        self._plain = plain - frozenset(INVISIBLE) - frozenset(map(chr, range(0x20)))
        self._drawable = drawable

    def line(self, text: str) -> str:
        """One line of text; a line break in it is a control character and becomes a stand-in."""
        if (text.isascii() and text.isprintable()) or self._plain.issuperset(text):
            return text
        if "\t" in text:
            text = text.replace("\t", TAB)
        if _INVISIBLE.search(text):
            text = _INVISIBLE.sub("", text)
        text = _CONTROL.sub(lambda match: stand_in(match.group()), text)
        if self._plain.issuperset(text):
            return text
        return self._replace_undrawable(text)

    def _replace_undrawable(self, text: str) -> str:
        out: list[str] = []
        missing: list[str] = []
        plain, drawable = self._plain, self._drawable
        for char in text:
            if char in plain or char in FORMAT_KEPT or drawable(char):
                if missing:
                    out.append(stand_in("".join(missing)))
                    missing.clear()
                out.append(char)
            else:
                missing.append(char)
        if missing:
            out.append(stand_in("".join(missing)))
        return "".join(out)

    def paragraphs(self, text: str) -> list[str]:
        """Text that may span lines: split at line breaks, each line cleaned."""
        if text.isprintable():  # no line break (they are all unprintable): most messages
            return [self.line(text)]
        return [self.line(part) for part in _LINE_BREAK.split(text)]
