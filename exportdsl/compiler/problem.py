"""A compile error found in one field, before it is located in the file."""

from __future__ import annotations

from dataclasses import dataclass

from exportdsl.source import Span

__all__ = ["Problem"]


@dataclass(frozen=True, slots=True)
class Problem:
    """A compile error found in a field's template; ``code`` is a diagnostic code, ``span`` is in
    the template's own text (the connector's source map turns it into a file position)."""

    code: str
    message: str
    span: Span
    hint: str | None = None
