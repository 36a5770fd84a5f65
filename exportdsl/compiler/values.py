"""How values are looked up and turned into text at render time (docs/design.md §3.4).

A string renders as is, a number in decimal, a boolean as true/false, an object or list as JSON;
null is an error unless the reference is quiet. Lookups only walk mappings, lists and `TextValue`
fields, never Python attributes, so a template can never reach into interpreter internals.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from itertools import islice
from typing import Any

from exportdsl.errors import MissingValue, RenderError, closest
from exportdsl.language.nodes import format_path

__all__ = [
    "MISSING",
    "SafeText",
    "StandIn",
    "TextValue",
    "describe_missing",
    "hole_function",
    "list_names",
    "looks_like_a_name",
    "step",
    "to_json",
    "to_text",
]


_SHOWN_KEYS = 20  # names of the value where a path broke off, in a missing value's hint
_KEPT_KEYS = 1000  # of a value with more names, the first ones are matched and shown
_NAME_SHAPE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[_.-][A-Za-z0-9]+)*\Z")
_NAME_LENGTH, _NAME_DIGITS, _NAME_WORD = 32, 3, 16
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
# Sources of credentials: a quiet reference to one would send an empty credential without a word
# (`Bearer ` for ever), so no hint suggests one for them.
_CREDENTIAL_SOURCES = frozenset({"tokenResponse", "env"})
_TOKEN_FIELD_HINT = (
    "check the name against what the token endpoint answers "
    "(`exportdsl render --token-response FILE` renders with a saved answer)"
)


class TextValue(str):
    """A string that also has named parts: ``$tokenResponse.body`` is the raw answer and
    ``$tokenResponse.body.JSON`` its parse; ``$xmlTemplate`` is text with ``.encoded.base64``."""

    __slots__ = ("fields",)
    fields: Mapping[str, Any]

    def __new__(cls, text: str, fields: Mapping[str, Any]) -> TextValue:
        value = super().__new__(cls, text)
        value.fields = fields
        return value


class StandIn(TextValue):
    """A value only a real export knows, in a dry run: ``<tokenResponse.body.JSON.access_token>``.

    Where a URL needs an origin it stands as one in RFC 2606's never-resolving ``.invalid`` domain
    (``https://tokenresponse.body.json.instance_url.invalid``), so the dry run shows the path and
    query the export would send instead of stopping at a value that is not an origin."""

    __slots__ = ()

    @property
    def host(self) -> str:
        return f"{self[1:-1]}.invalid"


class SafeText:
    """Text we produced ourselves with a known alphabet (base64, our timestamp format).

    Only such text (and ints) may skip escaping where its alphabet is safe; the check is its type,
    so a plain string a caller passes for ``$report`` or ``$dateTime`` is escaped like any other.
    A wrapper, not a str subclass: ``str()`` of a subclass copies, and a report is 100 KB of
    base64."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __format__(self, spec: str) -> str:
        return format(self.text, spec)

    def __eq__(self, other: object) -> bool:
        return self.text == (other.text if isinstance(other, SafeText) else other)

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"SafeText({self.text[:40]!r}{'…' if len(self.text) > 40 else ''})"


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()  # also what the render context answers for a variable it does not hold


def step(value: Any, key: str | int) -> Any:
    """One path step; `MISSING` when there is nothing there."""
    if isinstance(value, TextValue):
        return value.fields.get(key, MISSING) if isinstance(key, str) else MISSING
    if isinstance(value, Mapping):
        return value.get(key, MISSING)
    if isinstance(key, int) and isinstance(value, Sequence) and not isinstance(value, str):
        return value[key] if -len(value) <= key < len(value) else MISSING
    return MISSING


def hole_function(
    finish: Callable[[Any], Any],
) -> Callable[[Any, tuple[str | int, ...], bool, int], Any]:
    """Lookup fused with ``finish`` (an escaper) into the one call a hole makes per render.

    ``head`` is the value of the reference's first name, ``rest`` the path below it. Plain dicts
    take a fast path; anything unusual takes `step`. A quiet miss hands ``None`` to ``finish``; a
    loud one raises `MissingValue`, and any `RenderError` leaves tagged with the hole's number.
    """

    def hole(head: Any, rest: tuple[str | int, ...], quiet: bool, number: int) -> Any:
        value = head
        for key in rest:
            kind = type(value)
            if kind is dict:
                value = value.get(key, MISSING)
            elif kind is TextValue:
                value = value.fields.get(key, MISSING)
            else:
                value = step(value, key)
        try:
            if value is MISSING or value is None:
                value = _nothing(head, rest, quiet)  # raises unless quiet
            return finish(value)
        except RenderError as error:
            error.hole = number
            raise

    return hole


def describe_missing(
    error: MissingValue, path: tuple[str | int, ...], *, credential: bool = False
) -> RenderError:
    """The message for a missing value, now that the reference's full ``path`` is known;
    ``credential``: the value fills a credential (an Authorization header, ``auth``)."""
    full = format_path(path)
    hint = _fallback_hint(path, error.null, credential)
    if error.null:
        where = format_path(path[: error.depth])
        message = f"${full}: {where} is null" if where != full else f"${full} is null"
        return RenderError(message, hint=hint)
    if path[0] == "env" and error.depth == 1 and len(path) == 2:
        return RenderError(
            f"${full}: the environment variable {path[1]} is not set",
            hint=f"set {path[1]} where the export runs; `exportdsl check --env` finds these first",
        )
    if error.depth == 0:
        return RenderError(f"${full}: there is no variable {path[0]!r}", hint=hint)
    segment = format_path(("", path[error.depth])).lstrip(".")
    # the environment's names are nobody's business, and a variable's names are compile-checked
    keys = error.keys if path[0] != "env" and error.depth > 1 else ()
    return RenderError(
        f"${full}: {format_path(path[: error.depth])} has no {segment!r}",
        hint=_keys_hint(path[error.depth], keys, hint),
    )


def _fallback_hint(path: tuple[str | int, ...], null: bool, credential: bool) -> str:
    """What to do about a missing value: a quiet reference for a chat value that may be missing;
    never for a credential's source, where it would send an empty credential silently."""
    if path[0] == "tokenResponse":
        if null:
            return "the token endpoint answered null for it: no credential is sent empty"
        return _TOKEN_FIELD_HINT
    if path[0] == "env":
        return "set it where the export runs; `exportdsl check --env` finds unset variables first"
    if credential:
        return "it fills a credential, which is never sent empty: take the credential from $env"
    return f"write $!{{{format_path(path)}}} if it may be missing"


def _keys_hint(missing: str | int, keys: tuple[str, ...], hint: str) -> str:
    """A "did you mean" and the names the value has, when it has any: a misspelt field of a
    token answer (``acess_token``) is found without the answer, which no output shows. With a
    "did you mean", nothing else is suggested: a quiet reference would hide the misspelling."""
    if not keys:
        return hint
    listed = list_names(keys, _SHOWN_KEYS)
    names = [key for key in keys if looks_like_a_name(key)]
    close = closest(missing, names) if isinstance(missing, str) else None
    if close:
        return f"did you mean {close}? it has: {listed}"
    return f"it has: {listed}; {hint}"


def looks_like_a_name(name: str) -> bool:
    """Whether a field name of a value we did not write (a token answer, a chat's variables) may be
    shown: a short identifier (at most 32 characters of letters, digits, ``_``, ``.``, ``-``,
    starting with a letter), with at most 3 digits and no word of more than 16 letters (a word
    ends at a separator or a change of case). Secrets and tokens seldom look like that, and a
    server may put one in a name (``{"PLAINSECRETTOKENVALUE": 1}``); a registered secret that does
    look like a name is still redacted where the message leaves the export."""
    return (
        len(name) <= _NAME_LENGTH
        and _NAME_SHAPE.match(name) is not None
        and sum(character.isdigit() for character in name) <= _NAME_DIGITS
        and all(len(word) <= _NAME_WORD for word in _WORD.findall(name))
    )


def list_names(names: Sequence[str], most: int) -> str:
    """Up to ``most`` of ``names`` that look like names (`looks_like_a_name`), the others counted,
    never shown: "a, b and 2 other fields"."""
    shown = [name for name in names if looks_like_a_name(name)][:most]
    others = len(names) - len(shown)
    if not others:
        return ", ".join(shown)
    counted = f"{others} other field{'s' if others > 1 else ''}"
    return f"{', '.join(shown)} and {counted}" if shown else counted


def _keys_of(value: Any) -> tuple[str, ...]:
    """The names a value that a path step went through has (never its values)."""
    if isinstance(value, TextValue):
        value = value.fields
    if isinstance(value, Mapping):
        return tuple(str(key) for key in islice(value, _KEPT_KEYS))
    return ()


def _nothing(head: Any, rest: tuple[str | int, ...], quiet: bool) -> Any:
    """A quiet miss is None; otherwise find where the path broke off, for the error message."""
    if quiet:
        return None
    if head is MISSING:
        raise MissingValue(0, null=False)
    value, depth = head, 0
    while value is not None and depth < len(rest):
        container, value = value, step(value, rest[depth])
        if value is MISSING:
            raise MissingValue(depth + 1, null=False, keys=_keys_of(container))
        depth += 1
    raise MissingValue(depth + 1, null=True)


def to_text(value: Any) -> str:
    """The text of a value as docs/design.md §3.4 says; ``None`` (quiet) is the empty string."""
    if isinstance(value, str):
        return value
    if type(value) is SafeText:
        return value.text
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
        return _ENCODER.encode(value)
    except (ValueError, RecursionError) as error:
        raise RenderError(f"cannot render as JSON: {error}") from None


def _json_default(value: Any) -> Any:
    if type(value) is SafeText:  # $report as a whole object, say
        return value.text
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence):
        return list(value)
    raise RenderError(f"cannot render a {type(value).__name__} as JSON")


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default
)
