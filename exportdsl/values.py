"""How values are looked up and turned into text at render time (DESIGN §3, last paragraph).

A string renders as is, a number in decimal, a boolean as true/false, an object or list as JSON;
null is an error unless the reference is quiet. Lookups only walk mappings, lists and `TextValue`
fields, never Python attributes, so a template can never reach into interpreter internals.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from jinja2 import Undefined  # what Jinja passes for a name the render context does not hold

from exportdsl.errors import RenderError
from exportdsl.nodes import format_path


class TextValue(str):
    """A string that also has named parts: ``$tokenResponse.body`` is the raw answer and
    ``$tokenResponse.body.JSON`` its parse; ``$xmlTemplate`` is text with ``.encoded.base64``."""

    __slots__ = ("fields",)
    fields: Mapping[str, Any]

    def __new__(cls, text: str, fields: Mapping[str, Any]) -> TextValue:
        value = super().__new__(cls, text)
        value.fields = fields
        return value


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def step(value: Any, key: str | int) -> Any:
    """One path step; `MISSING` when there is nothing there."""
    if isinstance(value, TextValue):
        return value.fields.get(key, MISSING) if isinstance(key, str) else MISSING
    if isinstance(value, Mapping):
        return value.get(key, MISSING)
    if isinstance(key, int) and isinstance(value, Sequence) and not isinstance(value, str):
        return value[key] if -len(value) <= key < len(value) else MISSING
    return MISSING


def lookup(head: Any, path: tuple[str | int, ...], quiet: bool) -> Any:
    """The value at ``path`` (head name first) given the head's value; ``None`` for a quiet
    reference to nothing. A miss names the full path and the first missing segment."""
    value = MISSING if isinstance(head, Undefined) else head
    depth = 0
    while value is not MISSING and depth < len(path) - 1:
        depth += 1
        value = step(value, path[depth]) if value is not None else MISSING
    if value is MISSING:
        if quiet:
            return None
        raise RenderError(_missing_message(path, depth), hint=f"write $!{{{format_path(path)}}} if it "
                          "may be missing")
    if value is None and not quiet:
        raise RenderError(f"${format_path(path)} is null",
                          hint=f"write $!{{{format_path(path)}}} to render null as nothing")
    return value


def _missing_message(path: tuple[str | int, ...], depth: int) -> str:
    full = format_path(path)
    if depth == 0:
        return f"${full}: there is no variable {path[0]!r}"
    segment = format_path(("", path[depth]))
    return f"${full}: {format_path(path[:depth])} has no {segment.lstrip('.')!r}"


def to_text(value: Any) -> str:
    """The text of a value as DESIGN §3 says; ``None`` (quiet) is the empty string."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _decimal(value)
    return to_json(value)


def _decimal(number: float) -> str:
    if not math.isfinite(number):
        raise RenderError(f"{number} is not a number a request can carry")
    text = repr(number)
    return format(Decimal(text), "f") if "e" in text or "E" in text else text


def to_json(value: Any) -> str:
    """A value as a JSON value (compact, UTF-8 kept); ``None`` is ``null``."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                          default=_json_default)
    except ValueError as error:
        raise RenderError(f"cannot render as JSON: {error}") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence):
        return list(value)
    raise RenderError(f"cannot render a {type(value).__name__} as JSON")
