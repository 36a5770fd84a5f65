"""Connector -> Plan: parse every field, check every reference, place every hole, lower to Jinja2.

All errors of a connector are collected (syntax, unknown variables and properties, wrong phase,
bodies that can never be well formed), each located in the file, and raised together.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from exportdsl.catalogue import Phase, Var, catalogue
from exportdsl.config import Connector, Request, TemplateField
from exportdsl.contexts import kind_for_content_type, place
from exportdsl.errors import ConnectorError, Diagnostic, ExportDslError
from exportdsl.nodes import Reference, format_path
from exportdsl.parser import parse
from exportdsl.plan import FieldPlan, Hole, Plan, RequestPlan, compile_blocks, lower, parts
from exportdsl.source import Span

UNDEFINED = "XD201"
UNKNOWN_PROPERTY = "XD202"
WRONG_PHASE = "XD203"
NO_TOKEN_PHASE = "XD204"
SELF_REFERENCE = "XD205"


@dataclass(frozen=True)
class _Lowered:
    field: TemplateField
    kind: str
    phase: Phase
    holes: tuple[Hole, ...]
    body: list[Any]  # Jinja2 nodes


def compile_connector(connector: Connector) -> Plan:
    """The connector's plan; raises `ConnectorError` with every diagnostic when anything is wrong."""
    plan, diagnostics = check_connector(connector)
    if plan is None:
        raise ConnectorError(connector.path, tuple(diagnostics))
    return plan


def check_connector(connector: Connector) -> tuple[Plan | None, list[Diagnostic]]:
    """Every compile diagnostic of a connector, and its plan when there are none."""
    compiler = _Compiler(connector)
    lowered: dict[str, _Lowered] = {}
    for request in (connector.token, connector.export):
        if request is not None:
            lowered.update(compiler.request(request))
    if connector.xml_template is not None:
        lowered[connector.xml_template.name] = compiler.field(connector.xml_template, "xml", Phase.XML)
    if compiler.diagnostics:
        return None, sorted(compiler.diagnostics, key=_order)
    return _assemble(connector, lowered), []


def _order(diagnostic: Diagnostic) -> tuple[int, int]:
    location = diagnostic.location
    return (location.line, location.column) if location else (0, 0)


def _assemble(connector: Connector, lowered: Mapping[str, _Lowered]) -> Plan:
    names = {name: f"f{number}" for number, name in enumerate(lowered)}
    new_context, functions = compile_blocks({names[name]: item.body for name, item in lowered.items()})
    fields = {name: FieldPlan(name, item.kind, item.phase, item.holes, functions[names[name]], new_context)
              for name, item in lowered.items()}

    def request_plan(request: Request | None) -> RequestPlan | None:
        if request is None:
            return None
        return RequestPlan(
            Phase(request.phase), request.method, fields[request.url.name] if request.url else None,
            tuple((header.name, fields[header.value.name]) for header in request.headers),
            fields[request.body.name] if request.body else None, new_context)

    xml = fields.get(connector.xml_template.name) if connector.xml_template else None
    return Plan(connector.id, connector.name, connector.client_id, connector.pdata,
                request_plan(connector.token), request_plan(connector.export), xml)


class _Compiler:
    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.variables = catalogue(connector.pdata)
        self.diagnostics: list[Diagnostic] = []

    def request(self, request: Request) -> Iterable[tuple[str, _Lowered]]:
        phase = Phase(request.phase)
        if request.url:
            yield request.url.name, self.field(request.url, "url", phase)
        for header in request.headers:
            yield header.value.name, self.field(header.value, "header", phase)
        if request.body:
            yield request.body.name, self.field(request.body, _body_kind(request), phase)

    def field(self, field: TemplateField, kind: str, phase: Phase) -> _Lowered:
        try:
            nodes = parse(field.source)
        except ExportDslError as error:
            self.report(field, error.code, error.message, error.span or Span(0, 1), error.hint)
            return _Lowered(field, kind, phase, (), [])
        placement = place(nodes, kind)
        for problem in placement.problems:
            self.report(field, problem.code, problem.message, problem.span, problem.hint)
        references = [node for node in nodes if isinstance(node, Reference)]
        holes = tuple(Hole(reference, context, self.check(field, reference, phase))
                      for reference, context in zip(references, placement.contexts, strict=True))
        return _Lowered(field, kind, phase, holes, lower(parts(nodes, holes)))

    def report(self, field: TemplateField, code: str, message: str, span: Span, hint: str | None) -> None:
        self.diagnostics.append(Diagnostic(code, f"{field.name}: {message}", field.location(span), hint))

    def check(self, field: TemplateField, reference: Reference, phase: Phase) -> str:
        """The reference's value kind; reports what is wrong with it."""
        problem = self.check_head(field, reference, phase)
        if problem:
            self.report(field, *problem)
            return "any"
        var = self.variables[reference.name]
        for depth, segment in enumerate(reference.segments):
            if var.dynamic:
                return "any"
            walked = reference.path[: depth + 1]
            step = _step(var, segment.key, walked)
            if isinstance(step, Var):
                var = step
                continue
            message, hint = step
            self.report(field, UNKNOWN_PROPERTY, message, segment.span, hint)
            return "any"
        if not var.leaf and not var.dynamic:
            parts = ", ".join(f".{name}" for name in var.children)
            self.report(field, UNKNOWN_PROPERTY, f"${reference.dotted} is not a value by itself",
                        reference.span, f"use one of its parts: {parts}")
        return var.kind

    def check_head(self, field: TemplateField, reference: Reference,
                   phase: Phase) -> tuple[str, str, Span, str | None] | None:
        name, span = reference.name, reference.name_span
        if name not in self.variables:
            available = [key for key, var in self.variables.items() if phase in var.phases]
            close = difflib.get_close_matches(name, available, n=1, cutoff=0.6)
            hint = (f"did you mean ${close[0]}? " if close else "") + \
                f"available in the {phase.value} phase: " + ", ".join(f"${key}" for key in available)
            return UNDEFINED, f"undefined variable ${name}", span, hint
        if name == "tokenResponse" and self.connector.token is None:
            return NO_TOKEN_PHASE, "$tokenResponse is used but the connector has no token phase", span, \
                "add a 'token:' section with the token request, or remove the reference"
        if name == "xmlTemplate" and phase is Phase.XML:
            return SELF_REFERENCE, "the XML template cannot refer to itself", span, None
        var = self.variables[name]
        if phase not in var.phases:
            where = " and ".join(p.value for p in Phase if p in var.phases)
            return WRONG_PHASE, f"${name} is not available in the {phase.value} phase", span, \
                f"${name} exists only in the {where} phase{'s' if ' and ' in where else ''}"
        return None


def _step(var: Var, key: str | int, walked: tuple[str | int, ...]) -> Var | tuple[str, str | None]:
    """The catalogue node below ``var`` for one path step, or (message, hint) when there is none."""
    where = "$" + format_path(walked)
    if isinstance(key, int):
        if var.items is not None:
            return var.items
        return f"{where} is not a list; it cannot be indexed", None
    if var.items is not None:
        return f"{where} is a list; pick an element first, e.g. {where}[0]", None
    if key in var.children:
        return var.children[key]
    if not var.children:
        return f"{where} has no properties", None
    close = difflib.get_close_matches(key, list(var.children), n=1, cutoff=0.6)
    available = "available: " + ", ".join(var.children)
    return f"{where} has no property {key!r}", (f"did you mean {close[0]!r}? " if close else "") + available


def _body_kind(request: Request) -> str:
    header = request.header("Content-Type")
    if header is None or "$" in header.value.source:
        return "text"
    return kind_for_content_type(header.value.source)
