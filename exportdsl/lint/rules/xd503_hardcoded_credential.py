"""A credential is written into the connector: a header, the body, the URL or a pdata value.

Anti-pattern::

    headers:
      Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543
    url: https://user:s3cret@crm.example/api?api_key=abc123
    auth: {basic: {username: acme, password: s3cret-Passw0rd}}
    pdata: {tenant: acme, api_key: 8f14e45fceea167a}      # a key named like a secret

A connector file goes into version control, CI logs and support tickets; a secret in it is a
secret shared with all of them, and it cannot be rotated without editing every copy.

Better: read it from the environment, which exportdsl redacts in every output:
``Authorization: Bearer $env.CRM_TOKEN``, ``?api_key=$env.CRM_API_KEY``, or fetch a token in the
token phase and use ``$tokenResponse.body.JSON.access_token``. pdata is part of the file too: use
``$env.NAME`` where the template now says ``$pdata.api_key``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from exportdsl.connector.model import TemplateField
from exportdsl.credentials import CREDENTIAL_HEADERS
from exportdsl.errors import Severity
from exportdsl.language.nodes import format_path
from exportdsl.lint.api import Finding, LintContext, rule
from exportdsl.source import Location, Span

__all__ = ["RULE", "check"]

_SECRET_NAME = (
    r"(?:password|passwd|pwd|secret|client[_-]?secret|api[_-]?key|apikey|access[_-]?token"
    r"|auth[_-]?token|refresh[_-]?token|token|private[_-]?key|signing[_-]?key)"
)
_SECRET_HEADERS = CREDENTIAL_HEADERS - {"set-cookie", "webhook-signature"}  # ours to send
# A literal value: at least 4 characters, none of them a reference (NUL in the literal view).
_QUERY = re.compile(
    rf"(?i)(?:^|[?&;]){_SECRET_NAME}=(?P<value>[^&#;\s\0]{{4,}})"
)  # '#' ends a query
_FORM = re.compile(rf"(?i)(?:^|[&;\s]){_SECRET_NAME}=(?P<value>[^&;\s\0]{{4,}})")
_PATTERNS = [
    re.compile(rf'(?i)"{_SECRET_NAME}"\s*:\s*"(?P<value>[^"\0]{{4,}})"'),  # JSON
    re.compile(rf"(?i)<(?P<tag>{_SECRET_NAME})>(?P<value>[^<\0]{{4,}})</(?P=tag)>"),  # XML element
    re.compile(
        r"(?i)^[a-z][a-z0-9+.-]*://[^/?#@:\s\0]+:(?P<value>[^/?#@\s\0]+)@"
    ),  # user:password@
    re.compile(
        r"(?P<value>eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}"  # a JWT
        r"|(?:sk|rk)_live_[0-9A-Za-z]{16,}|gh[pousr]_[0-9A-Za-z]{36}|xox[abpr]-[0-9A-Za-z-]{10,}"
        r"|AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----)"
    ),  # well-known token shapes
]
_WHOLE_VALUE = re.compile(r"^\s*(?P<value>[^\s\0]{4,})\s*$")  # auth's password, client_secret
_TOKEN_SHAPES = _PATTERNS[-1]
# A pdata key named like a secret, in snake_case, kebab-case or camelCase: api_key, crmApiKey,
# client-secret; not tokenUrl or token_type (the secret word must end the name).
_SECRET_KEY = re.compile(rf"(?:[\w-]*[_-])?{_SECRET_NAME}")
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_HEADER_SCHEME = re.compile(
    r"(?i)^\s*(?:bearer|basic|token|digest|apikey)?\s*(?P<value>[^\s\0]{8,})\s*$"
)


def check(context: LintContext) -> Iterator[Finding]:
    yield from _pdata_findings(context)
    for template in context.fields:
        literal, offsets = context.literal(template)
        for match in _matches(template, literal):
            start, end = offsets[match.start("value")], offsets[match.end("value") - 1] + 1
            yield Finding(
                template.location(Span(start, end)),
                f"{template.name}: a credential is written into the connector",
                "read it from the environment: $env.NAME (redacted in every output)",
            )


def _matches(template: TemplateField, literal: str) -> Iterator[re.Match[str]]:
    if ".auth." in template.name and template.name.endswith((".password", ".client_secret")):
        match = _WHOLE_VALUE.match(literal)
        if match:
            yield match
            return
    header = template.name.rsplit(".", 1)[-1].lower() if ".headers." in template.name else ""
    if header in _SECRET_HEADERS:
        match = _HEADER_SCHEME.match(literal)
        if match:
            yield match
            return
    yield from (_QUERY if template.name.endswith(".url") else _FORM).finditer(literal)
    for pattern in _PATTERNS:
        yield from pattern.finditer(literal)


def _pdata_findings(context: LintContext) -> Iterator[Finding]:
    """pdata is written into the file like a template: a secret there is as leaked. A value is
    reported when its key is named like a secret, or when it has a well-known token shape."""
    for key, location in context.connector.pdata_locations.items():
        for path, value in _strings(("pdata", key), context.connector.pdata[key]):
            if len(value) >= 4 and (_is_secret_name(path[-1]) or _TOKEN_SHAPES.search(value)):
                yield _pdata_finding(path, location)


def _strings(
    path: tuple[str | int, ...], value: Any
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every text value below ``path``, with its own path (nested mappings and lists too)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings((*path, str(key)), item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings((*path, index), item)


def _is_secret_name(key: str | int) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.fullmatch(_CAMEL_HUMP.sub("_", key).lower()))


def _pdata_finding(path: tuple[str | int, ...], location: Location) -> Finding:
    """At the top-level key (the file's position of nested values is not kept)."""
    return Finding(
        location,
        f"{format_path(path)}: a credential is written into the connector's pdata",
        "read it from the environment where the template uses it: $env.NAME "
        "(redacted in every output)",
    )


RULE = rule("XD503", "hardcoded-credential", Severity.ERROR, __doc__, check)
