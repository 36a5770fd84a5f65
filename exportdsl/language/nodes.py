"""The typed, immutable nodes a template parses into.

Every node carries its span in the template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exportdsl.source import Span

__all__ = ["Comment", "Node", "Reference", "Segment", "Text", "format_path"]

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class Text:
    """Literal output. ``value_start`` is where ``value`` begins in the source: it differs from
    ``span.start`` for ``\\$`` (one character later) and ``#[[ ]]#`` (three characters later)."""

    value: str
    span: Span
    value_start: int


@dataclass(frozen=True, slots=True)
class Comment:
    """``## ...`` or ``#* ... *#``: removed from the output, kept for the linter."""

    body: str
    span: Span


@dataclass(frozen=True, slots=True)
class Segment:
    """One step of a reference path: ``.name``, ``[0]`` or ``['key']``."""

    key: str | int
    span: Span

    def __str__(self) -> str:
        return _step_text(self.key)


@dataclass(frozen=True, slots=True)
class Reference:
    """``$name.path``, ``${name.path}``, quiet forms ``$!…``; ``segments`` excludes the head."""

    name: str
    segments: tuple[Segment, ...]
    quiet: bool
    formal: bool
    span: Span
    name_span: Span

    @property
    def path(self) -> tuple[str | int, ...]:
        return (self.name, *(segment.key for segment in self.segments))

    @property
    def dotted(self) -> str:
        """The path as a user writes it, without ``$``.

        ``pdata['x-api.key']``, ``chat.messages[0]``.
        """
        return format_path(self.path)

    def __str__(self) -> str:
        return (
            f"${'!' if self.quiet else ''}{{{self.dotted}}}"
            if self.formal
            else f"${'!' if self.quiet else ''}{self.dotted}"
        )


Node = Text | Comment | Reference


def format_path(path: tuple[str | int, ...]) -> str:
    """``("pdata", "x-api.key")`` -> ``pdata['x-api.key']``.

    ``("chat", "paths", 0)`` -> ``chat.paths[0]``.
    """
    if not path:
        return ""
    return str(path[0]) + "".join(_step_text(key) for key in path[1:])


def _step_text(key: str | int) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    return f".{key}" if _IDENTIFIER.match(key) else f"[{key!r}]"
