"""What a template with directives reads, and where: the checks that need no catalogue.

`analysis` adds the catalogue's (names, properties, phases, element types); the stand-alone
`template.Template` has no catalogue and uses only these.
"""

from __future__ import annotations

from collections.abc import Iterator

from exportdsl.compiler import rules
from exportdsl.compiler.directives import LOOP_NAMES
from exportdsl.compiler.problem import Problem
from exportdsl.language.nodes import (
    Break,
    Foreach,
    If,
    Node,
    Reference,
    Set,
    references_in,
    walk,
)

__all__ = ["enclosures", "loop_problems", "output_references", "read_references"]


def output_references(nodes: tuple[Node, ...]) -> list[Reference]:
    """The references whose values are output (holes), in source order."""
    return [node for node in walk(nodes) if isinstance(node, Reference)]


def read_references(nodes: tuple[Node, ...], depth: int = 0) -> Iterator[tuple[Reference, int]]:
    """Every reference the template reads (holes, conditions, loop sources, #set values) with the
    number of loops around it, in source order."""
    for node in nodes:
        if isinstance(node, Reference):
            yield node, depth
        elif isinstance(node, If):
            for branch in node.branches:
                if branch.condition is not None:
                    yield from ((found, depth) for found in references_in(branch.condition))
                yield from read_references(branch.body, depth)
        elif isinstance(node, Foreach):
            yield from ((found, depth) for found in references_in(node.source))
            yield from read_references(node.body, depth + 1)
        elif isinstance(node, Set):
            yield from ((found, depth) for found in references_in(node.value))


def loop_problems(nodes: tuple[Node, ...]) -> Iterator[Problem]:
    """``$foreach`` (and 1.7's ``$velocityCount``/``$velocityHasNext``) and ``#break`` outside
    any loop (XD217); a #set or a loop variable of one of those names (XD218)."""
    yield from _loop_names_taken(nodes)
    for reference, depth in read_references(nodes):
        if depth == 0 and reference.name in LOOP_NAMES:
            yield Problem(
                rules.OUTSIDE_LOOP.code,
                f"${reference.name} is only defined inside a #foreach",
                reference.name_span,
                "use it between #foreach(…) and its #end",
            )
    yield from _breaks(nodes, 0)


def _loop_names_taken(nodes: tuple[Node, ...]) -> Iterator[Problem]:
    """The placement reads ``$foreach.hasNext`` as the loop's own state: a #set of it (or a loop
    variable named so) could add the comma the placement saw left out, in any template."""
    for node in walk(nodes):
        if isinstance(node, Set):
            name, span, what = node.name, node.name_span, "#set"
        elif isinstance(node, Foreach):
            name, span, what = node.variable, node.variable_span, "the loop variable"
        else:
            continue
        if name in LOOP_NAMES:
            yield Problem(
                rules.SHADOWED_NAME.code,
                f"{what} names ${name}, which the template language already defines",
                span,
                f"choose another name than ${name}",
            )


def _breaks(nodes: tuple[Node, ...], depth: int) -> Iterator[Problem]:
    for node in nodes:
        if isinstance(node, Break) and depth == 0:
            yield Problem(
                rules.OUTSIDE_LOOP.code,
                "#break outside a #foreach",
                node.span,
                "#break leaves the innermost loop; outside one, use #if to leave text out",
            )
        elif isinstance(node, If):
            for branch in node.branches:
                yield from _breaks(branch.body, depth)
        elif isinstance(node, Foreach):
            yield from _breaks(node.body, depth + 1)


def enclosures(nodes: tuple[Node, ...], around: str = "") -> dict[int, str]:
    """Each hole (by span start) inside a directive, with the directives around it as a user
    reads them: ``#foreach($m in $chat.messages) > #if``, for `explain`."""
    found: dict[int, str] = {}
    for node in nodes:
        if isinstance(node, Reference) and around:
            found[node.span.start] = around
        elif isinstance(node, If):
            for number, branch in enumerate(node.branches):
                arm = "#if" if number == 0 else "#elseif" if branch.condition else "#else"
                found |= enclosures(branch.body, f"{around} > {arm}" if around else arm)
        elif isinstance(node, Foreach):
            label = f"#foreach(${node.variable} in {_source_text(node)})"
            found |= enclosures(node.body, f"{around} > {label}" if around else label)
    return found


def _source_text(node: Foreach) -> str:
    return str(node.source) if isinstance(node.source, Reference) else "…"
