"""The plan: compiled fields that render requests from variables (Jinja2 underneath).

The compiler hands us Jinja2 AST nodes, never template text, so nothing a user writes can be read
as Jinja syntax. A connector's fields become the blocks of one Jinja2 template, compiled once to
Python code; a request renders all its fields from one render context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, nodes
from jinja2.runtime import Context

from exportdsl.catalogue import Phase
from exportdsl.errors import RenderError
from exportdsl.escaping import ESCAPERS, needs_escaping
from exportdsl.nodes import Node, Reference, Text
from exportdsl.values import lookup

_ENV = Environment(autoescape=False, keep_trailing_newline=True, cache_size=0)
_ENV.filters.update({f"x_{context}": escaper for context, escaper in ESCAPERS.items()})
_ENV.filters["x_lookup"] = lookup


@dataclass(frozen=True, slots=True)
class Hole:
    """A reference as the plan sees it: where it lands and how it is escaped."""

    reference: Reference
    context: str  # the escaping context, a key of `escaping.ESCAPERS`
    kind: str  # the value's alphabet (catalogue kind); "any" when not ours

    @property
    def escaped(self) -> bool:
        return self.reference.quiet or needs_escaping(self.kind, self.context)


def parts(template: tuple[Node, ...], holes: tuple[Hole, ...]) -> list[str | Hole]:
    """Text and holes in output order, adjacent text merged; comments produce nothing."""
    result: list[str | Hole] = []
    remaining = iter(holes)
    for node in template:
        if isinstance(node, Text):
            if result and isinstance(result[-1], str):
                result[-1] += node.value
            else:
                result.append(node.value)
        elif isinstance(node, Reference):
            result.append(next(remaining))
    return result


def lower(pieces: list[str | Hole]) -> list[nodes.Node]:
    """Literal text and holes -> the body of one Jinja2 output node."""
    children: list[nodes.Expr] = []
    for part in pieces:
        if isinstance(part, str):
            if part:
                children.append(nodes.TemplateData(part))
            continue
        reference = part.reference
        value: nodes.Expr = nodes.Filter(
            nodes.Name(reference.name, "load"), "x_lookup",
            [nodes.Const(reference.path), nodes.Const(reference.quiet)], [], None, None)
        if part.escaped:
            value = nodes.Filter(value, f"x_{part.context}", [], [], None, None)
        children.append(value)
    return [nodes.Output(children)] if children else []


RenderFunction = Callable[[Context], Iterator[str]]


def compile_blocks(bodies: Mapping[str, list[nodes.Node]]) -> tuple[Callable[[Mapping[str, Any]], Context],
                                                                    dict[str, RenderFunction]]:
    """One Jinja2 template with a block per field; returns a context factory and the block functions."""
    blocks = [nodes.Block(name, body, False, False) for name, body in bodies.items()]
    template = _ENV.from_string(nodes.Template(blocks))
    return (lambda variables: template.new_context(dict(variables), shared=True)), dict(template.blocks)


@dataclass(frozen=True)
class FieldPlan:
    """One compiled template field."""

    name: str
    kind: str  # text, url, header, json, xml or form
    phase: Phase | None
    holes: tuple[Hole, ...]
    function: RenderFunction
    new_context: Callable[[Mapping[str, Any]], Context]

    def render(self, variables: Mapping[str, Any]) -> str:
        return self.render_in(self.new_context(variables))

    def render_in(self, context: Context) -> str:
        try:
            text = "".join(self.function(context))
        except RenderError as error:
            raise RenderError(f"{self.name}: {error.message}", hint=error.hint, code=error.code) from None
        if self.kind == "url":
            _check_url(self.name, text)
        return text


def _check_url(name: str, url: str) -> None:
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        raise RenderError(f"{name}: the URL contains white space or control characters",
                          hint="a value before the path is inserted as is; check it")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RenderError(f"{name}: {_shorten(url)!r} is not an http or https URL with a host")


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class RenderedRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: str | None


@dataclass(frozen=True)
class RequestPlan:
    phase: Phase
    method: str
    url: FieldPlan | None
    headers: tuple[tuple[str, FieldPlan], ...]
    body: FieldPlan | None
    new_context: Callable[[Mapping[str, Any]], Context]

    @property
    def fields(self) -> Iterator[FieldPlan]:
        if self.url:
            yield self.url
        yield from (field for _, field in self.headers)
        if self.body:
            yield self.body

    def render(self, variables: Mapping[str, Any]) -> RenderedRequest:
        if self.url is None:
            raise RenderError(f"the {self.phase.value} request has no url, so it cannot be sent",
                              hint="set export.url; without it jtel shows no Report Export button")
        context = self.new_context(variables)
        return RenderedRequest(
            self.method, self.url.render_in(context),
            tuple((name, field.render_in(context)) for name, field in self.headers),
            self.body.render_in(context) if self.body else None)


@dataclass(frozen=True)
class Plan:
    """A checked, compiled connector: what the executor runs."""

    connector_id: int | str
    connector_name: str
    client_id: int | str
    pdata: Mapping[str, Any]
    token: RequestPlan | None
    export: RequestPlan | None
    xml_template: FieldPlan | None

    def connector_variables(self) -> dict[str, Any]:
        """The variables the connector itself defines: $ClientsID, $chatConnector, $pdata."""
        return {"ClientsID": self.client_id, "pdata": self.pdata,
                "chatConnector": {"id": self.connector_id, "name": self.connector_name}}

    @property
    def export_enabled(self) -> bool:
        return self.export is not None and self.export.url is not None

    @property
    def fields(self) -> Iterator[FieldPlan]:
        if self.token:
            yield from self.token.fields
        if self.xml_template:
            yield self.xml_template
        if self.export:
            yield from self.export.fields
