"""One function per output context (DESIGN §4). Each takes a looked-up value and returns the text
that goes on the wire, so chat data can never change the structure of the request it lands in.
``None`` means a quiet reference found nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from json.encoder import encode_basestring  # C-accelerated
from typing import Any
from urllib.parse import quote, quote_plus

from exportdsl.errors import RenderError
from exportdsl.values import to_json, to_text

Escaper = Callable[[Any], str]

# Characters XML 1.0 cannot carry at all, not even escaped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;",
                              "\r": "&#13;"})  # a raw CR would be read back as LF
# Parsers normalise white space in attribute values to spaces; character references survive.
_XML_ATTRIBUTE_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;",
                                        "\r": "&#13;", "\n": "&#10;", "\t": "&#9;"})


def text(value: Any) -> str:
    return to_text(value)


def header(value: Any) -> str:
    rendered = value if type(value) is str else to_text(value)
    if "\r" in rendered or "\n" in rendered or "\0" in rendered:
        raise RenderError("a header value may not contain CR, LF or NUL",
                          hint="the value would split the header; it is never sent")
    return rendered


def url_component(value: Any) -> str:
    """Path, query and fragment: everything but unreserved characters is percent-encoded."""
    return quote(value if type(value) is str else to_text(value), safe="")


def form(value: Any) -> str:
    return quote_plus(to_text(value), safe="")


def json_string(value: Any) -> str:
    """Inside a JSON string literal: the JSON string escapes without the quotes."""
    rendered: str = encode_basestring(value if type(value) is str else to_text(value))
    return rendered[1:-1]


def json_value(value: Any) -> str:
    """Outside a string literal: the value as a JSON value (a quiet miss is ``null``)."""
    kind = type(value)
    if kind is str:
        rendered: str = encode_basestring(value)
        return rendered
    if kind is int:
        return str(value)
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
    """Inside ``<![CDATA[ ]]>`` only ``]]>`` could end the section: split it across two sections.
    A CR leaves the section for a character reference, as a raw one would be read back as LF."""
    rendered = to_text(value)
    _check_xml_chars(rendered)
    return rendered.replace("]]>", "]]]]><![CDATA[>").replace("\r", "]]>&#13;<![CDATA[")


def _check_xml_chars(rendered: str) -> None:
    bad = _XML_INVALID.search(rendered)
    if bad:
        raise RenderError(f"character U+{ord(bad.group()):04X} cannot appear in XML 1.0",
                          hint="XML has no escape for control characters; remove them from the value")


ESCAPERS: dict[str, Escaper] = {
    "text": text,
    "url": text,  # before the path (scheme, host): inserted as is, the whole URL is validated
    "url-component": url_component,
    "header": header,
    "form": form,
    "json-string": json_string,
    "json-value": json_value,
    "xml": xml,
    "xml-attribute": xml_attribute,
    "xml-cdata": xml_cdata,
}

# Values we produce ourselves have a known alphabet; where that alphabet is safe, no escaping runs.
_SAFE_KINDS: dict[str, frozenset[str]] = {
    "base64": frozenset({"text", "url", "header", "json-string", "xml", "xml-attribute", "xml-cdata"}),
    "integer": frozenset(ESCAPERS),
    "datetime": frozenset({"text", "url", "header", "json-string", "xml", "xml-attribute", "xml-cdata"}),
}


def needs_escaping(kind: str, context: str) -> bool:
    return context not in _SAFE_KINDS.get(kind, frozenset())
