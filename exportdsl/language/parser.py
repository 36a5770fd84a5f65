"""Template text -> typed nodes, with Lark LALR over `grammar/template.lark`.

The grammar stays data; this module turns Lark's tokens into `nodes` as the parser reduces (an
inline transformer, so no parse tree is built) and turns Lark's errors into `TemplateSyntaxError`s
that say what was expected, where, and how to write the text literally.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from exportdsl.errors import TemplateSyntaxError
from exportdsl.language.grammar import load_parser
from exportdsl.language.nodes import (
    Binary,
    Branch,
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
    Segment,
    Set,
    Text,
)
from exportdsl.source import Span, found_at, shorten

__all__ = ["MAX_DEPTH", "MAX_EXPRESSION_DEPTH", "parse"]

MAX_DEPTH = 32  # #if and #foreach inside each other: every later stage walks them recursively
# operators inside each other in one expression (`$a && $b && …` is a chain of them, `!!$a` too):
# every later stage walks an expression recursively, and 1,000 of them overflowed Python's stack
MAX_EXPRESSION_DEPTH = 64

# What a user calls the terminals that an error message says were expected.
_EXPECTED_WORDS = {
    "NAME": "a variable name (a letter, then letters, digits or _)",
    "FORMAL_CLOSE": "'}'",
    "RBRACKET": "']'",
    "DOT": "'.'",
    "LBRACKET": "'['",
    "INDEX": "a list index",
    "KEY": "a quoted key",
    "RPAREN": "')'",
    "X_LPAREN": "'('",
    "X_SHORT_OPEN": "a reference",
    "X_FORMAL_OPEN": "a reference",
    "X_STRING": "a quoted string",
    "X_NUMBER": "a number",
    "X_BOOLEAN": "true or false",
    "X_RANGE": "a range",
    "NOT": "'!'",
    "AND": "'&&'",
    "OR": "'||'",
    "EQUALITY": "'=='",
    "ORDERING": "'<'",
    "IN": "'in'",
    "ASSIGN": "'='",
    "CALL": "'('",
}
# Terminals only expected inside a directive's parentheses.
_EXPRESSION_TERMINALS = frozenset(
    {"RPAREN", "X_LPAREN", "X_SHORT_OPEN", "X_FORMAL_OPEN", "X_STRING", "X_NUMBER", "X_BOOLEAN"}
    | {"X_RANGE", "NOT", "AND", "OR", "EQUALITY", "ORDERING", "IN", "ASSIGN"}
)
_OPERATORS = {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">="}
_OPERATORS |= {"and": "&&", "or": "||"}
_DIRECTIVES = "#if, #elseif, #else, #end, #foreach, #set and #break"
_LITERAL_HASH_HINT = "write '\\#' before a directive's name for the literal text, or use #[[ … ]]#"
# Velocity directives the language leaves out on purpose, and why.
_LEFT_OUT = {
    "include": "a template cannot read files",
    "parse": "a template cannot read files",
    "evaluate": "text from a value is never run as a template",
    "define": "write the text where it is used",
    "macro": "write the text where it is used",
    "stop": "end the template where it should end, or use #if",
}
_LITERAL_HINT = "to write a literal '$', escape it as '\\$'"


def _span(token: Token) -> Span:
    return Span(token.start_pos or 0, token.end_pos or 0)


def _syntax_error(message: str, span: Span, hint: str | None = None) -> TemplateSyntaxError:
    return TemplateSyntaxError(message, span=span, hint=hint)


def _trimmed(token: Token) -> tuple[str, Span]:
    """A directive terminal without the white space it takes before it, and that text's span."""
    text = str(token)
    stripped = text.lstrip(" \t\r\n")
    start = (token.start_pos or 0) + len(text) - len(stripped)
    return stripped, Span(start, token.end_pos or start)


def _keyword_span(token: Token) -> Span:
    """``#end`` / ``#{else}`` without the white space and line break it eats."""
    text, span = _trimmed(token)
    return Span(span.start, span.start + len(text.rstrip(" \t\r\n")))


def _shallow(expression: Expression) -> Expression:
    """The expression, after checking its operators nest at most `MAX_EXPRESSION_DEPTH` deep
    (without recursion: that is what the bound protects)."""
    stack: list[tuple[Expression, int]] = [(expression, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXPRESSION_DEPTH:
            raise _syntax_error(
                f"this expression nests more than {MAX_EXPRESSION_DEPTH} operators deep",
                expression.span,
                "split it: #set($part = …) a piece first, or put one #if inside another",
            )
        if isinstance(node, Binary):
            stack += [(node.left, depth + 1), (node.right, depth + 1)]
        elif isinstance(node, Not):
            stack.append((node.operand, depth + 1))
    return expression


@dataclass(frozen=True, slots=True)
class _Marker:
    """A directive as the grammar sees it, before `_nest` puts bodies into blocks."""

    kind: str  # if, elseif, else, end, foreach, set, break
    span: Span
    condition: Expression | None = None
    name: str = ""
    name_span: Span | None = None


def _nest(items: list[Any]) -> tuple[Node, ...]:
    """Flat nodes and markers -> nodes with `If` and `Foreach` blocks; stray and unclosed
    directives are errors located at the directive (an unclosed one at its opener)."""
    # each frame: the opener, finished branches (opener, condition, body), the current body
    stack: list[tuple[_Marker, list[Branch], _Marker, list[Node]]] = []
    root: list[Node] = []

    def body() -> list[Node]:
        return stack[-1][3] if stack else root

    for item in items:
        if not isinstance(item, _Marker):
            body().extend(item if isinstance(item, tuple) else (item,))
        elif item.kind in ("if", "foreach"):
            if len(stack) >= MAX_DEPTH:
                raise _syntax_error(
                    f"directives are nested more than {MAX_DEPTH} deep",
                    item.span,
                    "a template this deep is a mistake; close the blocks with #end",
                )
            stack.append((item, [], item, []))
        elif item.kind == "set":
            assert item.condition is not None
            body().append(Set(item.name, item.name_span or item.span, item.condition, item.span))
        elif item.kind == "break":
            body().append(Break(item.span))
        elif item.kind in ("elseif", "else"):
            _next_branch(stack, item)
        else:
            block = _close(stack, item)
            body().append(block)
    if stack:
        opener = stack[-1][0]
        raise _syntax_error(
            f"#{opener.kind} is never closed: expected #end",
            opener.span,
            "close each #if and #foreach with #end; " + _LITERAL_HASH_HINT,
        )
    return tuple(root)


def _next_branch(
    stack: list[tuple[_Marker, list[Branch], _Marker, list[Node]]], item: _Marker
) -> None:
    if not stack or stack[-1][0].kind != "if":
        raise _syntax_error(
            f"#{item.kind} outside an #if",
            item.span,
            "#elseif and #else belong between #if and #end",
        )
    opener, branches, arm, current = stack.pop()
    if arm.kind == "else":
        raise _syntax_error(
            f"#{item.kind} after #else", item.span, "#else is the last arm of an #if"
        )
    branches.append(Branch(arm.condition, tuple(current), arm.span))
    stack.append((opener, branches, item, []))


def _close(stack: list[tuple[_Marker, list[Branch], _Marker, list[Node]]], end: _Marker) -> Node:
    if not stack:
        raise _syntax_error(
            "#end without an #if or #foreach to close", end.span, _LITERAL_HASH_HINT
        )
    opener, branches, arm, current = stack.pop()
    span = Span(opener.span.start, end.span.end)
    if opener.kind == "foreach":
        assert opener.condition is not None
        return Foreach(
            opener.name,
            opener.name_span or opener.span,
            opener.condition,
            tuple(current),
            span,
            opener.span,
        )
    branches.append(Branch(arm.condition, tuple(current), arm.span))
    return If(tuple(branches), span)


def _shift(node: Any, offset: int) -> Any:
    """A node parsed from a string's inside, its spans moved to where the string stands."""
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        if isinstance(value, Span):
            changes[field.name] = Span(value.start + offset, value.end + offset)
        elif isinstance(value, tuple):
            changes[field.name] = tuple(_shift(each, offset) for each in value)
        elif field.name == "value_start":
            changes[field.name] = value + offset
    return dataclasses.replace(node, **changes)


class _Builder(Transformer[Token, Any]):
    """Called by the LALR parser on every reduction; returns nodes instead of a tree."""

    def start(self, children: list[Any]) -> tuple[Node, ...]:
        return _nest(children)

    def text(self, children: list[Token]) -> Text:
        (token,) = children
        span = _span(token)
        if token.type == "ESCAPED_DOLLAR":
            return Text("$", span, span.start + 1)
        if token.type in ("ESCAPED_DIRECTIVE", "BACKSLASHES_BEFORE_DIRECTIVE"):
            # Velocity 1.7: each pair of backslashes is one; an odd one makes the directive text
            backslashes = len(token) - len(str(token).lstrip("\\"))
            kept = backslashes // 2
            value = "\\" * kept + str(token)[backslashes:]
            return Text(value, span, span.end - len(value))
        return Text(str(token), span, span.start)

    # directives, as flat markers

    def if_open(self, children: list[Any]) -> _Marker:
        opener, condition, closer = children
        return _Marker("if", _directive_span(opener, closer), _shallow(condition))

    def elseif_open(self, children: list[Any]) -> _Marker:
        opener, condition, closer = children
        return _Marker("elseif", _directive_span(opener, closer), _shallow(condition))

    def else_(self, children: list[Token]) -> _Marker:
        return _Marker("else", _keyword_span(children[0]))

    def end(self, children: list[Token]) -> _Marker:
        return _Marker("end", _keyword_span(children[0]))

    def break_(self, children: list[Token]) -> _Marker:
        return _Marker("break", _keyword_span(children[0]))

    def foreach_open(self, children: list[Any]) -> _Marker:
        opener, (name, name_span), _, source, closer = children
        span = _directive_span(opener, closer)
        return _Marker("foreach", span, _shallow(source), name, name_span)

    def set_open(self, children: list[Any]) -> _Marker:
        opener, (name, name_span), _, value, closer = children
        return _Marker("set", _directive_span(opener, closer), _shallow(value), name, name_span)

    def loop_variable(self, children: list[Token]) -> tuple[str, Span]:
        opener, name = children
        _, span = _trimmed(opener)
        return str(name), Span(span.start, name.end_pos or 0)

    set_variable = loop_variable

    def other_directive(self, children: list[Token]) -> _Marker:
        text, span = _trimmed(children[0])
        name = text[1:].split("(")[0].strip(" \t{}")
        why = _LEFT_OUT.get(name)
        raise _syntax_error(
            f"#{name} is not a directive of the language"
            + (f" ({why})" if why else f": it knows {_DIRECTIVES}"),
            Span(span.start, span.start + 1 + len(name)),
            _LITERAL_HASH_HINT,
        )

    # expressions

    def logical(self, children: list[Any]) -> Binary:
        return self.comparison(children)

    def comparison(self, children: list[Any]) -> Binary:
        left, operator, right = children
        symbol = str(operator).strip(" \t\r\n")
        return Binary(
            _OPERATORS.get(symbol, symbol), left, right, Span(left.span.start, right.span.end)
        )

    def negation(self, children: list[Any]) -> Not:
        operator, operand = children
        _, span = _trimmed(operator)
        return Not(operand, Span(span.start, operand.span.end))

    def operand(self, children: list[Any]) -> Expression:
        _, inner, _ = children  # ( expression )
        return inner  # type: ignore[no-any-return]

    def string(self, children: list[Token]) -> Literal | Interpolated:
        text, span = _trimmed(children[0])
        if text.startswith("'"):
            return Literal(text[1:-1].replace("''", "'"), span)
        parts = []
        # (after a doubled quote, the positions inside the string are one character early)
        for node in parse(text[1:-1].replace('""', '"')):
            if not isinstance(node, (Text, Reference)):
                raise _syntax_error(
                    'a "…" string inside a directive takes text and references only',
                    _shift(node, span.start + 1).span,
                    "set a variable with #set before the directive and use it here",
                )
            parts.append(_shift(node, span.start + 1))
        return Interpolated(tuple(parts), span)

    def number(self, children: list[Token]) -> Literal:
        text, span = _trimmed(children[0])
        if len(text) > 18:
            raise _syntax_error(f"the number {shorten(text, 20)} is too long", span)
        return Literal(float(text) if "." in text else int(text), span)

    def boolean(self, children: list[Token]) -> Literal:
        text, span = _trimmed(children[0])
        return Literal(text == "true", span)

    def range_literal(self, children: list[Token]) -> Literal:
        _, span = _trimmed(children[0])
        raise _syntax_error(
            "range and list literals ([1..n], […]) are not part of the language",
            span,
            "loop over a list the chat or the connector holds, e.g. $chat.messages",
        )

    def method_call(self, children: list[Any]) -> Any:
        opener, (name, segments), call = children
        reference = self._reference(opener, name, segments, end=None, formal=False)
        if not segments or isinstance(segments[-1].key, int):
            # "$name(" is a reference followed by text, as in Velocity
            return (reference, Text("(", _span(call), call.start_pos or 0))
        raise _syntax_error(
            f"method calls are not part of the language: {reference}(…)",
            Span(segments[-1].span.start + 1, (call.end_pos or 0)),
            "a template reads values only; write ${…}( to put a '(' right after a value",
        )

    def comment(self, children: list[Token]) -> Comment:
        (token,) = children
        if token.type == "UNCLOSED_BLOCK_COMMENT":
            raise _syntax_error(
                "unterminated comment: expected '*#' to close '#*'",
                _span(token),
                "close the comment with '*#'; for a literal '#*' write '#[[#*]]#'",
            )
        return Comment(str(token), _span(token))

    def unparsed(self, children: list[Token]) -> Text:
        (token,) = children
        span = _span(token)
        if token.type == "UNCLOSED_UNPARSED":
            raise _syntax_error(
                "unterminated unparsed block: expected ']]#' to close '#[['",
                span,
                "close the block with ']]#'",
            )
        return Text(str(token)[3:-3], span, span.start + 3)

    def short_reference(self, children: list[Any]) -> Reference:
        opener, (name, segments) = children
        return self._reference(opener, name, segments, end=None, formal=False)

    def formal_reference(self, children: list[Any]) -> Reference:
        opener, (name, segments), closer = children
        return self._reference(opener, name, segments, end=closer, formal=True)

    @staticmethod
    def _reference(
        opener: Token, name: Token, segments: tuple[Segment, ...], end: Token | None, formal: bool
    ) -> Reference:
        stop = (
            (end.end_pos or 0)
            if end is not None
            else (segments[-1].span.end if segments else (name.end_pos or 0))
        )
        _, start = _trimmed(opener)  # inside a directive the opener takes white space
        return Reference(
            str(name),
            segments,
            quiet="!" in opener,
            formal=formal,
            span=Span(start.start, stop),
            name_span=_span(name),
        )

    def path(self, children: list[Any]) -> tuple[Token, tuple[Segment, ...]]:
        return children[0], tuple(children[1:])

    def member(self, children: list[Token]) -> Segment:
        dot, name = children
        return Segment(str(name), Span(dot.start_pos or 0, name.end_pos or 0))

    def index(self, children: list[Token]) -> Segment:
        left, number, right = children
        span = Span(left.start_pos or 0, right.end_pos or 0)
        if len(number) > 9:  # no list is that long, and Python refuses to convert very long numbers
            raise _syntax_error(f"list index {shorten(str(number), 20)} is too large", span)
        return Segment(int(number), span)

    def key(self, children: list[Token]) -> Segment:
        left, quoted, right = children
        return Segment(str(quoted)[1:-1], Span(left.start_pos or 0, right.end_pos or 0))


def _directive_span(opener: Token, closer: Token) -> Span:
    """``#if(…)`` from its ``#`` to its ``)``, without the white space either takes."""
    _, start = _trimmed(opener)
    return Span(start.start, _trimmed(closer)[1].start + 1)


@functools.cache
def _lark() -> Lark:
    return load_parser("template.lark", _Builder(), lexer="contextual", maybe_placeholders=False)


@functools.lru_cache(maxsize=4096)
def parse(source: str) -> tuple[Node, ...]:
    """Parse one template; raises `TemplateSyntaxError` (with ``.span``) on bad input.

    Nodes are immutable, so a fleet of connectors sharing headers and bodies parses each once."""
    try:
        nodes: tuple[Node, ...] = _lark().parse(source)  # type: ignore[assignment]  # the builder's result
    except UnexpectedInput as error:
        raise _translate(source, error) from None
    return nodes


def _translate(source: str, error: UnexpectedInput) -> TemplateSyntaxError:
    position = error.pos_in_stream or 0
    if isinstance(error, UnexpectedToken) and error.token.type == "$END":
        position = len(source)
    expected = _expected(error)
    opener = _open_reference(source, position)
    found = found_at(source, position).replace("the end of the text", "the end of the template")
    if opener is not None and expected == {"NAME"}:
        return _syntax_error(
            f"expected a variable name after '{source[opener:position]}', found {found}",
            Span(opener, max(position, opener + 1)),
            "write '\\${' for a literal '${'",
        )
    if expected & _EXPRESSION_TERMINALS:
        return _directive_error(source, position, expected)
    if opener is not None:
        words = " or ".join(sorted(_EXPECTED_WORDS.get(name, name) for name in expected))
        return _syntax_error(
            f"expected {words or 'the end of the reference'} "
            f"to close '{shorten(source[opener:position], 40)}', found {found}",
            Span(position, position + 1),
            "inside '${…}' write a name, then '.name', '[0]' or ['key'] steps, then '}'; "
            + _LITERAL_HINT,
        )
    return _syntax_error(f"unexpected {found}", Span(position, position + 1), _LITERAL_HINT)


_OPERAND_TERMINALS = frozenset({"X_SHORT_OPEN", "X_FORMAL_OPEN", "X_STRING", "X_NUMBER"})
_DIRECTIVE_OPENER = re.compile(r"#\{?(if|elseif|foreach|set)\}?[ \t]*\(")
_DIRECTIVE_HINTS = {
    "if": "a condition: #if($a == 'x' && !$b), with == != < > <= >= && || ! and parentheses",
    "elseif": "a condition: #elseif($a == 'x' && !$b), with == != < > <= >= && || ! and (…)",
    "foreach": "#foreach($m in $chat.messages): a variable, 'in', a list",
    "set": "#set($name = value): a reference, 'text', \"text with $refs\", a number, true or false",
}


def _directive_error(source: str, position: int, expected: set[str]) -> TemplateSyntaxError:
    """An error inside a directive's parentheses, worded for the directive it is in."""
    while position < len(source) and source[position] in " \t\r\n":
        position += 1  # the expression terminals take the white space before them
    found = found_at(source, position).replace("the end of the text", "the end of the template")
    if "ASSIGN" in expected:
        wanted = "'='"
    elif "IN" in expected:
        wanted = "'in'"
    elif expected & _OPERAND_TERMINALS:
        wanted = "a value (a reference, 'text', \"text\", a number, true or false)"
    else:
        wanted = "')' or an operator (== != < > <= >= && ||)"
    openers = list(_DIRECTIVE_OPENER.finditer(source, 0, position + 1))
    kind = openers[-1].group(1) if openers else "if"
    return _syntax_error(
        f"inside #{kind}(…): expected {wanted}, found {found}",
        Span(position, position + 1),
        _DIRECTIVE_HINTS[kind],
    )


def _expected(error: UnexpectedInput) -> set[str]:
    if isinstance(error, UnexpectedToken):
        return set(error.expected)
    if isinstance(error, UnexpectedCharacters):
        return set(error.allowed or ())
    return set()


def _open_reference(source: str, position: int) -> int | None:
    """The start of the ``${``/``$!{`` the error lies in, if it lies in one."""
    start = source.rfind("{", 0, position + 1)
    if start <= 0 or "}" in source[start:position]:
        return None
    if source[start - 1] == "$":
        return start - 1
    if source[start - 1] == "!" and start >= 2 and source[start - 2] == "$":
        return start - 2
    return None
