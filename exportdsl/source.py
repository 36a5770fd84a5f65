"""Where things are: spans inside a template, locations inside a file, caret snippets.

A template field is parsed on its own text, so the parser only knows offsets inside that text.
A `SourceMap` turns those offsets into the connector file's own line and column, also when the
field came from a YAML block scalar or a quoted string with escapes.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "SNIPPET_WIDTH",
    "LineIndex",
    "Location",
    "SourceMap",
    "Span",
    "found_at",
    "shorten",
    "snippet",
]


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open range of offsets ``[start, end)`` inside one template's text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Location:
    """A range in a file; lines and columns are 1-based, ``end_column`` is inclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


# Line breaks as YAML counts them (so positions agree with the YAML parser's marks).
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


class LineIndex:
    """Offset <-> (line, column) for one text; columns count characters, 1-based; line breaks are
    YAML's (LF, CR LF, CR, NEL, LS, PS)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts = [0]
        self._starts.extend(match.end() for match in _LINE_BREAK.finditer(text))

    @property
    def lines(self) -> int:
        return len(self._starts)

    def position(self, offset: int) -> tuple[int, int]:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._starts, offset) - 1
        return line + 1, offset - self._starts[line] + 1

    def offset(self, line: int, column: int) -> int:
        """The offset of a 1-based (line, column), clamped to the text (the inverse of
        `position`)."""
        start = self._starts[max(0, min(line, len(self._starts)) - 1)]
        return max(0, min(start + column - 1, len(self.text)))

    def location(self, file: str, first: int, last: int) -> Location:
        """The range from offset ``first`` to offset ``last`` (inclusive) as a `Location`."""
        line, column = self.position(first)
        end_line, end_column = self.position(max(first, last))
        return Location(file, line, column, end_line, end_column)

    def line_text(self, line: int) -> str:
        if not 1 <= line <= len(self._starts):
            return ""  # parsers may report the position just past the last line
        start = self._starts[line - 1]
        end = self._starts[line] if line < len(self._starts) else len(self.text)
        return self.text[start:end].rstrip("\r\n\x85\u2028\u2029")


class SourceMap:
    """Maps offsets inside a field's value to offsets inside the file it came from.

    ``anchors()`` gives, for each value offset, the file offset of the character it came from
    (one extra entry for the end of the value). It runs on the first question only: a field
    that never has a diagnostic never pays for its map.
    """

    def __init__(self, file: str, index: LineIndex, anchors: Callable[[], list[int]]) -> None:
        self.file = file
        self.index = index
        self._build = anchors

    @functools.cached_property
    def anchors(self) -> list[int]:
        return self._build()

    def file_offset(self, offset: int) -> int:
        if not self.anchors:
            return 0
        return self.anchors[max(0, min(offset, len(self.anchors) - 1))]

    def location(self, span: Span) -> Location:
        last = max(span.start, span.end - 1)
        return self.index.location(self.file, self.file_offset(span.start), self.file_offset(last))


SNIPPET_WIDTH = 100


def snippet(index: LineIndex, location: Location) -> str:
    """The located line with a caret line under the range (actionlint style); a long line is shown
    as a window around the column."""
    text = index.line_text(location.line).expandtabs(1)
    column = location.column
    end = location.end_column if location.end_line == location.line else len(text)
    if len(text) > SNIPPET_WIDTH:
        first = max(0, column - 1 - SNIPPET_WIDTH // 2)
        prefix = "…" if first else ""
        text = (
            prefix
            + text[first : first + SNIPPET_WIDTH]
            + ("…" if first + SNIPPET_WIDTH < len(text) else "")
        )
        column, end = column - first + len(prefix), min(end - first + len(prefix), len(text))
    width = max(1, end - column + 1)
    gutter = f"{location.line} | "
    pad = " " * (len(gutter) - 2) + "| "
    return f"{gutter}{text}\n{pad}{' ' * (column - 1)}{'^' * width}"


def shorten(text: str, limit: int = 80) -> str:
    """At most ``limit`` characters, with an ellipsis when cut (for messages)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def found_at(text: str, offset: int) -> str:
    """What a parser found at ``offset``, for "expected …, found …" messages."""
    return "the end of the text" if offset >= len(text) else repr(text[offset])
