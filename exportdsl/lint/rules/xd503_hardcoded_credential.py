"""A credential is written into the connector: a header, the body or the URL.

Anti-pattern::

    headers:
      Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543
    url: https://user:s3cret@crm.example/api?api_key=abc123
    auth: {basic: {username: acme, password: s3cret-Passw0rd}}

A connector file goes into version control, CI logs and support tickets; a secret in it is a
secret shared with all of them, and it cannot be rotated without editing every copy.

Better: read it from the environment, which exportdsl redacts in every output:
``Authorization: Bearer $env.CRM_TOKEN``, ``?api_key=$env.CRM_API_KEY``, or fetch a token in the
token phase and use ``$tokenResponse.body.JSON.access_token``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from exportdsl.connector.model import TemplateField
from exportdsl.errors import Severity
from exportdsl.lint.api import Finding, LintContext, rule
from exportdsl.source import Span

__all__ = ["RULE", "check"]

_SECRET_NAME = (
    r"(?:password|passwd|pwd|secret|client[_-]?secret|api[_-]?key|apikey|access[_-]?token"
    r"|auth[_-]?token|refresh[_-]?token|token|private[_-]?key|signing[_-]?key)"
)
_SECRET_HEADERS = {
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "apikey",
    "x-auth-token",
    "x-access-token",
    "x-token",
    "cookie",
}
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
_HEADER_SCHEME = re.compile(
    r"(?i)^\s*(?:bearer|basic|token|digest|apikey)?\s*(?P<value>[^\s\0]{8,})\s*$"
)


def check(context: LintContext) -> Iterator[Finding]:
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


RULE = rule("XD503", "hardcoded-credential", Severity.ERROR, __doc__, check)
