"""The typed, immutable nodes a template parses into.

Every node carries its span in the template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exportdsl.source import Span

__all__ = [
    "Binary",
    "Branch",
    "Break",
    "Comment",
    "Expression",
    "Foreach",
    "If",
    "Interpolated",
    "Literal",
    "Node",
    "Not",
    "Reference",
    "Segment",
    "Set",
    "Text",
    "format_path",
    "read_by",
    "references_in",
    "walk",
]

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


@dataclass(frozen=True, slots=True)
class Literal:
    """``'text'`` (never interpolated), a number, ``true`` or ``false`` inside a directive."""

    value: str | int | float | bool
    span: Span


@dataclass(frozen=True, slots=True)
class Interpolated:
    """``"text $ref"`` inside a directive: its references are put in as text (Velocity 1.7)."""

    parts: tuple[Text | Reference, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Not:
    """``!x`` or ``not x``."""

    operand: Expression
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    """A comparison or ``&&``/``||``; ``operator`` is the symbol (``eq`` is read as ``==``)."""

    operator: str
    left: Expression
    right: Expression
    span: Span


Expression = Reference | Literal | Interpolated | Not | Binary


@dataclass(frozen=True, slots=True)
class Branch:
    """One arm of an `If`: ``#if(…)``, ``#elseif(…)`` or ``#else`` (``condition`` None)."""

    condition: Expression | None
    body: tuple[Node, ...]
    span: Span  # the arm's opener, ``#if(…)`` / ``#else``


@dataclass(frozen=True, slots=True)
class If:
    branches: tuple[Branch, ...]
    span: Span  # from ``#if`` to its ``#end``


@dataclass(frozen=True, slots=True)
class Foreach:
    """``#foreach($variable in source)…#end``."""

    variable: str
    variable_span: Span
    source: Expression
    body: tuple[Node, ...]
    span: Span  # from ``#foreach`` to its ``#end``
    opener: Span  # ``#foreach(…)``


@dataclass(frozen=True, slots=True)
class Set:
    """``#set($name = value)``: one scope per render, as in Velocity 1.7."""

    name: str
    name_span: Span
    value: Expression
    span: Span


@dataclass(frozen=True, slots=True)
class Break:
    """``#break``: leaves the innermost loop."""

    span: Span


Node = Text | Comment | Reference | If | Foreach | Set | Break


def walk(nodes: tuple[Node, ...]) -> list[Node]:
    """Every node, directives' bodies included, in source order."""
    found: list[Node] = []
    for node in nodes:
        found.append(node)
        if isinstance(node, If):
            for branch in node.branches:
                found.extend(walk(branch.body))
        elif isinstance(node, Foreach):
            found.extend(walk(node.body))
    return found


def references_in(expression: Expression) -> list[Reference]:
    """The references an expression reads, in source order."""
    if isinstance(expression, Reference):
        return [expression]
    if isinstance(expression, Interpolated):
        return [part for part in expression.parts if isinstance(part, Reference)]
    if isinstance(expression, Not):
        return references_in(expression.operand)
    if isinstance(expression, Binary):
        return references_in(expression.left) + references_in(expression.right)
    return []


def read_by(node: Node) -> list[Reference]:
    """What one node reads: a reference itself, a directive's condition, loop source or #set value
    (not what its body holds: `walk` gives those nodes)."""
    if isinstance(node, Reference):
        return [node]
    if isinstance(node, If):
        return [
            found
            for branch in node.branches
            if branch.condition is not None
            for found in references_in(branch.condition)
        ]
    if isinstance(node, Foreach):
        return references_in(node.source)
    if isinstance(node, Set):
        return references_in(node.value)
    return []


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
