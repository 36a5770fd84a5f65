"""jtel's literal form of connector pdata, ``{name:'John Doe', email:'john.doe@example.com'}``:
parsed with Lark LALR over `grammar/pdata.lark` into (key, value, key span) entries."""

from __future__ import annotations

import functools
import re
from typing import Any

from lark import Lark, Transformer

from exportdsl.errors import ConfigError
from exportdsl.language.grammar import load_parser
from exportdsl.source import Span

__all__ = ["depth", "parse_pdata"]


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
