"""Template text -> typed nodes, with Lark LALR over `grammar/template.lark`.

The grammar stays data; this module turns Lark's tokens into `nodes` as the parser reduces (an
inline transformer, so no parse tree is built) and turns Lark's errors into `TemplateSyntaxError`s
that say what was expected, where, and how to write the text literally.
"""

from __future__ import annotations

import functools
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from exportdsl.errors import TemplateSyntaxError
from exportdsl.language.grammar import load_parser
from exportdsl.language.nodes import Comment, Node, Reference, Segment, Text
from exportdsl.source import Span, found_at, shorten

__all__ = ["parse"]

# What a user calls the terminals that an error message says were expected.
_EXPECTED_WORDS = {
    "NAME": "a variable name (a letter, then letters, digits or _)",
    "FORMAL_CLOSE": "'}'",
    "RBRACKET": "']'",
    "DOT": "'.'",
    "LBRACKET": "'['",
    "INDEX": "a list index",
    "KEY": "a quoted key",
}
_LITERAL_HINT = "to write a literal '$', escape it as '\\$'"


def _span(token: Token) -> Span:
    return Span(token.start_pos or 0, token.end_pos or 0)


def _syntax_error(message: str, span: Span, hint: str | None = None) -> TemplateSyntaxError:
    return TemplateSyntaxError(message, span=span, hint=hint)


class _Builder(Transformer[Token, Any]):
    """Called by the LALR parser on every reduction; returns nodes instead of a tree."""

    def start(self, children: list[Node]) -> tuple[Node, ...]:
        return tuple(children)

    def text(self, children: list[Token]) -> Text:
        (token,) = children
        span = _span(token)
        if token.type == "ESCAPED_DOLLAR":
            return Text("$", span, span.start + 1)
        return Text(str(token), span, span.start)

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
        return Reference(
            str(name),
            segments,
            quiet="!" in opener,
            formal=formal,
            span=Span(opener.start_pos or 0, stop),
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
