"""A stand-alone template: the language and its escaping without a connector or a catalogue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exportdsl.compiler.placement import FIELD_KINDS, place
from exportdsl.compiler.plan import FieldPlan, Hole, compile_blocks, parts
from exportdsl.errors import CompileError, ExportDslError, RenderError
from exportdsl.language.nodes import Reference
from exportdsl.language.parser import parse
from exportdsl.source import LineIndex, Location, Span

_FILE = "<template>"


class Template:
    """``Template("Hello $pdata.name", context="text").render({"pdata": {"name": "Ann"}})``.

    ``context`` is where the output lands (text, url, header, json, xml or form) and decides the
    escaping of every hole. With no catalogue, a reference missing from the mapping is a render
    error naming the path and its first missing segment, unless it is quiet (``$!name``).
    """

    def __init__(self, source: str, context: str = "text") -> None:
        if context not in FIELD_KINDS:
            raise ExportDslError(
                f"unknown context {context!r}; expected one of {', '.join(FIELD_KINDS)}"
            )
        self.source = source
        self.context = context
        index = LineIndex(source)
        try:
            nodes = parse(source)
        except ExportDslError as error:
            error.location = _locate(index, error.span)
            raise
        placement = place(nodes, context)
        if placement.problems:
            problem = placement.problems[0]
            raise CompileError(
                problem.message,
                location=_locate(index, problem.span),
                hint=problem.hint,
                code=problem.code,
                span=problem.span,
            )
        references = [node for node in nodes if isinstance(node, Reference)]
        holes = tuple(
            Hole(reference, where, "any")
            for reference, where in zip(references, placement.contexts, strict=True)
        )
        self._plan = FieldPlan(_FILE, context, None, holes, tuple(parts(nodes, holes)))
        (self._block,) = compile_blocks([[self._plan]])

    @property
    def references(self) -> tuple[str, ...]:
        """The references in order, as written without ``$``: ``pdata.name``, ``pdata['x-y']``."""
        return tuple(hole.reference.dotted for hole in self._plan.holes)

    def render(self, mapping: Mapping[str, Any]) -> str:
        try:
            return self._block.render(mapping)[0]
        except RenderError as error:
            raise RenderError(error.message.removeprefix(f"{_FILE}: "), hint=error.hint) from None


def _locate(index: LineIndex, span: Span | None) -> Location:
    span = span or Span(0, 1)
    return index.location(_FILE, span.start, span.end - 1)
