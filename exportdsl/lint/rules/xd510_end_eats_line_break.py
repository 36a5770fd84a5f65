"""``#end`` after text on its line eats the line break: the next line joins this one.

Anti-pattern::

    body: |
      [
      #foreach($m in $chat.messages)
        {"text": "$m.content"}#if($foreach.hasNext),#end
      #end
      ]

As in Velocity 1.7, ``#end`` eats the spaces and the one line break after it, whether its block
rendered anything or not. A directive alone on its line vanishes with its line break, as the author
sees it; but an ``#end`` that closes a line of text takes that line's break with it. Above, every
message lands on one line (``{…},  {…},  {…}]``); ``Email: $x#end⏎Next`` gives ``Email: xNext``.
Not reported: an ``#end`` with only directives or white space before it on its line, one followed
by an empty line, one with nothing after its line break, and the one-line idiom
``[#foreach(…){…}#if($foreach.hasNext),#end#end]``.

Better: put ``#end`` at the start of the next line, so the line break is inside the block; for the
comma idiom leave an empty line after ``#end`` (its line break is the one eaten); or write what
should join on one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from exportdsl.connector.model import TemplateField
from exportdsl.errors import Severity
from exportdsl.language.nodes import Foreach, If, Node, Reference, Text, references_in
from exportdsl.lint.api import Finding, LintContext, rule
from exportdsl.source import Span

__all__ = ["RULE", "check"]

_EATEN_LINE_BREAK = re.compile(r"[ \t]*(?:\r\n|\r|\n)")
# The loop state the comma idiom tests ($foreach.hasNext, $velocityHasNext, $foreach.last).
_LOOP_STATE = {("foreach", "hasNext"), ("foreach", "last"), ("velocityHasNext",)}


def check(context: LintContext) -> Iterator[Finding]:
    for template in context.fields:
        nodes = context.nodes(template)
        for block in nodes:
            if isinstance(block, If | Foreach):
                finding = _eaten_line_break(template, nodes, block)
                if finding is not None:
                    yield finding


def _eaten_line_break(
    template: TemplateField, nodes: tuple[Node, ...], block: If | Foreach
) -> Finding | None:
    source, end = template.source, block.span.end
    eaten = _EATEN_LINE_BREAK.match(source, end)
    if eaten is None or not source[eaten.end() :].strip():
        return None  # no line break after #end, or only the template's own end follows
    if _EATEN_LINE_BREAK.match(source, eaten.end()):
        return None  # an empty line follows: its line break is the one that stays
    keyword = Span(end - (6 if source.endswith("#{end}", 0, end) else 4), end)
    line_start = max(source.rfind("\n", 0, keyword.start), source.rfind("\r", 0, keyword.start)) + 1
    if not _output_between(nodes, line_start, keyword.start):
        return None  # a directive alone on its line: it vanishes with its line break, as meant
    end_text = source[keyword.start : keyword.end]  # #end or #{end}
    if _is_comma_idiom(block):
        message = (
            f"the comma idiom's {end_text} eats the line break after it: "
            "the elements run together on one line"
        )
        hint = f"leave an empty line after this {end_text} (its line break is the one eaten)"
    else:
        message = f"{end_text} eats the line break after it: what follows joins this line"
        hint = (
            f"put {end_text} at the start of the next line, or leave an empty line after it; "
            "write it all on one line if the lines should join"
        )
    return Finding(template.location(keyword), message, hint)


def _output_between(nodes: tuple[Node, ...], start: int, end: int) -> bool:
    """Whether the template writes something other than white space from ``start`` to ``end``
    (the text before an ``#end`` on its line; directives and comments write nothing)."""
    for node in nodes:
        if isinstance(node, Reference) and start <= node.span.start < end:
            return True
        if isinstance(node, Text):
            first = max(start - node.value_start, 0)
            last = min(end - node.value_start, len(node.value))
            if first < last and node.value[first:last].strip():
                return True
    return False


def _is_comma_idiom(block: If | Foreach) -> bool:
    """``#if($foreach.hasNext)…#end`` and its kin: a condition on the loop's own position."""
    if not isinstance(block, If):
        return False
    return any(
        reference.path[:2] in _LOOP_STATE or reference.path[:1] in _LOOP_STATE
        for branch in block.branches
        if branch.condition is not None
        for reference in references_in(branch.condition)
    )


RULE = rule("XD510", "end-eats-line-break", Severity.WARNING, __doc__, check)
