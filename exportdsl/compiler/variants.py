"""Placing the holes of a template with directives: every hole's context decided at compile time.

A template with #if and #foreach renders to one of many texts. We expand it into a set of flat
texts (each loop run 0, 1, 2 and 3 times, each #if arm taken, and no arm where there is no #else;
inside a loop also one item taking another arm than the rest; every combination while they are
few, else each directive's choices against a baseline, an arm in a loop with 1, 2, 3 items), place
each expansion with the scanners of `placement`, and require:

- each hole to land in the same context in every expansion (so one escaper serves it);
- every branch and loop body to begin and end in the same lexical context (Go html/template's
  rule): a body cannot open a string, a tag or an attribute that the text after it closes;
- every expansion to be well formed (JSON, XML) and to pass the field's wire checks.

Conditions on the loop's own state (``$foreach.hasNext``, ``.first``, ``.last``,
``$velocityHasNext``, and ``$foreach.count``, ``.index`` or ``$velocityCount`` compared with a
number) are evaluated in each expansion, so ``[#foreach(…){…}#if($foreach.hasNext),
#end#end]`` is seen as the lists it renders, not as ``[{…},{…},]``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from exportdsl.compiler import rules
from exportdsl.compiler.directives import equal, order
from exportdsl.compiler.placement import Boundary, JsonObject, Tail, place_expansion
from exportdsl.compiler.problem import Problem
from exportdsl.language.nodes import (
    Binary,
    Break,
    Expression,
    Foreach,
    If,
    Literal,
    Node,
    Not,
    Reference,
    Text,
    walk,
)
from exportdsl.source import Span
from exportdsl.vocabulary import Context, FieldKind

__all__ = ["MAX_PLACED", "DirectivePlacement", "place_directives"]

_LOOP_RUNS = (1, 0, 2, 3)  # the baseline first; 3 has a middle item (neither first nor last)
_MAX_COMBINATIONS = 64
# Inside a loop, an #if whose condition reads the item (`#if($m.ok)`) takes its arms item by
# item: besides the same arm for every item, an expansion may give one item (the first, the second
# or the last) another arm than the rest: a filter before the comma idiom renders `["a",]` when
# the last item is left out, a #break after some items leaves what the items before it wrote.
# Encoded in one int: `_PER_ITEM` * (which item: 1, 2, 3) + `_ARMS` * usual arm + the item's arm.
_PER_ITEM = 1_000_000
_ARMS = 1000
_ALL_PAIRS = 4  # up to this many arms every pair; past it, pairs with the first or the last arm
# The work of placing one field, all expansions together (1.5-5 s here): each #if and #foreach adds
# expansions of the whole template, so the work grows with their number times the template's size,
# and a 1 MiB connector file of #if(…)x#end took hours to check. Counted in characters, a piece
# (text, hole, branch or loop boundary) as `_PIECE_COST` of them (measured).
MAX_PLACED = 20_000_000
_PIECE_COST = 25
_Piece = Node | Boundary


@dataclass(frozen=True, slots=True)
class DirectivePlacement:
    contexts: dict[int, Context]  # by the hole's span start
    problems: tuple[Problem, ...]
    objects: tuple[JsonObject, ...] = ()


@dataclass(frozen=True, slots=True)
class _Loop:
    index: int
    count: int


def place_directives(nodes: tuple[Node, ...], kind: FieldKind) -> DirectivePlacement:
    contexts: dict[int, Context] = {}
    problems: list[Problem] = []
    objects: list[JsonObject] = []
    placed = 0
    seen: set[tuple[object, ...]] = set()
    # every expansion (but one a top-level #break ends) ends with the text after the last
    # directive: expand the template before it, and scan the tail once per state it begins in
    front, tail = _split(nodes)
    scanned, tail_cost = Tail(tail), _cost(tail)
    merged: list[object] = []  # tails scanned whose contexts are in `contexts` already
    for number, (pieces, whole) in enumerate(_expansions(front)):
        placed += _cost(pieces) + (tail_cost if whole else 0)
        if placed > MAX_PLACED:
            problems.append(_too_many(nodes))
            break
        identity = (whole, *_identity(pieces))
        if identity in seen:
            # placed before, to the same result: it had no problems (or the loop would have
            # stopped there), and gives the same contexts and boundaries again. Choices the
            # loop's state decides (`#if($foreach.hasNext)`) or that name an item the loop does
            # not have make many such repeats: 28 of the 32 expansions of `[#foreach(…)…#end]`.
            continue
        seen.add(identity)
        expansion = pieces + tail if whole else pieces
        placement = place_expansion(expansion, kind, scanned)
        if placement.problems:
            # the first expansion is the baseline; past it, the body is broken for some chats
            problems.extend(
                placement.problems if number == 0 else map(_for_some_chats, placement.problems)
            )
            break  # one expansion's problems say enough; the others repeat them
        objects.extend(placement.objects)
        # a tail replayed as one merged before lands where it landed then, without a conflict
        # (the merge stops at the first one): its holes need no second look
        again = whole and any(placement.scanned is known for known in merged)
        holes = [
            piece for piece in (pieces if again else expansion) if isinstance(piece, Reference)
        ]
        for hole, context in zip(holes, placement.contexts[: len(holes)], strict=True):
            known = contexts.setdefault(hole.span.start, context)
            if known != context:
                problems.append(_moving_hole(hole, known, context))
        problems.extend(_unbalanced(placement.boundaries))
        if problems:
            break
        if placement.scanned is not None:
            merged.append(placement.scanned)
    if objects:
        problems.append(
            Problem(
                rules.DIRECTIVE_CONTEXT.code,
                "a JSON key made by a value in a template with directives",
                _first_key_span(nodes),
                "write the keys literally; put values that vary in the values",
            )
        )
    return DirectivePlacement(contexts, _unique(problems))


def _split(nodes: tuple[Node, ...]) -> tuple[tuple[Node, ...], tuple[Node, ...]]:
    """The template up to its tail, and the tail: the text and references after the last
    directive that writes (#if, #foreach, #break; comments and #set write nothing), from its first
    reference on (the text before that is scanned with the text before it)."""
    start = len(nodes)
    while start > 0 and not isinstance(nodes[start - 1], (If, Foreach, Break)):
        start -= 1
    first = next((n for n in range(start, len(nodes)) if isinstance(nodes[n], Reference)), None)
    if first is None:
        return nodes, ()
    return nodes[:first], tuple(
        node for node in nodes[first:] if isinstance(node, (Text, Reference))
    )


def _cost(pieces: tuple[_Piece, ...]) -> int:
    """What placing ``pieces`` costs, counted as `MAX_PLACED` counts."""
    return _PIECE_COST * len(pieces) + sum(
        len(piece.value) for piece in pieces if isinstance(piece, Text)
    )


def _identity(expansion: tuple[_Piece, ...]) -> tuple[object, ...]:
    """What makes two expansions the same text to place: the same nodes (by identity: they are
    the template's own) and the same boundaries, in the same order."""
    return tuple(
        (piece.body, piece.start, piece.span) if isinstance(piece, Boundary) else id(piece)
        for piece in expansion
    )


_BROKEN = {
    "the body can never be valid JSON": "the body is not valid JSON",
    "the XML is not well formed": "the XML is not well formed",
}


def _for_some_chats(problem: Problem) -> Problem:
    """A body broken in one expansion but its baseline: XD216 (not XD210, "can never be valid"),
    said as what it is, true for some branch or number of items only."""
    head, _, detail = problem.message.partition(": ")
    if problem.code != rules.MALFORMED_BODY.code or head not in _BROKEN:
        return problem
    return Problem(
        rules.DIRECTIVE_CONTEXT.code,
        f"{_BROKEN[head]} for some chats (a branch taken, or a loop's number of items): {detail}",
        problem.span,
        "each loop is checked with 0 to 3 items and each #if taken either way, also item by "
        "item; separate items with #if($foreach.hasNext),#end after each",
    )


def _too_many(nodes: tuple[Node, ...]) -> Problem:
    directives = [
        node.opener if isinstance(node, Foreach) else node.branches[0].span
        for node in walk(nodes)
        if isinstance(node, (If, Foreach))
    ]
    return Problem(
        rules.DIRECTIVE_CONTEXT.code,
        f"too many #if and #foreach ({len(directives):,}) in this much text to check every "
        "branch and loop run",
        directives[0],
        "split the template, or use fewer #if/#foreach: each one adds placements of the whole text",
    )


def _moving_hole(hole: Reference, known: Context, context: Context) -> Problem:
    return Problem(
        rules.DIRECTIVE_CONTEXT.code,
        f"{hole} lands in {known} context in one rendering and in {context} context in another",
        hole.span,
        "each branch and loop body must begin and end where it started (inside the same string, "
        "tag or attribute), so every value has one escaping",
    )


def _unbalanced(boundaries: Sequence[tuple[Boundary, object]]) -> list[Problem]:
    """Go's rule: a body's lexical context at its end is the one at its start."""
    opened: dict[int, list[object]] = {}
    for boundary, state in boundaries:
        if boundary.start:
            opened.setdefault(boundary.body, []).append(state)
            continue
        starts = opened.get(boundary.body)
        if starts and starts.pop() != state:
            return [
                Problem(
                    rules.DIRECTIVE_CONTEXT.code,
                    "this directive's body ends in another context than it begins (it opens or "
                    "closes a string, tag or attribute)",
                    boundary.span,
                    "move the quote, '<' or '>' so that it is both inside the body or both "
                    "outside: each value then has one escaping whatever the branch or loop does",
                )
            ]
    return []


def _first_key_span(nodes: tuple[Node, ...]) -> Span:
    references = [node for node in walk(nodes) if isinstance(node, Reference)]
    return references[0].span if references else nodes[0].span


def _unique(problems: list[Problem]) -> tuple[Problem, ...]:
    seen: set[tuple[str, str, int]] = set()
    kept = []
    for problem in problems:
        key = (problem.code, problem.message, problem.span.start)
        if key not in seen:
            seen.add(key)
            kept.append(problem)
    return tuple(kept)


# --- expansions ----------------------------------------------------------------------------------


def _choices(nodes: tuple[Node, ...], in_loop: bool = False) -> list[tuple[int, tuple[int, ...]]]:
    """Each #if / #foreach (by span start) and what an expansion may choose for it; the first
    choice is the baseline."""
    found: list[tuple[int, tuple[int, ...]]] = []
    for node in nodes:
        if isinstance(node, If):
            arms = len(node.branches) + (0 if node.branches[-1].condition is None else 1)
            mixed = _per_item_choices(arms) if in_loop else ()
            found.append((node.span.start, (*range(arms), *mixed)))
            for branch in node.branches:
                found.extend(_choices(branch.body, in_loop))
        elif isinstance(node, Foreach):
            found.append((node.span.start, _LOOP_RUNS))
            found.extend(_choices(node.body, True))
    return found


def _per_item_choices(arms: int) -> tuple[int, ...]:
    if arms >= _ARMS:
        return ()
    pairs = [
        (usual, other)
        for usual in range(arms)
        for other in range(arms)
        if usual != other and (arms <= _ALL_PAIRS or {usual, other} & {0, arms - 1})
    ]
    return tuple(
        _PER_ITEM * item + _ARMS * usual + other for item in (1, 2, 3) for usual, other in pairs
    )


def _expansions(nodes: tuple[Node, ...]) -> Iterator[tuple[tuple[_Piece, ...], bool]]:
    """Each expansion, and whether it ran to the end (no top-level #break ended it): every
    combination while there are at most `_MAX_COMBINATIONS`; else every combination of
    the loops' runs (nested loops' empty inner lists are where lists break) with the arms at
    their baseline, then each arm's choices against the baseline."""
    choices = _choices(nodes)
    if _count(choices) <= _MAX_COMBINATIONS:
        yield from (_expand(nodes, chosen) for chosen in _every(choices))
        return
    baseline = {key: options[0] for key, options in choices}
    loops = [(key, options) for key, options in choices if options is _LOOP_RUNS]
    arms = [(key, options) for key, options in choices if options is not _LOOP_RUNS]
    if _count(loops) <= _MAX_COMBINATIONS:
        yield from (_expand(nodes, baseline | chosen) for chosen in _every(loops))
    else:
        yield from _deviations(nodes, baseline, loops)
    yield from _deviations(nodes, baseline, arms)
    # an arm inside a loop, with its loop's 2 and 3 items too (the loops around that one keep
    # their baseline: all of them at 2 would be 2^depth copies of the body)
    enclosing = _innermost_loops(nodes)
    for key, options in arms:
        loop = enclosing.get(key)
        if loop is not None:
            for runs in _LOOP_RUNS[2:]:
                yield from (
                    _expand(nodes, baseline | {loop: runs, key: option}) for option in options[1:]
                )


def _innermost_loops(nodes: tuple[Node, ...]) -> dict[int, int]:
    """Each #if inside a loop (by span start) and its innermost loop's."""
    found: dict[int, int] = {}

    def visit(body: tuple[Node, ...], loop: int | None) -> None:
        for node in body:
            if isinstance(node, If):
                if loop is not None:
                    found[node.span.start] = loop
                for branch in node.branches:
                    visit(branch.body, loop)
            elif isinstance(node, Foreach):
                visit(node.body, node.span.start)

    visit(nodes, None)
    return found


def _count(choices: Sequence[tuple[int, tuple[int, ...]]]) -> int:
    total = 1
    for _, options in choices:
        total *= len(options)
    return total


def _every(choices: Sequence[tuple[int, tuple[int, ...]]]) -> Iterator[dict[int, int]]:
    keys = [key for key, _ in choices]
    for combination in itertools.product(*(options for _, options in choices)):
        yield dict(zip(keys, combination, strict=True))


def _deviations(
    nodes: tuple[Node, ...],
    baseline: dict[int, int],
    choices: Sequence[tuple[int, tuple[int, ...]]],
) -> Iterator[tuple[tuple[_Piece, ...], bool]]:
    yield _expand(nodes, baseline)
    for key, options in choices:
        for option in options[1:]:
            yield _expand(nodes, {**baseline, key: option})


def _expand(nodes: tuple[Node, ...], chosen: dict[int, int]) -> tuple[tuple[_Piece, ...], bool]:
    pieces: list[_Piece] = []
    broken = _emit(nodes, chosen, None, pieces)
    return tuple(pieces), not broken


def _emit(
    nodes: tuple[Node, ...], chosen: dict[int, int], loop: _Loop | None, out: list[_Piece]
) -> bool:
    """Appends one expansion of ``nodes``; True when a #break ended it."""
    for node in nodes:
        if isinstance(node, (Text, Reference)):
            out.append(node)
        elif isinstance(node, Break):
            return True
        elif isinstance(node, If):
            arm = _arm(node, chosen[node.span.start], loop)
            if arm is not None:
                out.append(Boundary(node.span.start, True, node.branches[arm].span))
                if _emit(node.branches[arm].body, chosen, loop, out):
                    return True
                out.append(Boundary(node.span.start, False, node.branches[arm].span))
        elif isinstance(node, Foreach):
            count = chosen[node.span.start]
            for index in range(count):
                out.append(Boundary(node.span.start, True, node.opener))
                if _emit(node.body, chosen, _Loop(index, count), out):
                    break
                out.append(Boundary(node.span.start, False, node.opener))
    return False


def _arm(node: If, choice: int, loop: _Loop | None) -> int | None:
    """The arm an expansion takes: decided by the loop's state where the conditions read only
    that, else the expansion's choice for this item (past the last arm: none)."""
    if choice >= _PER_ITEM:
        choice = _item_arm(choice, loop)
    for number, branch in enumerate(node.branches):
        if branch.condition is None:
            return number
        known = _loop_truth(branch.condition, loop)
        if known is None:  # not an arm before this one: their conditions are known false
            return max(choice, number) if choice < len(node.branches) else None
        if known:
            return number
    return None


def _item_arm(choice: int, loop: _Loop | None) -> int:
    """A per-item choice (`_PER_ITEM`) read for the loop's current item."""
    item, arms = divmod(choice, _PER_ITEM)
    usual, other = divmod(arms, _ARMS)
    if loop is None:
        return usual
    chosen_index = {1: 0, 2: 1}.get(item, loop.count - 1)
    return other if loop.index == chosen_index else usual


_LOOP_FLAGS: dict[tuple[str | int, ...], Callable[[_Loop], bool]] = {
    ("foreach", "hasNext"): lambda loop: loop.index + 1 < loop.count,
    ("velocityHasNext",): lambda loop: loop.index + 1 < loop.count,
    ("foreach", "last"): lambda loop: loop.index + 1 == loop.count,
    ("foreach", "first"): lambda loop: loop.index == 0,
}


def _loop_truth(expression: Expression, loop: _Loop | None) -> bool | None:
    """The condition's value when it reads only the loop's state and literals, else None."""
    if isinstance(expression, Literal):
        return expression.value is True
    if isinstance(expression, Reference):
        flag = _LOOP_FLAGS.get(expression.path)
        return flag(loop) if flag is not None and loop is not None else None
    if isinstance(expression, Not):
        inner = _loop_truth(expression.operand, loop)
        return None if inner is None else not inner
    if isinstance(expression, Binary) and expression.operator in ("&&", "||"):
        left = _loop_truth(expression.left, loop)
        right = _loop_truth(expression.right, loop)
        if left is None or right is None:
            return None
        return (left and right) if expression.operator == "&&" else (left or right)
    if isinstance(expression, Binary) and loop is not None:
        return _numbered(expression, loop)
    return None


# The item's number, by its index: what it is for the first item, and for every later one.
_LOOP_NUMBERS: dict[tuple[str | int, ...], int] = {
    ("foreach", "count"): 1,
    ("foreach", "index"): 0,
    ("velocityCount",): 1,
}


def _numbered(comparison: Binary, loop: _Loop) -> bool | None:
    """``$foreach.count`` (``.index``, ``$velocityCount``) compared with a number literal, as
    1.7's ``#if($velocityCount > 1),#end``: known when it is the same for every item but the first
    (so 3 items show all it does), else None: ``== 4`` holds for an item no expansion has."""
    sides = [comparison.left, comparison.right]
    numbers = [
        _LOOP_NUMBERS.get(side.path) if isinstance(side, Reference) else None for side in sides
    ]
    literals = [
        side.value
        if isinstance(side, Literal)
        and isinstance(side.value, (int, float))
        and not isinstance(side.value, bool)
        else None
        for side in sides
    ]
    if numbers[0] is not None and literals[1] is not None:
        start, literal, mine = numbers[0], literals[1], 0
    elif numbers[1] is not None and literals[0] is not None:
        start, literal, mine = numbers[1], literals[0], 1
    else:
        return None

    def holds(number: int) -> bool:
        pair = [float(literal), float(literal)]
        pair[mine] = number
        if comparison.operator in ("==", "!="):
            return equal(*pair) == (comparison.operator == "==")
        return order(comparison.operator, *pair)

    later = start + 1  # the second item's number; every later item's is larger
    around = {later, 10**18} | {n for n in range(int(literal) - 1, int(literal) + 3) if n >= later}
    if len({holds(number) for number in around}) > 1:
        return None
    return holds(start + loop.index)
