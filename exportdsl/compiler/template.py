"""A stand-alone template: the language and its escaping without a connector or a catalogue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exportdsl.compiler.directives import Program, has_directives
from exportdsl.compiler.placement import place
from exportdsl.compiler.plan import FieldPlan, Hole, compile_blocks, parts
from exportdsl.compiler.problem import Problem
from exportdsl.compiler.scope import loop_problems, output_references
from exportdsl.compiler.variants import place_directives
from exportdsl.errors import CompileError, ExportDslError, RenderError
from exportdsl.language.nodes import Node, Reference
from exportdsl.language.parser import parse
from exportdsl.source import LineIndex, Location, Span
from exportdsl.vocabulary import Alphabet, Context, FieldKind

__all__ = ["Template"]

_FILE = "<template>"


class Template:
    """``Template("Hello $pdata.name", kind="text").render({"pdata": {"name": "Ann"}})``.

    ``kind`` is what the output is (text, url, header, json, xml or form: a `FieldKind`) and decides
    the escaping of every hole (``context=`` is its older name, still taken). With no catalogue, a
    reference missing from the mapping is a render error naming the path and its first missing
    segment, unless it is quiet (``$!name``). Directives (#if, #foreach, #set, #break) are checked
    and placed as in a connector, but for the catalogue's checks (`directives`, `variants`).
    """

    def __init__(
        self, source: str, kind: str = FieldKind.TEXT, *, context: str | None = None
    ) -> None:
        kind = context if context is not None else kind
        if kind not in FieldKind.__members__.values():
            expected = ", ".join(FieldKind)
            raise ExportDslError(f"unknown kind {kind!r}; expected one of {expected}")
        self.source = source
        self.kind = FieldKind(kind)
        index = LineIndex(source)
        try:
            nodes = parse(source)
        except ExportDslError as error:
            error.location = _locate(index, error.span)
            raise
        if has_directives(nodes):
            self._plan = _directive_plan(nodes, self.kind, index)
            (self._block,) = compile_blocks([[self._plan]])
            return
        placement = place(nodes, self.kind)
        if placement.problems:
            raise _compile_error(index, placement.problems[0])
        references = [node for node in nodes if isinstance(node, Reference)]
        holes = tuple(
            Hole(reference, where, Alphabet.ANY)
            for reference, where in zip(references, placement.contexts, strict=True)
        )
        self._plan = FieldPlan(
            _FILE, self.kind, None, holes, tuple(parts(nodes, holes)), placement.objects
        )
        (self._block,) = compile_blocks([[self._plan]])

    @property
    def references(self) -> tuple[str, ...]:
        """The references in order, as written without ``$``: ``pdata.name``, ``pdata['x-y']``."""
        return tuple(hole.reference.dotted for hole in self._plan.holes)

    def render(self, mapping: Mapping[str, Any]) -> str:
        try:
            return self._block.render(mapping)[0]
        except RenderError as error:
            raise RenderError(
                error.message.removeprefix(f"{_FILE}: "), location=error.location, hint=error.hint
            ) from None


def _directive_plan(nodes: tuple[Node, ...], kind: FieldKind, index: LineIndex) -> FieldPlan:
    """A template with directives: placed in every expansion, checked for loop-only names."""
    placement = place_directives(nodes, kind)
    problems = placement.problems + tuple(loop_problems(nodes))
    if problems:
        raise _compile_error(index, min(problems, key=lambda problem: problem.span.start))
    references = output_references(nodes)
    holes = tuple(
        Hole(reference, placement.contexts.get(reference.span.start, Context.TEXT), Alphabet.ANY)
        for reference in references
    )
    program = Program(
        _FILE,
        nodes,
        {hole.reference.span.start: hole.context for hole in holes},
        {},
        lambda span: _locate(index, span),
    )
    return FieldPlan(_FILE, kind, None, holes, (), program=program)


def _compile_error(index: LineIndex, problem: Problem) -> CompileError:
    return CompileError(
        problem.message,
        location=_locate(index, problem.span),
        hint=problem.hint,
        code=problem.code,
        span=problem.span,
    )


def _locate(index: LineIndex, span: Span | None) -> Location:
    span = span or Span(0, 1)
    return index.location(_FILE, span.start, span.end - 1)
