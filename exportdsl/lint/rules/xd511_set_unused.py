"""A ``#set`` whose variable nothing in the template reads.

Anti-pattern::

    body: |
      #set($visitor = $chat.visitor.name)
      {"name": "$chat.visitor.name", "text": "$chat.messages[0].content"}

The value is computed and thrown away: a leftover, or a typo of the name that was meant to be
read (``$vistor`` would be a compile error; reading ``$chat.visitor.name`` again is not). A
template renders in one scope of its own, so a ``#set`` in one field is never seen by another.
A name read anywhere in the same template (also before the ``#set``, in a loop, in a condition or
a ``"…"`` string) counts as read; reading it only in its own ``#set($a = "$a …")`` does not.

Better: read the variable (``"name": "$visitor"``), or remove the ``#set``.
"""

from __future__ import annotations

from collections.abc import Iterator

from exportdsl.errors import Severity
from exportdsl.language.nodes import Set, references_in
from exportdsl.lint.api import Finding, LintContext, rule

__all__ = ["RULE", "check"]


def check(context: LintContext) -> Iterator[Finding]:
    for template in context.fields:
        sets = [node for node in context.nodes(template) if isinstance(node, Set)]
        own = {  # what a #set reads of the very name it assigns: not a read of the new value
            reference.span
            for node in sets
            for reference in references_in(node.value)
            if reference.name == node.name
        }
        read = {ref.name for ref in context.references(template) if ref.span not in own}
        for node in sets:
            if node.name not in read:
                yield Finding(
                    template.location(node.name_span),
                    f"#set assigns ${node.name}, which nothing in {template.name} reads",
                    f"read it as ${node.name}, or remove the #set",
                )


RULE = rule("XD511", "set-unused", Severity.WARNING, __doc__, check)
