"""Offsets in a text <-> the Language Server Protocol's positions.

exportdsl counts lines as YAML does (LF, CR LF, CR, NEL, LS, PS) and columns in characters; the
protocol counts lines at LF, CR LF and CR only, and columns in the negotiated unit (UTF-16 code
units unless the client offers UTF-8 or UTF-32). Offsets into the text are the common currency:
a `Location` becomes offsets through its `LineIndex`, and offsets become positions here.
"""

from __future__ import annotations

import bisect
import re

__all__ = ["Lines"]

_LSP_LINE_BREAK = re.compile("\r\n|\r|\n")


def _units(text: str, encoding: str) -> int:
    if encoding == "utf-32":
        return len(text)
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


class Lines:
    """One text's lines as the protocol counts them, in one position encoding."""

    def __init__(self, text: str, encoding: str = "utf-16") -> None:
        self.text = text
        self.encoding = encoding
        self.starts = [0, *(match.end() for match in _LSP_LINE_BREAK.finditer(text))]

    def position(self, offset: int) -> tuple[int, int]:
        """(line, character), both 0-based, of an offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        return line, _units(self.text[self.starts[line] : offset], self.encoding)

    def offset(self, line: int, character: int) -> int:
        """The offset of a (line, character); past a line's end is its end (as the protocol
        says), past the last line is the text's end."""
        if line >= len(self.starts):
            return len(self.text)
        start = self.starts[max(line, 0)]
        end = self.starts[line + 1] if line + 1 < len(self.starts) else len(self.text)
        content = self.text[start:end].rstrip("\r\n")
        if self.encoding == "utf-32" or content.isascii():
            return start + min(max(character, 0), len(content))
        counted = 0
        for index, char in enumerate(content):
            if counted >= character:
                return start + index
            counted += _units(char, self.encoding)
        return start + len(content)
