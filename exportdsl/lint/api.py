"""What a lint rule is and what it sees.

A rule is a module in `exportdsl.lint.rules` with a docstring (the anti-pattern and the better way)
and a ``RULE``. Rules that the loader or the compiler report (syntax, unknown variables, ...) have
no ``check``: they are in the registry for their code, severity and documentation. The others get a
`LintContext` (the loaded connector and every analysed field) and yield `Finding`s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from exportdsl.compiler.plan import FieldPlan
from exportdsl.connector.model import Connector, TemplateField
from exportdsl.errors import Code, ExportDslError, Severity
from exportdsl.language.nodes import Node, Reference, Text, read_by, walk
from exportdsl.language.parser import parse
from exportdsl.source import Location


@dataclass(frozen=True)
class Finding:
    location: Location | None
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class LintContext:
    connector: Connector
    plans: Mapping[str, FieldPlan]  # by field name, as the compiler analysed them
    env: Mapping[str, str] | None = None  # given with --env: check $env.NAME against it
    _nodes: dict[str, tuple[Node, ...] | None] = field(default_factory=dict, repr=False)
    # what several rules ask of the same template, made once (a 1,000-line body, each keystroke)
    _references: dict[str, tuple[Reference, ...]] = field(default_factory=dict, repr=False)

    @property
    def fields(self) -> Iterator[TemplateField]:
        return self.connector.fields

    def nodes(self, template: TemplateField) -> tuple[Node, ...]:
        """The parsed template (empty when it does not parse: the compiler reported that)."""
        return self._parsed(template) or ()

    def parses(self, template: TemplateField) -> bool:
        """False for a template with a syntax error: what it uses cannot be known."""
        return self._parsed(template) is not None

    def _parsed(self, template: TemplateField) -> tuple[Node, ...] | None:
        if template.name not in self._nodes:
            try:
                # directives' bodies too, in source order: the rules look at text and references
                self._nodes[template.name] = tuple(walk(parse(template.source)))
            except ExportDslError:  # a syntax error is already a diagnostic of its own
                self._nodes[template.name] = None
        return self._nodes[template.name]

    def references(self, template: TemplateField) -> Iterator[Reference]:
        """The holes and what directives read (conditions, loop sources, #set values)."""
        found = self._references.get(template.name)
        if found is None:
            found = tuple(reference for node in self.nodes(template) for reference in read_by(node))
            self._references[template.name] = found
        return iter(found)

    def all_references(self) -> Iterator[tuple[TemplateField, Reference]]:
        for template in self.fields:
            for reference in self.references(template):
                yield template, reference

    def plan(self, template: TemplateField) -> FieldPlan | None:
        return self.plans.get(template.name)

    def literal(self, template: TemplateField) -> tuple[str, list[int]]:
        """The field's output with every reference as NUL, and each character's template offset."""
        text: list[str] = []
        offsets: list[int] = []
        for node in self.nodes(template):
            if isinstance(node, Text):
                text.append(node.value)
                offsets.extend(range(node.value_start, node.value_start + len(node.value)))
            elif isinstance(node, Reference):
                text.append("\0")
                offsets.append(node.span.start)
        return "".join(text), offsets


Check = Callable[[LintContext], Iterable[Finding]]


@dataclass(frozen=True)
class Rule(Code):
    """A code that the linter checks for itself (``check``), or one the loader or the compiler
    reports (no ``check``), listed for its documentation and severity."""

    check: Check | None = None


def rule(
    code: str, name: str, severity: Severity, doc: str | None, check: Check | None = None
) -> Rule:
    if not doc:
        raise ValueError(f"rule {code} needs a docstring: its anti-pattern and the better way")
    return Rule(code, name, severity, doc, check)


__all__ = ["Check", "Finding", "LintContext", "Rule", "Severity", "rule"]
