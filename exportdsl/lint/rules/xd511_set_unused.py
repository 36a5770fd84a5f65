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
from exportdsl.language.nodes import Foreach, If, Node, Reference, Set, references_in
from exportdsl.lint.api import Finding, LintContext, rule

__all__ = ["RULE", "check"]


def check(context: LintContext) -> Iterator[Finding]:
    for template in context.fields:
        nodes = context.nodes(template)
        read = _names_read(nodes)
        for node in nodes:
            if isinstance(node, Set) and node.name not in read:
                yield Finding(
                    template.location(node.name_span),
                    f"#set assigns ${node.name}, which nothing in {template.name} reads",
                    f"read it as ${node.name}, or remove the #set",
                )


def _names_read(nodes: tuple[Node, ...]) -> set[str]:
    """The names the template's holes and directives read (``nodes`` walked, bodies included),
    except what a ``#set`` reads of the very name it assigns."""
    read: set[str] = set()
    for node in nodes:
        if isinstance(node, Reference):
            read.add(node.name)
        elif isinstance(node, If):
            for branch in node.branches:
                if branch.condition is not None:
                    read.update(ref.name for ref in references_in(branch.condition))
        elif isinstance(node, Foreach):
            read.update(ref.name for ref in references_in(node.source))
        elif isinstance(node, Set):
            read.update(ref.name for ref in references_in(node.value) if ref.name != node.name)
    return read


RULE = rule("XD511", "set-unused", Severity.WARNING, __doc__, check)
