"""Suppression comments: ``# exportdsl: disable=CODE[,CODE]`` and ``# exportdsl: disable-file=CODE``.

A line suppression covers its own line and the next one, and, for a block scalar, the whole block
when it stands on the ``key: |`` line (a comment inside the block would be template text).
A suppression that suppresses nothing is reported as XD900.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from exportdsl.errors import Diagnostic, Severity
from exportdsl.source import LineIndex, Location

UNUSED = "XD900"
_DIRECTIVE = re.compile(r"(?:^|\s)#\s*exportdsl:\s*(?P<kind>disable|disable-file)\s*=\s*"
                        r"(?P<codes>[A-Za-z0-9]+(?:\s*,\s*[A-Za-z0-9]+)*)")


@dataclass
class Directive:
    file: str
    line: int
    column: int
    kind: str  # "disable" or "disable-file"
    codes: tuple[str, ...]
    used: set[str] = field(default_factory=set)

    def covers(self, code: str, line: int, blocks: Iterable[tuple[int, int]]) -> bool:
        if code not in self.codes:
            return False
        if self.kind == "disable-file" or line in (self.line, self.line + 1):
            return True
        return any(start == self.line and start <= line <= end for start, end in blocks)


def directives(file: str, text: LineIndex) -> list[Directive]:
    found = []
    for number, line in enumerate(text.text.splitlines(), start=1):
        if "exportdsl:" not in line:
            continue
        for match in _DIRECTIVE.finditer(line):
            codes = tuple(code.strip().upper() for code in match.group("codes").split(","))
            found.append(Directive(file, number, match.start() + 1 + (match.group()[0].isspace()),
                                   match.group("kind"), codes))
    return found


def suppress(diagnostics: Iterable[Diagnostic], found: list[Directive],
             blocks: list[tuple[int, int]]) -> list[Diagnostic]:
    """The diagnostics no directive covers; each covering directive remembers the code it used."""
    kept = []
    for diagnostic in diagnostics:
        line = diagnostic.location.line if diagnostic.location else 0
        covering = next((d for d in found if d.covers(diagnostic.code, line, blocks)), None)
        if covering is None:
            kept.append(diagnostic)
        else:
            covering.used.add(diagnostic.code)
    return kept


def unused(found: list[Directive], enabled: Iterable[str]) -> list[Diagnostic]:
    """XD900 for every code of a directive that suppressed nothing (codes switched off are skipped)."""
    active = set(enabled)
    result = []
    for directive in found:
        for code in directive.codes:
            if code not in directive.used and code in active:
                where = Location(directive.file, directive.line, directive.column, directive.line,
                                 directive.column)
                result.append(Diagnostic(UNUSED, f"unused suppression: nothing here is reported as {code}",
                                         where, "remove the suppression", Severity.WARNING))
    return result
