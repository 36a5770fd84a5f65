"""A request goes over plain ``http://``.

Anti-pattern::

    url: http://crm.example/api/chat-reports

The chat transcript, the visitor's personal data and the credentials travel unencrypted and can
be read or changed on the way.

Better: ``https://crm.example/api/chat-reports``. Loopback addresses (``localhost``,
``127.0.0.1``, ``[::1]``) are exempt: a local test receiver never leaves the machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from exportdsl.errors import Severity
from exportdsl.lint.api import Finding, LintContext, rule
from exportdsl.source import Span
from exportdsl.vocabulary import FieldKind

__all__ = ["RULE", "check"]

_PLAIN = re.compile(r"(?i)http://(?:[^/?#@\s]*@)?(?P<host>\[[^\]]*\]|[^/?#:\s]*)")
_LOOPBACK = re.compile(r"(?i)localhost|127(?:\.\d{1,3}){3}|\[::1\]")


def check(context: LintContext) -> Iterator[Finding]:
    for template in context.fields:
        plan = context.plan(template)
        match = (
            _PLAIN.match(template.source)
            if plan is not None and plan.kind == FieldKind.URL
            else None
        )
        if match and not _LOOPBACK.fullmatch(match.group("host")):
            yield Finding(
                template.location(Span(0, 7)),
                f"{template.name} uses plain http://",
                "use https:// (only loopback addresses are exempt)",
            )


RULE = rule("XD505", "plain-http", Severity.WARNING, __doc__, check)
