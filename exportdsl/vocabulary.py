"""The words of the pipeline, one concept each (docs/design.md §3 and §4).

- `Phase`: when a template renders: the token request, the XML template, the export request.
- `FieldKind`: what a whole template field is (its request's URL, a header, a body of some format).
- `Context`: where one hole lands inside its field; it picks the escaper.
- `Alphabet`: the characters a value we produce ourselves can hold; where an alphabet is safe in a
  context, such values skip escaping (`escaping.needs_escaping`).
- `DeliveryStatus`: where one delivery of the outbox stands.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Alphabet", "Context", "DeliveryStatus", "FieldKind", "Phase"]


class Phase(StrEnum):
    """When a template renders: the token POST, the XML template, the report POST (export)."""

    TOKEN = "token"
    XML = "xml template"
    EXPORT = "export"


class FieldKind(StrEnum):
    """What a template field is; a body's kind comes from its request's literal Content-Type."""

    TEXT = "text"
    URL = "url"
    HEADER = "header"
    JSON = "json"
    XML = "xml"
    FORM = "form"


class Context(StrEnum):
    """Where a hole lands; each has one escaper in `escaping.ESCAPERS`."""

    TEXT = "text"
    URL_PREFIX = "url"  # scheme, host, port: before the path
    URL_ORIGIN = "url-origin"  # a run-time value starting the URL: only scheme://host[:port]
    URL_HOST = "url-host"  # a run-time value inside the authority: only host and port characters
    URL_COMPONENT = "url-component"  # the path, query or fragment
    HEADER = "header"
    FORM = "form"
    JSON_STRING = "json-string"
    JSON_KEY = "json-key"
    JSON_VALUE = "json-value"
    XML_TEXT = "xml"
    XML_ATTRIBUTE = "xml-attribute"
    XML_CDATA = "xml-cdata"


class Alphabet(StrEnum):
    """The characters a value can hold: anything (chat data, pdata), or one of ours."""

    ANY = "any"
    BASE64 = "base64"
    INTEGER = "integer"
    DATETIME = "datetime"


class DeliveryStatus(StrEnum):
    """Where a delivery stands: waiting for its (next) attempt, delivered, or given up (dead)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
