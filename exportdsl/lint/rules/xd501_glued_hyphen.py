"""A short reference is glued to ``-word``.

Anti-pattern::

    X-User: $pdata.user-id

Velocity versions disagree on this: 1.x ends the reference at ``-`` (``$pdata.user`` then
``-id``), 2.x may read ``user-id`` as one name. exportdsl ends it at ``-``, as Velocity 2's
strict mode does, but the template says something else to every reader.

Better: ``${pdata.user}-id`` when the hyphen is text, ``${pdata['user-id']}`` when it is part of
the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from exportdsl.errors import Severity
from exportdsl.language.nodes import format_path
from exportdsl.lint.api import Finding, LintContext, rule

__all__ = ["RULE", "check"]

_GLUED = re.compile(r"-[A-Za-z0-9_]")


def check(context: LintContext) -> Iterator[Finding]:
    for template, reference in context.all_references():
        if reference.formal or not _GLUED.match(template.source, reference.span.end):
            continue
        word = re.match(r"-[A-Za-z0-9_-]*", template.source[reference.span.end :])
        glued = word.group() if word else "-"
        hint = f"write ${{{reference.dotted}}}{glued} if that is meant"
        last = reference.path[-1]
        # a key can hold a hyphen; a name or an index cannot
        if reference.segments and isinstance(last, str):
            hint += (
                f", or ${{{format_path((*reference.path[:-1], last + glued))}}} "
                "for a key with a hyphen"
            )
        yield Finding(
            template.location(reference.span),
            f"{reference}{glued} reads as {reference} followed by the text {glued!r}",
            hint,
        )


RULE = rule("XD501", "glued-hyphen", Severity.WARNING, __doc__, check)
