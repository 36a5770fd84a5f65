"""One function per output context (docs/design.md §4).

Each takes a looked-up value and returns the text that goes on the wire, so chat data can never
change the structure of the request it lands in. ``None`` means a quiet reference found nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from json.encoder import encode_basestring  # C-accelerated
from typing import Any
from urllib.parse import quote, quote_plus

from exportdsl.compiler.values import SafeText, StandIn, to_json, to_text
from exportdsl.errors import RenderError
from exportdsl.vocabulary import Alphabet, Context

__all__ = [
    "ESCAPERS",
    "Escaper",
    "form",
    "header",
    "json_key",
    "json_string",
    "json_value",
    "needs_escaping",
    "text",
    "trusting",
    "url_component",
    "url_host",
    "url_origin",
    "url_prefix",
    "xml",
    "xml_attribute",
    "xml_cdata",
]

Escaper = Callable[[Any], str]

_SURROGATE = re.compile("[\ud800-\udfff]")
# Characters XML 1.0 cannot carry at all, not even escaped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_XML_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;", "\r": "&#13;"}
)  # a raw CR would be read back as LF
# Parsers normalise white space in attribute values to spaces; character references survive.
_XML_ATTRIBUTE_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "'": "&apos;",
        "\r": "&#13;",
        "\n": "&#10;",
        "\t": "&#9;",
    }
)
# Inside CDATA nothing is escaped, so what could end the section leaves it: every '>' (so no value
# can complete a ']]>', with its own ']]' or with the text around it) and CR (read back as LF).
_CDATA_ESCAPES = str.maketrans({">": "]]>&gt;<![CDATA[", "\r": "]]>&#13;<![CDATA["})


def _text(value: Any) -> str:
    """The value as text, refusing lone surrogates: no encoding can put them on the wire."""
    rendered = value if type(value) is str else to_text(value)
    if not rendered.isascii() and _SURROGATE.search(rendered):
        raise RenderError(
            "the value holds a lone surrogate (U+D800 to U+DFFF), which no encoding can carry",
            hint="the data is broken where it comes from (often a cut emoji)",
        )
    return rendered


def text(value: Any) -> str:
    return _text(value)


# Every control character but TAB (C0, DEL, C1 with NEL), and the Unicode line and paragraph
# separators: a receiver that decodes the value as text may read each as a line break.
_HEADER_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_UNICODE_BREAKS = {
    "\x85": "NEXT LINE (NEL)",
    "\u2028": "LINE SEPARATOR",
    "\u2029": "PARAGRAPH SEPARATOR",
}


def header(value: Any) -> str:
    rendered = _text(value)
    bad = _HEADER_CONTROL.search(rendered)
    if bad:
        char = bad.group()
        if char in "\r\n\0":
            what = "CR, LF or NUL"
        elif char in _UNICODE_BREAKS:
            what = f"a line break (U+{ord(char):04X} {_UNICODE_BREAKS[char]})"
        else:
            what = f"the control character U+{ord(char):04X}"
        raise RenderError(
            f"a header value may not contain {what}",
            hint="a line break would split the header; no control character may be sent in one",
        )
    return rendered


def url_component(value: Any) -> str:
    """Path, query and fragment: everything but unreserved characters is percent-encoded, and a
    value of dots alone has its dots encoded too: as a path segment, ``.`` or ``..`` would be
    removed by the client (RFC 3986 dot segments) and the request would go to another resource."""
    encoded = quote(_text(value), safe="")
    return encoded.replace(".", "%2E") if encoded and not encoded.strip(".") else encoded


def url_prefix(value: Any) -> str:
    """Before the path: inserted as is (the final URL is validated as a whole)."""
    return _text(value)


_HOST_PORT = r"(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
_ORIGIN = re.compile(rf"(?i:https?)://{_HOST_PORT}")
_HOST = re.compile(_HOST_PORT)
# What a value before the path may not hold, in the words of the error (the value is never quoted:
# it may be a secret): each would move the report to another host or resource.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_NOT_AN_ORIGIN = (
    ("://", "a scheme ('://')"),  # only where the URL starts
    ("@", "user info ('@')"),
    ("/", "a path ('/')"),
    ("?", "a query ('?')"),
    ("#", "a fragment ('#')"),
    ("\\", "a backslash"),
)


def url_origin(value: Any) -> str:
    """A run-time value (the token answer, the environment) where the URL starts: a bare origin,
    ``http(s)://host[:port]``, so the token answer cannot choose the path, the query, user info or
    (with '#' or '\\') another host than the one the URL seems to name."""
    if isinstance(value, StandIn):
        return f"https://{value.host}"
    return _origin_part(value, _ORIGIN, "http(s)://host[:port]")


def url_host(value: Any) -> str:
    """A run-time value inside the authority (after ``https://``): host and port characters only."""
    if isinstance(value, StandIn):
        return value.host
    return _origin_part(value, _HOST, "a host name, an IP address, optionally with ':port'")


def _origin_part(value: Any, shape: re.Pattern[str], expected: str) -> str:
    rendered = _text(value)
    if shape.fullmatch(rendered):
        return rendered
    scheme = _SCHEME.match(rendered)
    after_scheme = rendered[scheme.end() :] if scheme and shape is _ORIGIN else rendered
    held = next((words for mark, words in _NOT_AN_ORIGIN if mark in after_scheme), None)
    if held is None and any(char.isspace() or not char.isprintable() for char in rendered):
        held = "white space or a control character"
    why = f"this one holds {held}" if held else f"this one is not {expected}"
    raise RenderError(
        f"a value before the URL's path may set only the origin (scheme, host, port); {why}",
        hint=f"the value must be {expected}; the path goes in the connector's URL, after it",
    )


def form(value: Any) -> str:
    return quote_plus(_text(value), safe="")


def json_string(value: Any) -> str:
    """Inside a JSON string literal: the JSON string escapes without the quotes."""
    rendered: str = encode_basestring(_text(value))
    return rendered[1:-1]


def json_key(value: Any) -> str:
    """Where a JSON object expects a key: always a string (a quiet miss is "")."""
    rendered: str = encode_basestring(_text(value))
    return rendered


def json_value(value: Any) -> str:
    """Outside a string literal: the value as a JSON value (a quiet miss is ``null``)."""
    kind = type(value)
    if kind is str or kind is SafeText:
        rendered: str = encode_basestring(_text(value))
        return rendered
    if kind is int:
        return str(value)
    if value is not None and not isinstance(value, (bool, int, float)):
        _text(to_json(value))  # refuses lone surrogates nested anywhere inside
    return to_json(value)


def xml(value: Any) -> str:
    rendered = to_text(value)
    _check_xml_chars(rendered)
    return rendered.translate(_XML_ESCAPES)


def xml_attribute(value: Any) -> str:
    rendered = to_text(value)
    _check_xml_chars(rendered)
    return rendered.translate(_XML_ATTRIBUTE_ESCAPES)


def xml_cdata(value: Any) -> str:
    """Inside ``<![CDATA[ ]]>``: see `_CDATA_ESCAPES`; a trailing ']' is sealed off by closing and
    reopening the section, so the literal text after the hole cannot complete a ']]>' either."""
    rendered = to_text(value)
    _check_xml_chars(rendered)
    rendered = rendered.translate(_CDATA_ESCAPES)
    return rendered + "]]><![CDATA[" if rendered.endswith("]") else rendered


def _check_xml_chars(rendered: str) -> None:
    bad = _XML_INVALID.search(rendered)
    if bad:
        raise RenderError(
            f"character U+{ord(bad.group()):04X} cannot appear in XML 1.0",
            hint="XML has no escape for control characters; remove them from the value",
        )


ESCAPERS: dict[Context, Escaper] = {
    Context.TEXT: text,
    Context.URL_PREFIX: url_prefix,
    Context.URL_ORIGIN: url_origin,
    Context.URL_HOST: url_host,
    Context.URL_COMPONENT: url_component,
    Context.HEADER: header,
    Context.FORM: form,
    Context.JSON_STRING: json_string,
    Context.JSON_KEY: json_key,
    Context.JSON_VALUE: json_value,
    Context.XML_TEXT: xml,
    Context.XML_ATTRIBUTE: xml_attribute,
    Context.XML_CDATA: xml_cdata,
}

# Values we produce ourselves have a known alphabet; where that alphabet is safe, they go in as they
# are, but only as `SafeText` or int (checked in O(1) at render time); anything else is escaped.
_PRINTABLE_SAFE = frozenset(
    {
        Context.TEXT,
        Context.URL_PREFIX,
        Context.HEADER,
        Context.JSON_STRING,
        Context.XML_TEXT,
        Context.XML_ATTRIBUTE,
    }
)
_SAFE_CONTEXTS: dict[Alphabet, frozenset[Context]] = {
    Alphabet.BASE64: _PRINTABLE_SAFE,
    Alphabet.INTEGER: frozenset(ESCAPERS) - {Context.JSON_KEY},
    Alphabet.DATETIME: _PRINTABLE_SAFE,
}


def needs_escaping(alphabet: Alphabet, context: Context) -> bool:
    return context not in _SAFE_CONTEXTS.get(alphabet, frozenset())


def trusting(escape: Escaper) -> Escaper:
    """For a hole whose value should be ours.

    As is when it is (SafeText, int), escaped otherwise.
    """

    def as_is_or_escaped(value: Any) -> str:
        kind = type(value)
        if kind is SafeText:
            text: str = value.text
            return text
        if kind is int:
            return str(value)
        return escape(value)

    return as_is_or_escaped
