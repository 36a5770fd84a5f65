"""Rendering a template with directives (#if, #foreach, #set, #break): Velocity 1.7's semantics.

A field with directives compiles into a tree of small Python closures (docs/design.md, "Issue 12:
directives"). Every hole keeps the escaper its context chose at compile time, whatever branch or
loop body it stands in; conditions and loop sources are read with the same path walk as holes
(`values.step`: mappings, lists and `TextValue` fields only, never Python attributes). No template
text reaches Jinja2, or any evaluator: the only code is these closures.

Semantics, as Velocity 1.7 (its Debian package) renders them:

- truth: null, a missing value and ``false`` are false; any other value is true (``""``, ``0``,
  ``"false"`` too). A literal on its own in a condition (``#if(1)``, ``#if('x')``) is false: 1.7
  evaluates only ``true``/``false`` literals and references as conditions.
- ``==``/``!=``: numbers compare numerically, values of the same kind by equality, others by
  their text (``3 == '3'``, ``false == 'false'`` are true; ``true == 1`` is false).
- ``< > <= >=``: numbers only; anything else is a render error.
- ``#foreach``: lists in order, objects by their values; null renders nothing; ``$foreach`` and the
  loop variable are the loop's own (restored after it), ``#set`` writes the one scope of the render.

Bounds per render (a render error, never a hang): `MAX_ITERATIONS` loop iterations in all,
`MAX_OUTPUT` characters of output and in each ``"…"`` string it builds (``#set`` and
comparisons), `MAX_BUILT` in all those strings together. Nesting depth is bounded when parsing
(`MAX_DEPTH`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from exportdsl.compiler.escaping import ESCAPERS, needs_escaping, trusting
from exportdsl.compiler.values import MISSING, TextValue, describe_missing, hole_function, step
from exportdsl.compiler.values import to_text as value_text
from exportdsl.errors import MissingValue, RenderError
from exportdsl.language.nodes import (
    Binary,
    Break,
    Comment,
    Expression,
    Foreach,
    If,
    Interpolated,
    Literal,
    Node,
    Not,
    Reference,
    Set,
    Text,
    format_path,
    references_in,
    walk,
)
from exportdsl.source import Location, Span
from exportdsl.vocabulary import Alphabet, Context

__all__ = [
    "LOOP_NAMES",
    "MAX_BUILT",
    "MAX_ITERATIONS",
    "MAX_OUTPUT",
    "Program",
    "equal",
    "has_directives",
    "order",
    "truthy",
]

MAX_ITERATIONS = 100_000  # loop iterations per render, all loops together
MAX_OUTPUT = 10_000_000  # characters per rendered field, and per "…" string
# characters of all the "…" strings of one render: `#set($all = "$all $m.content")` over 1,000
# messages copies ~100,000,000 (in ~0.1 s); 100,000 iterations of a 10-million-character string
# would copy 10^12
MAX_BUILT = 200_000_000
# The names a loop defines for its body (Velocity 1.7's, including its older two).
LOOP_NAMES = frozenset({"foreach", "velocityCount", "velocityHasNext"})

_Scope = dict[str, Any]
_Run = Callable[[_Scope, list[str], "_Budget"], None]
_Eval = Callable[[_Scope, "_Budget"], Any]


def has_directives(nodes: Sequence[Node]) -> bool:
    """Whether a template needs the directive path: a directive, or a loop's name outside one
    (an error that path reports)."""
    return any(
        isinstance(node, (If, Foreach, Set, Break))
        or (isinstance(node, Reference) and node.name in LOOP_NAMES)
        for node in nodes
    )


class _Budget:
    __slots__ = ("iterations", "size", "strings")

    def __init__(self) -> None:
        self.iterations = 0
        self.size = 0
        self.strings = 0  # characters of the "…" strings built: a #set can double one per loop


class _BreakLoop(Exception):
    """#break: caught by the innermost loop."""


class _Located(RenderError):
    """A render error already located at the template's reference (not wrapped again)."""


# --- Velocity 1.7's values -----------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def truthy(value: Any) -> bool:
    """A reference's value as a condition: only null, missing and false are false."""
    return not (value is None or value is MISSING or value is False)


def equal(left: Any, right: Any) -> bool:
    """1.7's ``==``: numbers numerically, same kinds by equality, others by their text."""
    left, right = _present(left), _present(right)
    if left is None or right is None:
        return left is right
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if type(left) is type(right) or (isinstance(left, str) and isinstance(right, str)):
        return bool(left == right)
    return value_text(left) == value_text(right)  # Java's toString of booleans and numbers


def order(operator: str, left: Any, right: Any) -> bool:
    """1.7's ``< > <= >=``: numbers only."""
    left, right = _present(left), _present(right)
    if not (_is_number(left) and _is_number(right)):
        side = "left" if not _is_number(left) else "right"
        raise RenderError(
            f"the {side} side of '{operator}' is not a number",
            hint="'<', '>', '<=' and '>=' compare numbers only; compare text with == or !=",
        )
    if operator == "<":
        return bool(left < right)
    if operator == ">":
        return bool(left > right)
    if operator == "<=":
        return bool(left <= right)
    return bool(left >= right)


def _present(value: Any) -> Any:
    return None if value is MISSING else value


# --- compiling the tree into closures ------------------------------------------------------------


class Program:
    """One field's template with directives, ready to render.

    ``contexts`` gives each output reference (by its span's start) the context its escaper is
    chosen by, and ``escaped`` whether its value needs escaping there (absent: it does);
    ``locate`` turns a span of the template into a position in its file, for errors.
    """

    def __init__(
        self,
        name: str,
        nodes: tuple[Node, ...],
        contexts: Mapping[int, Context],
        escaped: Mapping[int, bool],
        locate: Callable[[Span], Location | None],
        *,
        credential: bool = False,
    ) -> None:
        self.name = name
        self._contexts = contexts
        self._escaped = escaped
        self._where = locate
        self._credential = credential
        self.nodes = nodes
        # made at the first render: a check (`exportdsl check`, the editor's, at each keystroke)
        # analyses the field but never renders it
        self._compiled: _Run | None = None
        self._read_names: frozenset[str] = frozenset()

    def render(self, variables: Mapping[str, Any]) -> str:
        scope: _Scope = dict(variables)
        out: list[str] = []
        budget = _Budget()
        self._run(scope, out, budget)  # a #break outside a loop is a compile error (XD217)
        if budget.size > MAX_OUTPUT:
            raise _too_long()
        return "".join(out)

    @property
    def _run(self) -> _Run:
        """The template compiled into closures (nothing in it can fail before a render)."""
        if self._compiled is None:  # two threads may both make it: the same closures, no harm
            self._read_names = frozenset(ref.name for ref in _all_references(self.nodes))
            self._compiled = self._block(self.nodes)
        return self._compiled

    # statements

    def _block(self, nodes: tuple[Node, ...]) -> _Run:
        """A body: its text appended as is (a type test is cheaper than a call), the rest run."""
        steps: list[str | _Run] = []
        for node in nodes:
            if isinstance(node, Text):
                if steps and isinstance(steps[-1], str):
                    steps[-1] += node.value
                elif node.value:
                    steps.append(node.value)
            elif not isinstance(node, Comment):
                steps.append(self._node(node))
        static = sum(len(action) for action in steps if isinstance(action, str))

        def block(scope: _Scope, out: list[str], budget: _Budget) -> None:
            budget.size += static  # compared once per loop iteration (`_foreach`)
            for action in steps:
                if type(action) is str:
                    out.append(action)
                else:
                    action(scope, out, budget)  # type: ignore[operator]

        return block

    def _node(self, node: Node) -> _Run:
        if isinstance(node, Reference):
            return self._hole(node)
        if isinstance(node, If):
            return self._if(node)
        if isinstance(node, Foreach):
            return self._foreach(node)
        if isinstance(node, Set):
            return self._set(node)
        if isinstance(node, Break):
            return _break
        raise AssertionError(f"no rendering for {type(node).__name__}")  # pragma: no cover

    def _hole(self, reference: Reference) -> _Run:
        context = self._contexts.get(reference.span.start, Context.TEXT)
        escape = ESCAPERS[context]
        if not self._escaped.get(reference.span.start, True):
            escape = trusting(escape)
        look_up = hole_function(escape)  # the slow path: a miss, worded as holes word it
        name, rest, quiet = reference.name, reference.path[1:], reference.quiet
        where = self._where(reference.span)

        read = self._lookup(reference)
        # an int is digits and a sign: as is wherever they need no escaping ($foreach.count, ids)
        ints_as_is = not needs_escaping(Alphabet.INTEGER, context)

        def hole(scope: _Scope, out: list[str], budget: _Budget) -> None:
            value = read(scope, budget)
            try:
                if type(value) is int and ints_as_is:
                    text = str(value)
                elif value is MISSING or value is None:
                    text = look_up(scope.get(name, MISSING), rest, quiet, 0)
                else:
                    text = escape(value)
            except RenderError as error:
                raise self._locate(error, reference, where) from None
            if type(text) is not str:
                text = str(text)
            out.append(text)
            budget.size += len(text)  # compared once per loop iteration (`_foreach`)

        return hole

    def _locate(
        self, error: RenderError, reference: Reference, where: Location | None
    ) -> RenderError:
        if isinstance(error, _Located):
            return error
        if isinstance(error, MissingValue):
            error = describe_missing(error, reference.path, credential=self._credential)
        return _Located(f"{self.name}: {error.message}", location=where, hint=error.hint)

    def _if(self, node: If) -> _Run:
        arms = [
            (
                self._condition(branch.condition) if branch.condition is not None else None,
                self._block(branch.body),
            )
            for branch in node.branches
        ]
        if len(arms) == 1:  # the common #if(…)…#end, without a loop over its arms
            ((only, body),) = arms
            assert only is not None
            text = _constant(node.branches[0].body)
            if text is not None:  # #if($foreach.hasNext),#end

                def when_text(scope: _Scope, out: list[str], budget: _Budget) -> None:
                    if only(scope, budget):
                        out.append(text)
                        budget.size += len(text)

                return when_text

            def when(scope: _Scope, out: list[str], budget: _Budget) -> None:
                if only(scope, budget):
                    body(scope, out, budget)

            return when

        def choose(scope: _Scope, out: list[str], budget: _Budget) -> None:
            for condition, body in arms:
                if condition is None or condition(scope, budget):
                    body(scope, out, budget)
                    return

        return choose

    def _foreach(self, node: Foreach) -> _Run:
        source = self._value(node.source)
        body = self._block(node.body)
        variable = node.variable
        state = "foreach" in self._read_names  # build $foreach only for a template that reads it
        older = bool(self._read_names & {"velocityCount", "velocityHasNext"})
        words = f"{self.name}: #foreach(${variable} in {_shown(node.source)})"
        where = self._where(node.source.span)

        def loop(scope: _Scope, out: list[str], budget: _Budget) -> None:
            try:
                items = _items(source(scope, budget), words)
            except RenderError as error:
                raise _Located(error.message, location=where, hint=error.hint) from None
            saved = {key: scope.get(key, MISSING) for key in (variable, *LOOP_NAMES)}
            parent = saved["foreach"]
            count = len(items)
            try:
                for index, item in enumerate(items):
                    budget.iterations += 1
                    if budget.iterations > MAX_ITERATIONS:
                        raise RenderError(
                            f"{self.name}: the loops ran more than {MAX_ITERATIONS:,} times "
                            "in one render",
                            hint="a report carries fewer items; check the list the loop reads",
                        )
                    if budget.size > MAX_OUTPUT:
                        raise _too_long()
                    more = index + 1 < count
                    scope[variable] = item
                    if state:
                        scope["foreach"] = {
                            "count": index + 1,
                            "index": index,
                            "hasNext": more,
                            "first": index == 0,
                            "last": not more,
                            "parent": None if parent is MISSING else parent,
                        }
                    if older:
                        scope["velocityCount"] = index + 1
                        scope["velocityHasNext"] = more
                    try:
                        body(scope, out, budget)
                    except _BreakLoop:
                        break
            finally:
                for key, value in saved.items():
                    if value is MISSING:
                        scope.pop(key, None)
                    else:
                        scope[key] = value

        return loop

    def _set(self, node: Set) -> _Run:
        value = self._value(node.value)
        name = node.name

        def assign(scope: _Scope, out: list[str], budget: _Budget) -> None:
            scope[name] = value(scope, budget)

        return assign

    # expressions

    def _condition(self, expression: Expression) -> _Eval:
        """The expression as a condition (1.7: a lone literal other than true/false is false)."""
        if isinstance(expression, Literal):
            constant = expression.value is True
            return lambda scope, budget: constant
        if isinstance(expression, Interpolated):
            return lambda scope, budget: False
        if isinstance(expression, Reference):
            read = self._read(expression, truth=True)
            return lambda scope, budget: truthy(read(scope, budget))
        if isinstance(expression, Not):
            inner = self._condition(expression.operand)
            return lambda scope, budget: not inner(scope, budget)
        return self._binary(expression)

    def _binary(self, expression: Binary) -> _Eval:
        operator = expression.operator
        if operator in ("&&", "||"):
            left, right = self._condition(expression.left), self._condition(expression.right)
            if operator == "&&":
                return lambda scope, budget: bool(left(scope, budget) and right(scope, budget))
            return lambda scope, budget: bool(left(scope, budget) or right(scope, budget))
        first, second = self._value(expression.left), self._value(expression.right)
        if operator == "==":
            return lambda scope, budget: equal(first(scope, budget), second(scope, budget))
        if operator == "!=":
            return lambda scope, budget: not equal(first(scope, budget), second(scope, budget))
        name, span = self.name, expression.span

        def compare(scope: _Scope, budget: _Budget) -> bool:
            try:
                return order(operator, first(scope, budget), second(scope, budget))
            except RenderError as error:
                where = self._where(span)
                raise _Located(
                    f"{name}: {error.message}", location=where, hint=error.hint
                ) from None

        return compare

    def _value(self, expression: Expression) -> _Eval:
        """The expression's value (a comparison's operand, a loop's source, #set's right side)."""
        if isinstance(expression, Literal):
            constant = expression.value
            return lambda scope, budget: constant
        if isinstance(expression, Reference):
            return self._read(expression)
        if isinstance(expression, Interpolated):
            return self._interpolate(expression)
        return self._condition(expression)

    def _read(self, reference: Reference, *, truth: bool = False) -> _Eval:
        """A reference's value in an expression, as strict 1.7 reads it: a name the render does
        not hold is an error (but for a bare name tested for truth, which is false), a step on
        null is an error, a missing last key is null (a missing leaf)."""
        name, rest = reference.name, reference.path[1:]
        if truth and not rest:
            return lambda scope, budget: scope.get(name)
        where = self._where(reference.span)
        field = self.name

        def read(scope: _Scope, budget: _Budget) -> Any:
            value = scope.get(name, MISSING)
            if value is MISSING:
                raise _Located(
                    f"{field}: ${name} is not defined here",
                    location=where,
                    hint="a name needs a value before it is read: from the render's variables, "
                    "its loop or a #set that ran",
                )
            for depth, key in enumerate(rest):
                if type(value) is dict:
                    value = value.get(key)
                    continue
                found = _expression_step(value, key)
                if found is MISSING:
                    walked = "$" + format_path(reference.path[: depth + 1])
                    step_text = format_path(("", key)).lstrip(".")
                    raise _Located(
                        f"{field}: {reference}: {walked} "
                        + ("is null" if value is None else f"has no {step_text!r}"),
                        location=where,
                        hint=f"test it first: #if({walked})…#end",
                    )
                value = found
            return value

        return read

    @staticmethod
    def _lookup(reference: Reference) -> _Eval:
        """A hole's value as is, `MISSING` when absent (the hole words the error, or is quiet).
        Plain dicts take a fast path, the usual one-step path (``$m.content``) a faster one;
        anything else (lists, `TextValue`) goes by `step`."""
        name, rest = reference.name, reference.path[1:]
        if not rest:
            return lambda scope, budget: scope.get(name, MISSING)
        if len(rest) == 1:
            (key,) = rest

            def read_one(scope: _Scope, budget: _Budget) -> Any:
                value = scope.get(name, MISSING)
                return value.get(key, MISSING) if type(value) is dict else step(value, key)

            return read_one

        def read(scope: _Scope, budget: _Budget) -> Any:
            value = scope.get(name, MISSING)
            for key in rest:
                value = value.get(key, MISSING) if type(value) is dict else step(value, key)
            return value

        return read

    def _interpolate(self, string: Interpolated) -> _Eval:
        pieces: list[str | tuple[Reference, _Eval]] = [
            part.value if isinstance(part, Text) else (part, self._read(part))
            for part in string.parts
        ]
        where = self._where(string.span)

        def interpolate(scope: _Scope, budget: _Budget) -> str:
            texts = []
            for piece in pieces:
                if isinstance(piece, str):
                    texts.append(piece)
                    continue
                reference, read = piece
                value = read(scope, budget)
                if value is MISSING or value is None:
                    if reference.quiet:
                        continue
                    raise _Located(  # strict 1.7 stops there too
                        f'{self.name}: {reference} in a "…" string is missing or null',
                        location=self._where(reference.span),
                        hint=f"write $!{{{reference.dotted}}} if it may be missing",
                    )
                texts.append(value_text(value))
            # measured before they are joined: `#set($s = "$s$s")` in a loop doubles the string
            # each time, and the output's bound never sees a string that is not output
            length = sum(map(len, texts))
            budget.strings += length
            if length > MAX_OUTPUT or budget.strings > MAX_BUILT:
                raise _Located(
                    f'{self.name}: a "…" string longer than {MAX_OUTPUT:,} characters, or '
                    f"more than {MAX_BUILT:,} in all the strings of one render",
                    location=where,
                    hint="a #set in a loop that grows a string grows it without end; "
                    "output the parts in the loop instead",
                )
            return "".join(texts)

        return interpolate


def _expression_step(value: Any, key: str | int) -> Any:
    """One path step inside an expression: a missing key of an object (or a list index out of
    range) is null; a step on null or on a value with no such parts is `MISSING`, an error."""
    if isinstance(value, TextValue):
        value = value.fields
    if isinstance(value, Mapping):
        return value.get(key)
    if value is None:
        return MISSING
    found = step(value, key)
    if found is MISSING and isinstance(key, int) and isinstance(value, Sequence):
        return None if not isinstance(value, str) else MISSING
    return found


def _constant(nodes: tuple[Node, ...]) -> str | None:
    """A body's text when it has nothing else (comments aside)."""
    if not all(isinstance(node, (Text, Comment)) for node in nodes):
        return None
    return "".join(node.value for node in nodes if isinstance(node, Text))


def _all_references(nodes: tuple[Node, ...]) -> list[Reference]:
    """Every reference of the template: holes, conditions, loop sources, #set values."""
    found: list[Reference] = []
    for node in walk(nodes):
        if isinstance(node, Reference):
            found.append(node)
        elif isinstance(node, If):
            for branch in node.branches:
                if branch.condition is not None:
                    found.extend(references_in(branch.condition))
        elif isinstance(node, Foreach):
            found.extend(references_in(node.source))
        elif isinstance(node, Set):
            found.extend(references_in(node.value))
    return found


def _break(scope: _Scope, out: list[str], budget: _Budget) -> None:
    raise _BreakLoop


def _items(value: Any, words: str) -> Sequence[Any]:
    if value is None:
        return ()
    if value is MISSING:
        raise RenderError(
            f"{words}: the list is missing",
            hint="a loop over a value that may be missing needs an #if around it",
        )
    if isinstance(value, TextValue):
        value = value.fields
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return value
    raise RenderError(f"{words}: the value is not a list", hint="#foreach loops over lists")


def _shown(expression: Expression) -> str:
    return str(expression) if isinstance(expression, Reference) else "…"


def _too_long() -> RenderError:
    return RenderError(
        f"the rendered text is longer than {MAX_OUTPUT:,} characters",
        hint="a loop writes more than any request should carry; check the list it reads",
    )
