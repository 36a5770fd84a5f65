"""A token or secret is put into a URL's query string.

Anti-pattern::

    url: https://crm.example/api/reports?access_token=$tokenResponse.body.JSON.access_token

URLs end up in access logs, proxy logs, browser histories and error messages, where headers do
not; a token in a query string leaks with them.

Better: send it in a header: ``Authorization: Bearer $tokenResponse.body.JSON.access_token``
(or the header the back end documents).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from exportdsl.errors import Severity
from exportdsl.lint.api import Finding, LintContext, rule
from exportdsl.vocabulary import FieldKind

__all__ = ["RULE", "check"]

_SECRET = re.compile(r"(?i)token|secret|password|passwd|api_?key|apikey|signature|credential")


def check(context: LintContext) -> Iterator[Finding]:
    for template in context.fields:
        plan = context.plan(template)
        if plan is None or plan.kind != FieldKind.URL:
            continue
        before = ""  # the URL's literal text up to the hole, holes as "\0"
        for piece in plan.pieces:
            if isinstance(piece, str):
                before += piece
                continue
            reference, query_start = piece.reference, before.find("?")
            in_query = query_start >= 0 and "#" not in before[query_start:]
            parameter = before.rsplit("&", 1)[-1].rsplit("?", 1)[-1].rstrip("=")
            token = reference.name == "tokenResponse" and reference.path[1:2] != ("status",)
            if in_query and (
                token or _SECRET.search(reference.dotted) or _SECRET.search(parameter)
            ):
                yield Finding(
                    template.location(reference.span),
                    f"{reference} puts a token or secret into the URL's query string",
                    "send it in a header instead, e.g. Authorization: Bearer …",
                )
            before += "\0"


RULE = rule("XD504", "token-in-query", Severity.WARNING, __doc__, check)
