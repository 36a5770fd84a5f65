"""Suppression comments.

``# exportdsl: disable=CODE[,CODE]`` and ``# exportdsl: disable-file=CODE``.

A line suppression covers its own line and the next one, and, for a block scalar, the whole block
when it stands on the ``key: |`` line (a comment inside the block would be template text).
A suppression that suppresses nothing is reported as XD900.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from exportdsl.errors import Diagnostic, Severity
from exportdsl.source import LineIndex, Location

__all__ = ["UNUSED", "Directive", "directives", "suppress", "unused"]

UNUSED = "XD900"
_DIRECTIVE = re.compile(
    r"(?:^|\s)#\s*exportdsl:\s*(?P<scope>disable|disable-file)\s*=\s*"
    r"(?P<codes>[A-Za-z0-9]+(?:\s*,\s*[A-Za-z0-9]+)*)"
)


@dataclass
class Directive:
    file: str
    line: int
    column: int
    scope: str  # "disable" (this line and the next) or "disable-file"
    codes: tuple[str, ...]
    used: set[str] = field(default_factory=set)

    def covers(self, code: str, line: int, blocks: Iterable[tuple[int, int]]) -> bool:
        if code not in self.codes:
            return False
        if self.scope == "disable-file" or line in (self.line, self.line + 1):
            return True
        # on a field's key line (`body: |`, or `body:` with the value on the next line):
        # the whole field
        return any(
            start in (self.line, self.line + 1) and start <= line <= end for start, end in blocks
        )

    def location(self) -> Location:
        return Location(self.file, self.line, self.column, self.line, self.column)


def directives(file: str, text: LineIndex, blocks: list[tuple[int, int]]) -> list[Directive]:
    """The suppression comments, leaving out text inside a template's value (it is template text,
    sent with the request, not a YAML comment)."""
    found = []
    for number in range(1, text.lines + 1):
        line = text.line_text(number)
        if "exportdsl:" not in line or any(start < number <= end for start, end in blocks):
            continue
        for match in _DIRECTIVE.finditer(line):
            codes = tuple(code.strip().upper() for code in match.group("codes").split(","))
            found.append(
                Directive(
                    file,
                    number,
                    match.start() + 1 + (match.group()[0].isspace()),
                    match.group("scope"),
                    codes,
                )
            )
    return found


def suppress(
    diagnostics: Iterable[Diagnostic],
    found: list[Directive],
    blocks: list[tuple[int, int]],
    suppressible: Callable[[str], bool],
) -> list[Diagnostic]:
    """The diagnostics no directive covers; each covering directive remembers the code it used.
    Errors from the loader and the compiler cannot be suppressed: the connector cannot run."""
    kept = []
    for diagnostic in diagnostics:
        line = diagnostic.location.line if diagnostic.location else 0
        covering = None
        if suppressible(diagnostic.code):
            covering = next((d for d in found if d.covers(diagnostic.code, line, blocks)), None)
        if covering is None:
            kept.append(diagnostic)
        else:
            covering.used.add(diagnostic.code)
    return kept


def unused(
    found: list[Directive],
    enabled: Iterable[str],
    known: Callable[[str], bool],
    suppressible: Callable[[str], bool],
) -> list[Diagnostic]:
    """XD900 for every code of a directive that is unknown, cannot be suppressed, or suppressed
    nothing (codes switched off by settings are skipped: they are not reported, so nothing is)."""
    active = set(enabled)
    result = []
    for directive in found:
        for code in directive.codes:
            if not known(code):
                message, hint = (
                    f"unknown rule code {code} in a suppression",
                    "`exportdsl rules` lists the codes",
                )
            elif not suppressible(code):
                message, hint = (
                    f"{code} cannot be suppressed: the connector cannot run with it",
                    "fix the error",
                )
            elif code not in directive.used and code in active and code != UNUSED:
                message, hint = (
                    f"unused suppression: nothing here is reported as {code}",
                    "remove the suppression",
                )
            else:
                continue
            result.append(Diagnostic(UNUSED, message, directive.location(), hint, Severity.WARNING))
    return result
