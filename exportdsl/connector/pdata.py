"""Connector pdata, as a YAML mapping or in jtel's literal form,
``{name:'John Doe', email:'john.doe@example.com'}``: the literal is parsed with Lark LALR over
`grammar/pdata.lark` into (key, value, key span) entries."""

from __future__ import annotations

import functools
import re
from typing import Any

from lark import Lark, Transformer
from lark.exceptions import UnexpectedInput
from yaml.nodes import MappingNode, Node, ScalarNode

from exportdsl.connector.shape import MAX_DEPTH, STR, ShapeReader, describe
from exportdsl.connector.yamlsource import node_location, scalar_map, source_text, yaml_quoted
from exportdsl.errors import ConfigError, Diagnostic, ExportDslError
from exportdsl.language.grammar import load_parser
from exportdsl.source import Location, Span, found_at

__all__ = ["PdataReader", "depth", "parse_pdata"]


def parse_pdata(text: str) -> list[tuple[str, Any, Span]]:
    """The top-level entries; raises Lark's `UnexpectedInput`, or `ConfigError` with a span."""
    entries: list[tuple[str, Any, Span]] = _pdata_parser().parse(text)  # type: ignore[assignment]
    return entries


def depth(value: Any) -> int:
    """How deeply lists and mappings nest (without recursion: the input may nest thousands deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


class _Pairs(list[tuple[str, Any, Span]]):
    """An object literal's pairs, with the span of each key (kept for positions)."""

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value, _ in self}


def _plain(value: Any) -> Any:
    return value.as_dict() if isinstance(value, _Pairs) else value


class _PdataBuilder(Transformer[Any, Any]):
    def start(self, children: list[Any]) -> _Pairs:
        pairs: _Pairs = children[0]
        return pairs

    def object(self, children: list[Any]) -> _Pairs:
        pairs = _Pairs(pair for pair in children if pair is not None)
        seen: set[str] = set()
        for key, _, span in pairs:
            if key in seen:
                raise ConfigError(f"duplicate key {key!r}", span=span)
            seen.add(key)
        return pairs

    def pair(self, children: list[Any]) -> tuple[str, Any, Span]:
        (key, span), value = children
        return key, _plain(value), span

    def key(self, children: list[Any]) -> tuple[str, Span]:
        (token,) = children
        text = str(token)
        span = Span(token.start_pos or 0, token.end_pos or 0)
        return (_unquote(text) if token.type == "STRING" else text), span

    def string(self, children: list[Any]) -> str:
        return _unquote(str(children[0]))

    def number(self, children: list[Any]) -> int | float:
        token = children[0]
        text = str(token)
        try:
            return float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:  # more digits than Python converts
            raise ConfigError(
                f"number too long ({len(text)} digits)",
                span=Span(token.start_pos or 0, token.end_pos or 0),
            ) from None

    def true(self, _: list[Any]) -> bool:
        return True

    def false(self, _: list[Any]) -> bool:
        return False

    def null(self, _: list[Any]) -> None:
        return None

    def array(self, children: list[Any]) -> list[Any]:
        return [_plain(item) for item in children if item is not None]


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0"}


def _unquote(quoted: str) -> str:
    """A JavaScript string literal's value: \\n, \\uXXXX and friends; any other \\x is x."""

    def escape(match: re.Match[str]) -> str:
        code = match.group(1)
        return chr(int(code[1:], 16)) if len(code) == 5 else _ESCAPES.get(code, code)

    return re.sub(r"\\(u[0-9A-Fa-f]{4}|.)", escape, quoted[1:-1])


@functools.cache
def _pdata_parser() -> Lark:
    return load_parser("pdata.lark", _PdataBuilder(), maybe_placeholders=True)


# The end of a string that swallowed the start of the next pair: `'John Doe, email:`.
_SWALLOWED_PAIR = re.compile(r",\s*[A-Za-z_$][A-Za-z0-9_$-]*\s*:\s*\Z")


def _unclosed_quote(literal: str) -> tuple[int, str, str] | None:
    """Where a string of a literal that does not parse was opened but not closed (the offset of
    its quote, what happened, a hint): a quote that never closes, or one whose string runs on into
    the next pair (``{name:'John Doe, email:'j@x'}``: the quote meant to open email's value closed
    name's). Lark would point at the text after it, far from the mistake."""
    position = 0
    while (opened := _next_quote(literal, position)) is not None:
        quote = literal[opened]
        closed = _closing_quote(literal, opened)
        if closed is None:
            return (
                opened,
                f"the {quote} opened here is never closed",
                f"close the string with a {quote}",
            )
        content = literal[opened + 1 : closed]
        swallowed = _SWALLOWED_PAIR.search(content)
        if swallowed is not None:
            value, next_pair = content[: swallowed.start()], content[swallowed.start() :].strip()
            return (
                opened,
                f"the {quote} opened here closes only after {next_pair!r}",
                f"a {quote} is missing before the ',': {quote}{value}{quote}",
            )
        position = closed + 1
    return None


def _next_quote(literal: str, start: int) -> int | None:
    found = [at for at in (literal.find("'", start), literal.find('"', start)) if at >= 0]
    return min(found) if found else None


def _closing_quote(literal: str, opened: int) -> int | None:
    """The index of the quote that closes the string opened at ``opened`` (escapes skipped), as
    the grammar's STRING reads it; None when the line ends first."""
    quote, at = literal[opened], opened + 1
    while at < len(literal):
        char = literal[at]
        if char == "\\":
            at += 2
            continue
        if char == quote:
            return at
        if char == "\n":
            return None
        at += 1
    return None


# `name:'John Doe'`: a key glued to its value by ':' without a space, which YAML reads as one key.
_NULL = "tag:yaml.org,2002:null"
_GLUED_PAIR = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*:\S")


def _jtel_pairs_read_as_keys(node: MappingNode) -> bool:
    """jtel's literal pasted without quotes: ``pdata: {name:'John Doe'}`` is, to YAML, a mapping
    whose key is ``name:'John Doe'`` and whose value is null. No one means such a key."""
    return bool(node.flow_style) and _glued_key(node) is not None


def _glued_key(node: MappingNode) -> str | None:
    for key, value in node.value:
        if (
            isinstance(key, ScalarNode)
            and not key.style  # plain: None from PyYAML, '' from libyaml
            and _GLUED_PAIR.match(key.value)
            and isinstance(value, ScalarNode)
            and value.tag == _NULL
            and value.value == ""
        ):
            return str(key.value)
    return None


def _quote_it(node: Node, text: str) -> str:
    """The literal as jtel means it, quoted for YAML; or, when it is no valid literal either, the
    YAML mapping it was probably meant to be (a space after each key's ':')."""
    written = source_text(node, text)
    if written is None:
        return "quote jtel's literal whole: pdata: \"{name:'John Doe'}\""
    try:
        parse_pdata(written)
    except (UnexpectedInput, ExportDslError):
        spaced = _KEY_COLON.sub(r"\1: ", written)
        return f"YAML needs a space after each ':': pdata: {spaced}"
    return f"quote jtel's literal whole: pdata: {yaml_quoted(written)}"


_KEY_COLON = re.compile(r"([{,]\s*[A-Za-z_$][A-Za-z0-9_$-]*):(?=\S)")


class PdataReader(ShapeReader):
    """Reads ``pdata:``, either form, into values and the location of each key."""

    def pdata(self, node: Node | None) -> tuple[dict[str, Any], dict[str, Location]]:
        if node is None:
            return {}, {}
        if isinstance(node, ScalarNode) and node.tag == STR:
            return self.pdata_literal(node)
        if not isinstance(node, MappingNode):
            self.fail(
                f"pdata must be a mapping or jtel's literal text, not {describe(node)}",
                node,
                "pdata: {name: John Doe} or pdata: \"{name:'John Doe'}\"",
            )
            return {}, {}
        if _jtel_pairs_read_as_keys(node):
            self.fail(
                "pdata: YAML read jtel's literal as keys without values "
                f"({_glued_key(node)!r} is one key)",
                node,
                _quote_it(node, self.index.text),
            )
            return {}, {}
        values: dict[str, Any] = {}
        locations: dict[str, Location] = {}
        for key_node, value_node in node.value:
            key = (
                key_node.value if isinstance(key_node, ScalarNode) and key_node.tag == STR else None
            )
            if key is None or key in values:
                self.fail(
                    "duplicate pdata key" if key in values else "pdata keys must be text", key_node
                )
                continue
            values[key] = self.data(value_node, 1)
            locations[key] = node_location(key_node, self.file)
        return values, locations

    def pdata_literal(self, node: ScalarNode) -> tuple[dict[str, Any], dict[str, Location]]:
        origin = scalar_map(node, self.file, self.index)
        try:
            parsed = parse_pdata(node.value)
        except UnexpectedInput as error:
            position = error.pos_in_stream or 0
            unclosed = _unclosed_quote(node.value)
            if unclosed is not None:
                opened, problem, hint = unclosed
                self.diagnostics.append(
                    Diagnostic(
                        ConfigError.code,
                        f"pdata literal: {problem}",
                        origin.location(Span(opened, opened + 1)),
                        hint,
                    )
                )
                return {}, {}
            location = origin.location(Span(position, position + 1))
            self.diagnostics.append(
                Diagnostic(
                    ConfigError.code,
                    f"pdata literal: unexpected {found_at(node.value, position)}",
                    location,
                    "write it as {name:'John Doe', email:'john@example.com'}",
                )
            )
            return {}, {}
        except ExportDslError as error:
            self.diagnostics.append(
                Diagnostic(
                    ConfigError.code,
                    f"pdata literal: {error.message}",
                    origin.location(error.span) if error.span else None,
                )
            )
            return {}, {}
        values = {key: value for key, value, _ in parsed}
        if depth(values) > MAX_DEPTH:
            self.diagnostics.append(
                Diagnostic(
                    ConfigError.code,
                    f"pdata is nested deeper than {MAX_DEPTH} levels",
                    origin.location(Span(0, 1)),
                )
            )
            return {}, {}
        return values, {key: origin.location(span) for key, _, span in parsed}
