"""``##`` or ``#*`` inside a JSON or XML body starts a comment that swallows data.

Anti-pattern::

    body: |
      {"colour": "#ff0000", "note": "see ##42"}     # '##42"}' up to the line end is removed

The template language removes ``##`` to the end of the line and ``#* … *#``, so the body that is
sent lacks what follows, and is probably no longer valid JSON or XML.

Better: ``#[[##]]#`` for a literal ``##`` (and ``#[[#*]]#``); move comments out of the body
into YAML comments (``# …`` outside the block).
"""

from __future__ import annotations

from collections.abc import Iterator

from exportdsl.errors import Severity
from exportdsl.language.nodes import Comment
from exportdsl.lint.api import Finding, LintContext, rule
from exportdsl.vocabulary import FieldKind

__all__ = ["RULE", "check"]


def check(context: LintContext) -> Iterator[Finding]:
    for template in context.fields:
        plan = context.plan(template)
        if plan is None or plan.kind not in (FieldKind.JSON, FieldKind.XML):
            continue
        for node in context.nodes(template):
            if isinstance(node, Comment):
                opener = node.body[:2]
                yield Finding(
                    template.location(node.span),
                    f"'{opener}' starts a comment in the {plan.kind.upper()} of {template.name}: "
                    f"{len(node.body)} characters are removed from what is sent",
                    f"write #[[{opener}]]# for a literal '{opener}'; "
                    "keep comments outside the body",
                )


RULE = rule("XD502", "comment-in-body", Severity.WARNING, __doc__, check)
