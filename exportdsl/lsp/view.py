"""What the editor knows of a connector file: its template fields, their phases, its pdata.

From the checked connector when the file loads; when it does not (a key half typed, a time zone
misspelt), from its YAML as far as it reads, so that hover and completion keep working in every
template while the file has errors elsewhere. Nothing here reports a problem: `lint` does that.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from exportdsl.compiler.plan import FieldPlan
from exportdsl.connector.model import Connector, TemplateField
from exportdsl.connector.pdata import PdataReader
from exportdsl.connector.reader import parse_connector
from exportdsl.connector.yamlsource import compose, node_location, scalar_map
from exportdsl.errors import ExportDslError
from exportdsl.lint.runner import Linted
from exportdsl.source import LineIndex, Location
from exportdsl.vocabulary import Phase

__all__ = ["Place", "View", "quick_view", "view_of"]

_PHASES = {"token": Phase.TOKEN, "export": Phase.EXPORT, "xml_template": Phase.XML}


@dataclass(frozen=True)
class Place:
    """A position inside one template field: the field, its phase, the offset in its text."""

    field: TemplateField
    phase: Phase
    offset: int


@dataclass(frozen=True)
class View:
    fields: tuple[tuple[TemplateField, Phase], ...]
    pdata: Mapping[str, Any]
    pdata_locations: Mapping[str, Location]
    sections: Mapping[str, Location]  # token, export, xml_template: where each is written
    plans: Mapping[str, FieldPlan] = field(default_factory=dict)

    def place(self, offset: int) -> Place | None:
        """The template field a file offset stands in, and the offset inside its text."""
        for template, phase in self.fields:
            anchors = template.origin.anchors
            if anchors and anchors[0] <= offset <= anchors[-1]:
                at = min(bisect.bisect_left(anchors, offset), len(anchors) - 1)
                return Place(template, phase, at)
        return None

    def exists(self, name: str) -> bool:
        """Whether the connector has what a variable comes from (as the compiler asks)."""
        if name == "tokenResponse":
            return "token" in self.sections
        if name == "xmlTemplate":
            return "xml_template" in self.sections
        return True


def quick_view(text: str, file: str) -> View:
    """The view of a text without checking it (read, not compiled): completion and definition
    need no more, and a long template's check takes far longer than reading the file."""
    try:
        connector = parse_connector(text, file)
    except ExportDslError:
        return _from_yaml(LineIndex(text), file)
    return _from_connector(connector, {})


def view_of(linted: Linted) -> View:
    if linted.connector is not None:
        return _from_connector(linted.connector, linted.plans)
    index = linted.report.text
    return _from_yaml(index, linted.report.path) if index is not None else View((), {}, {}, {})


def _from_connector(connector: Connector, plans: Mapping[str, FieldPlan]) -> View:
    fields: list[tuple[TemplateField, Phase]] = []
    sections: dict[str, Location] = {}
    for request in (connector.token, connector.export):
        if request is not None:
            sections[request.phase.value] = request.location
            fields.extend((template, request.phase) for template in request.fields)
    if connector.xml_template is not None:
        fields.append((connector.xml_template, Phase.XML))
        sections["xml_template"] = connector.xml_template.location()
    return View(tuple(fields), connector.pdata, connector.pdata_locations, sections, plans)


def _from_yaml(index: LineIndex, file: str) -> View:
    """The templates of a file whose connector does not load, as far as its YAML reads."""
    try:
        root = compose(index.text, file)
    except ExportDslError:
        return View((), {}, {}, {})
    if not isinstance(root, MappingNode):
        return View((), {}, {}, {})
    top = {str(key.value): value for key, value in root.value if isinstance(key, ScalarNode)}
    fields: list[tuple[TemplateField, Phase]] = []
    sections: dict[str, Location] = {}
    for section, phase in _PHASES.items():
        node = top.get(section)
        if node is not None:
            sections[section] = node_location(node, file)
            fields.extend((template, phase) for template in _templates(node, section, file, index))
    pdata: Mapping[str, Any] = {}
    locations: Mapping[str, Location] = {}
    if "pdata" in top:
        pdata, locations = PdataReader(file, index).pdata(top["pdata"])
    return View(tuple(fields), pdata, locations, sections)


def _templates(node: Node, name: str, file: str, index: LineIndex) -> Iterator[TemplateField]:
    """Every text scalar below a section (url, headers, body, auth's values; the XML template)."""
    if isinstance(node, ScalarNode):
        if isinstance(node.value, str):
            yield TemplateField(
                name, node.value, scalar_map(node, file, index), node.start_mark.line + 1
            )
    elif isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value != "method":
                yield from _templates(value, f"{name}.{key.value}", file, index)
