"""JSON as RFC 8259 means it, read with Python's `json` but without its extensions.

Python's reader accepts ``NaN`` and ``Infinity``, turns ``1e999`` into ``inf`` and reads
integers of any length; each of those breaks a later step (a float conversion overflows, ``str()``
of a 5,000-digit integer raises, a re-encoded ``Infinity`` is no longer JSON). `loads` refuses them
at the door with a `NumberError`, so every reader of outside JSON (a chat, a token answer) can turn
it into its own clean error.
"""

from __future__ import annotations

import json
import math
from typing import NoReturn

__all__ = ["MAX_INTEGER_DIGITS", "NumberError", "loads", "loads_with_pairs"]

MAX_INTEGER_DIGITS = 300
"""Longer integers are refused: they cannot become a finite double (the limit is ~1.8e308), and no
id, count or timestamp needs them."""


class NumberError(ValueError):
    """A number JSON allows but no consumer can use, or a constant JSON does not have.

    The message names the number (shortened) and why; it never carries more of the text. ``literal``
    is the number as written, for a caller that can point at it (a template's own text).
    """

    def __init__(self, message: str, literal: str) -> None:
        super().__init__(message)
        self.literal = literal


def loads(text: str) -> object:
    """Decode ``text``; raises `json.JSONDecodeError`, `NumberError` or `RecursionError`."""
    return json.loads(
        text, parse_constant=_refuse_constant, parse_int=_integer, parse_float=_finite_float
    )


def loads_with_pairs(text: str) -> tuple[object, list[tuple[str, object]]]:
    """`loads`, and every name-value pair of every object in ``text``, a repeated name's every
    value included (the decoded object keeps only the last): a reader that must know every value
    (the redactor, of a token answer) cannot take them from the object alone."""
    pairs: list[tuple[str, object]] = []

    def keep(found: list[tuple[str, object]]) -> dict[str, object]:
        pairs.extend(found)
        return dict(found)

    value = json.loads(
        text,
        object_pairs_hook=keep,
        parse_constant=_refuse_constant,
        parse_int=_integer,
        parse_float=_finite_float,
    )
    return value, pairs


def _refuse_constant(name: str) -> NoReturn:
    raise NumberError(f"{name} is not a JSON number", name)


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise NumberError(
            f"a number of {len(digits.lstrip('-'))} digits is too long"
            f" (at most {MAX_INTEGER_DIGITS})",
            digits,
        )
    return int(digits)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 24 else text[:21] + "..."
        raise NumberError(f"{shown} is out of range for a number", text)
    return value
