"""What no request can carry, found in a field's literal text at compile time (docs/design.md §8.4).

A line break in a header, white space or a control character in a URL, a URL that does not start
with ``http(s)://host`` (or with a reference that is the whole origin), a form whose last value
ends with the line break of a ``|`` block: each would make every export fail, or send something
the author did not mean, so each is a compile error at its position (XD212, XD213, XD214).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from exportdsl.compiler import rules
from exportdsl.compiler.problem import Problem
from exportdsl.language.nodes import Node, Reference, Text
from exportdsl.source import Span

__all__ = ["DOT_SEGMENT", "form_flaws", "header_flaws", "url_flaws"]

_BLOCK_HINT = "a `|` block ends with a line break: write `|-` or `>-`, or put it on one line"
_CONTROL_HINT = "remove it (a YAML escape such as \\x1b, or pasted text, can bring one in)"


@dataclass(frozen=True, slots=True)
class _Piece:
    """One character of literal output, or a hole (``char`` is None), with its source offset."""

    char: str | None
    at: int
    reference: Reference | None = None


def _pieces(nodes: tuple[Node, ...]) -> list[_Piece]:
    """The field's output as it goes out: literal characters and holes; comments produce nothing."""
    pieces: list[_Piece] = []
    for node in nodes:
        if isinstance(node, Text):
            pieces.extend(_Piece(char, node.value_start + i) for i, char in enumerate(node.value))
        elif isinstance(node, Reference):
            pieces.append(_Piece(None, node.span.start, node))
    return pieces


_LINE_BREAKS = "\r\n\x85\u2028\u2029"  # YAML's line breaks


def _describe(char: str) -> str:
    """The character in words: its kind, and for the less known ones its code and name."""
    if char in _LINE_BREAKS:
        return "a line break"
    if char == " ":
        return "a space"
    if char == "\\":
        return "a backslash"
    if unicodedata.category(char) == "Cc":
        return f"the control character U+{ord(char):04X}"
    kind = "white space" if char.isspace() else "an invisible character"
    name = unicodedata.name(char, "")
    return f"{kind} (U+{ord(char):04X}{' ' + name if name else ''})"


def _block_tail(pieces: list[_Piece], index: int) -> bool:
    """Whether ``pieces[index]`` is the line feed a `|` block ends with: a block's final line
    break is always LF (U+2028 or CR there was written in quotes), and only white space follows."""
    return pieces[index].char == "\n" and _at_end(pieces, index + 1)


def _is_space(char: str | None) -> bool:
    return char is not None and char.isspace()


def _at_end(pieces: list[_Piece], index: int) -> bool:
    """Whether only white space follows ``pieces[index]``: the tail a `|` block adds."""
    return all(_is_space(piece.char) for piece in pieces[index:])


def _first_unsendable(
    pieces: list[_Piece], unsendable: Callable[[str], bool], code: str, field: str, hint: str
) -> Problem | None:
    """The first literal character no request can carry in ``field``, with the hint for its
    kind: a control character, the line break a `|` block adds, or any other (``hint``)."""
    for index, piece in enumerate(pieces):
        if piece.char is not None and unsendable(piece.char):
            if not piece.char.isprintable() and piece.char not in _LINE_BREAKS:
                hint = _CONTROL_HINT
            elif _block_tail(pieces, index):
                hint = _BLOCK_HINT
            return Problem(
                code,
                f"{field} holds {_describe(piece.char)}, which no request can carry",
                Span(piece.at, piece.at + 1),
                hint,
            )
    return None


# -- headers -----------------------------------------------------------------------------------

_HEADER_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")  # TAB is allowed


def header_flaws(nodes: tuple[Node, ...]) -> Iterator[Problem]:
    """A line break or another control character in a header's literal text (XD212); the first."""
    problem = _first_unsendable(
        _pieces(nodes),
        lambda char: _HEADER_FORBIDDEN.match(char) is not None,
        rules.LINE_BREAK_IN_HEADER.code,
        "the header's text",
        "a header value is one line: no request can carry a line break in it",
    )
    if problem is not None:
        yield problem


# -- URLs --------------------------------------------------------------------------------------

_SCHEME = re.compile(r"(?i)https?://")
DOT_SEGMENT = re.compile(r"/\.{1,2}(?=[/?#]|\Z)")
"""A ``.`` or ``..`` path segment before the query or fragment: RFC 3986 removes it (httpx does).
In a field's literal text (holes as NUL) it is one no value can change; the plan looks for it in
every rendered URL too."""
_PATH_START = "/?#"


def url_flaws(nodes: tuple[Node, ...]) -> Iterator[Problem]:
    """White space or a control character in a URL's literal text, or a start that is neither
    ``http(s)://`` and a host nor a reference that is the whole origin (XD213); the first."""
    pieces = _pieces(nodes)
    problem = _first_unsendable(
        pieces,
        # a backslash is a '/' to WHATWG parsers (browsers, many proxies), not to httpx: the two
        # read `http://a\\@b/` as different hosts
        lambda char: char.isspace() or not char.isprintable() or char == "\\",
        rules.MALFORMED_URL.code,
        "the URL's text",
        "percent-encode it (a space is %20), or remove it",
    )
    if problem is not None:
        yield problem
        return
    start = _start_flaw(pieces)
    if start is not None:
        yield start
        return
    literal = "".join(piece.char or "\0" for piece in pieces)
    scheme = _SCHEME.match(literal)
    dots = DOT_SEGMENT.search(literal, scheme.end() if scheme else 0)
    if dots is not None:
        at = pieces[dots.start() + 1].at
        yield Problem(
            rules.MALFORMED_URL.code,
            "the URL's path has a '.' or '..' segment, which the client would remove",
            Span(at, at + len(dots.group()) - 1),
            "write the path the back end means, without dot segments",
        )


def _start_flaw(pieces: list[_Piece]) -> Problem | None:
    if not pieces:
        return Problem(rules.MALFORMED_URL.code, "the URL is empty", Span(0, 1), None)
    if pieces[0].char is None:
        return _origin_reference_flaw(pieces)
    literal = "".join(piece.char or "\0" for piece in pieces)
    scheme = _SCHEME.match(literal)
    if scheme and scheme.end() < len(literal) and literal[scheme.end()] not in _PATH_START:
        # http(s):// and a host (literal, or a reference the compiler checks)
        return _port_flaw(literal, scheme.end(), pieces)
    return Problem(
        rules.MALFORMED_URL.code,
        "the URL must start with http:// or https:// and a host",
        Span(pieces[0].at, pieces[0].at + 1),
        _start_hint(literal),
    )


_LITERAL_PORT = re.compile(r"(?:\[[^\]/?#\0]*\]|[^\[\]:/?#@]*):([^/?#\0]*)(?=[/?#]|\Z)")


def _port_flaw(literal: str, start: int, pieces: list[_Piece]) -> Problem | None:
    """A literal port out of 1 to 65535, or not a number (XD213): a client would connect to another
    port (99999 is 34463 modulo 65536) or refuse the URL at every export. A port with a reference
    in it is checked at every render."""
    authority = literal[start:]
    authority = authority[authority.rfind("@", 0, _end_of_authority(authority)) + 1 :]
    offset = len(literal) - len(authority)
    port = _LITERAL_PORT.match(authority)
    if port is None or not port.group(1):
        return None
    digits = port.group(1)
    if digits.isascii() and digits.isdigit() and 0 < int(digits) <= 65535:
        return None
    at = pieces[offset + port.start(1)].at
    return Problem(
        rules.MALFORMED_URL.code,
        "the URL's port must be a number from 1 to 65535",
        Span(at, at + len(digits)),
        "a client would connect to another port (the number modulo 65536), or to none"
        if digits.isdigit()
        else "write the port in digits after the host's ':', or leave it out",
    )


def _end_of_authority(rest: str) -> int:
    """Where a URL's authority ends: at the first '/', '?' or '#', or at the end."""
    return next((i for i, char in enumerate(rest) if char in _PATH_START), len(rest))


def _start_hint(literal: str) -> str:
    lowered = literal.lower()
    if scheme := _SCHEME.match(lowered):
        return "the host is missing after " + repr(lowered[: scheme.end()])
    if lowered.startswith("//"):
        return "add the scheme: https:" + literal.split("\0")[0][:40]
    if re.match(r"https?:/?(?!/)", lowered):
        return "write two slashes after the scheme: https://host/…"
    if re.match(r"[a-z][a-z0-9+.-]*://", lowered):
        return "only http and https can carry the export"
    return "add the scheme: https://" + literal.split("\0")[0][:40]


def _origin_reference_flaw(pieces: list[_Piece]) -> Problem | None:
    """A URL may start with references when they are the whole origin: what follows them is the
    path, the query, the fragment or nothing (``$pdata.base/reports``)."""
    following = next((piece.char for piece in pieces if piece.char is not None), None)
    if following is None or following in _PATH_START:
        return None
    first = pieces[0].reference
    return Problem(
        rules.MALFORMED_URL.code,
        f"the URL starts with {first}, followed by {following!r}: a reference at the start "
        "must be the whole origin (scheme, host and port)",
        first.span if first is not None else Span(0, 1),
        "write the scheme and host literally (https://$pdata.host/…), or put the whole origin "
        "in one value followed by '/'",
    )


# -- forms -------------------------------------------------------------------------------------


def form_flaws(nodes: tuple[Node, ...]) -> Iterator[Problem]:
    """The line break a `|` block leaves at the end of a form: it would end the last value
    (XD214). Spaces before it are part of the same tail."""
    pieces = _pieces(nodes)
    tail = len(pieces)
    while tail and _is_space(pieces[tail - 1].char):
        tail -= 1
    ending = pieces[tail:]
    if any(piece.char in ("\r", "\n") for piece in ending):
        yield Problem(
            rules.TRAILING_LINE_BREAK_IN_FORM.code,
            "the form ends with a line break, which would be sent as part of its last value",
            Span(ending[0].at, ending[-1].at + 1),
            _BLOCK_HINT,
        )
