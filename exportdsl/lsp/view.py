"""What the editor knows of a connector file: its template fields, their phases, its pdata.

From the checked connector when the file loads; when it does not (a key half typed, a time zone
misspelt), from its YAML as far as it reads, so that hover and completion keep working in every
template while the file has errors elsewhere. When the YAML (or JSON) itself does not parse, which
is most of the time while typing (a quote not closed yet, a key without its colon), it is read
from a repaired copy of the same text: every change keeps each other character's offset (a broken
line blanked, an opening quote made a space, closing quotes and brackets appended at the end), so
the templates it finds stand where the editor shows them. Nothing here reports a problem: `lint`
does that (the YAML error is still reported from the text as it is).
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from exportdsl.compiler.plan import FieldPlan
from exportdsl.connector.model import Connector, TemplateField
from exportdsl.connector.pdata import PdataReader
from exportdsl.connector.reader import parse_connector
from exportdsl.connector.shape import STR
from exportdsl.connector.yamlsource import LOADER, compose, node_location, scalar_map
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
    sections: Mapping[str, Location]  # token, export, xml_template: where each key is written
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
    index = LineIndex(text)
    try:
        connector = parse_connector(text, file)
    except ExportDslError:
        return _from_yaml(index, file)
    return _from_connector(connector, {}, index)


def view_of(linted: Linted) -> View:
    index = linted.report.text
    if index is None:
        return View((), {}, {}, {})
    if linted.connector is not None:
        return _from_connector(linted.connector, linted.plans, index)
    return _from_yaml(index, linted.report.path)


def _from_connector(connector: Connector, plans: Mapping[str, FieldPlan], index: LineIndex) -> View:
    fields: list[tuple[TemplateField, Phase]] = []
    sections: dict[str, Location] = {}
    for request in (connector.token, connector.export):
        if request is not None:
            sections[request.phase.value] = _key_of(request.phase.value, request.location, index)
            fields.extend((template, request.phase) for template in request.fields)
    if connector.xml_template is not None:
        fields.append((connector.xml_template, Phase.XML))
        written = connector.xml_template.location()
        sections["xml_template"] = _key_of("xml_template", written, index)
    return View(tuple(fields), connector.pdata, connector.pdata_locations, sections, plans)


def _key_of(key: str, value: Location, index: LineIndex) -> Location:
    """Where a top-level key is written (``token:``, ``"token":``), found before its value's
    place: go to definition goes there; the value's own place when it is not found."""
    before = index.text[: index.offset(value.line, value.column)]
    pattern = re.compile(rf"(?:^|[{{,\s])(?P<key>[\"']?{key}[\"']?)[ \t]*:", re.M)
    found = next(reversed(list(pattern.finditer(before))), None)
    if found is None:
        return value
    return index.location(value.file, found.start("key"), found.end("key") - 1)


def _from_yaml(index: LineIndex, file: str) -> View:
    """The templates of a file whose connector does not load, as far as its YAML reads."""
    try:
        root = compose(index.text, file)
    except ExportDslError:
        repaired = _repaired(index.text, file.endswith(".json"))
        if repaired is None:
            return View((), {}, {}, {})
        root, index = repaired
    if not isinstance(root, MappingNode):
        return View((), {}, {}, {})
    top = {str(key.value): value for key, value in root.value if isinstance(key, ScalarNode)}
    keys = {str(key.value): key for key, _ in root.value if isinstance(key, ScalarNode)}
    fields: list[tuple[TemplateField, Phase]] = []
    sections: dict[str, Location] = {}
    for section, phase in _PHASES.items():
        node = top.get(section)
        if node is not None:
            sections[section] = node_location(keys[section], file)
            fields.extend((template, phase) for template in _templates(node, section, file, index))
    pdata: Mapping[str, Any] = {}
    locations: Mapping[str, Location] = {}
    if "pdata" in top:
        pdata, locations = _pdata(top["pdata"], file, index)
    return View(tuple(fields), pdata, locations, sections)


def _pdata(
    node: Node, file: str, index: LineIndex
) -> tuple[Mapping[str, Any], Mapping[str, Location]]:
    """pdata as far as it reads; jtel's literal whose opening quote is not closed yet (read as a
    mapping of odd keys once the quote is set aside) is read as the literal text it stands for."""
    pdata, locations = PdataReader(file, index).pdata(node)
    if pdata or not isinstance(node, MappingNode) or node.start_mark.line != node.end_mark.line:
        return pdata, locations
    written = index.text[node.start_mark.index : node.end_mark.index]
    literal = ScalarNode(STR, written, node.start_mark, node.end_mark)
    return PdataReader(file, index).pdata(literal)


def _templates(node: Node, name: str, file: str, index: LineIndex) -> Iterator[TemplateField]:
    """Every text scalar below a section (url, headers, body, auth's values; the XML template), in
    file order; walked without recursion (a runaway nesting of a thousand mappings is read)."""
    pending: list[tuple[Node, str]] = [(node, name)]
    while pending:
        node, name = pending.pop()
        if isinstance(node, ScalarNode):
            if isinstance(node.value, str):
                yield TemplateField(
                    name, node.value, scalar_map(node, file, index), node.start_mark.line + 1
                )
        elif isinstance(node, MappingNode):
            pending.extend(
                (value, f"{name}.{key.value}")
                for key, value in reversed(node.value)
                if isinstance(key, ScalarNode) and key.value != "method"
            )


# --- a text that does not parse, repaired without moving what it keeps ---------------------------

REPAIR_SECONDS = 0.25  # each repair mends one error: a few suffice, a broken file stops here
_QUOTES = "\"'"
_CLOSERS = {"{": "}", "[": "]"}
_STARTS_AT_CONTEXT = ("while scanning a simple key", "while parsing a flow")
_BLOCK_HEADER = re.compile(r"(?:^|[\s:-])[|>][-+0-9]*[ \t]*(?:#.*)?\Z")
_MISSING_COMMA = "did not find expected ','"


def _repaired(text: str, json: bool) -> tuple[Node | None, LineIndex] | None:
    """The node tree of a text that does not parse, read from a copy repaired error after error
    (each repair keeps every other character at its offset), and that copy's index; None when
    it cannot be repaired. First the quotes opened and not closed on their line (the line being
    typed, wherever it is: a quote left open swallows the lines below it), then error by error,
    each where YAML says it is, as long as there are lines to mend and time."""
    deadline = time.monotonic() + REPAIR_SECONDS
    first = _unclosed_quotes(text, json)
    for attempt in range(LineIndex(text).lines + 2):
        try:
            return yaml.compose(text, Loader=LOADER), LineIndex(text)
        except yaml.MarkedYAMLError as error:
            mended = first if attempt == 0 and first != text else _repair(text, error, json)
        except (yaml.YAMLError, RecursionError):
            return None
        if mended is None or mended == text or time.monotonic() > deadline:
            return None
        text = mended
    return None


def _unclosed_quotes(text: str, json: bool) -> str:
    """The text with each quote that opens a value and is not closed on its own line made a
    space (the value reads plain where it stands), and in JSON a key half typed on its own line
    blanked; a ``|`` or ``>`` block's text is left alone."""
    lines = text.split("\n")
    block_owner: int | None = None
    for number, line in enumerate(lines):
        content = line.lstrip(" ")
        depth = len(line) - len(content)
        if block_owner is not None and (depth > block_owner or not content.strip()):
            continue
        block_owner = None
        if not json and _BLOCK_HEADER.search(line.rstrip("\r")):
            block_owner = depth
            continue
        _, start = _open_brackets(line)
        if start is None or not (json or _starts_a_value(line, start)):
            continue
        if json and not line[:start].strip(" \t,"):  # a key half typed: nothing to keep of it
            lines[number] = (
                line[:start] + " " * len(line[start:].rstrip("\r")) + line[len(line.rstrip("\r")) :]
            )
        else:
            lines[number] = line[:start] + " " + line[start + 1 :]
    return "\n".join(lines)


def _starts_a_value(line: str, start: int) -> bool:
    """Whether the quote at ``start`` opens a YAML value (after ``key:``, ``- ``, ``[``, ``{``
    or ``,``), not one inside a plain value (``it's``, ``a 'b``)."""
    before = line[:start].rstrip(" \t")
    return not before.strip(" -") or before.endswith((":", "[", "{", ","))


def _repair(text: str, error: yaml.MarkedYAMLError, json: bool) -> str | None:
    """One error mended: at the end of the text (a quote or a bracket not closed yet: the usual
    state of the line being typed), what closes it is appended; a quote opened in block YAML and
    never closed becomes a space (the value reads plain); otherwise the line at fault is blanked."""
    problem = error.problem_mark
    if problem is None:
        return None
    quoted = error.context == "while scanning a quoted scalar"
    quote = _opening_quote(text, error.context_mark) if quoted else None
    if quote is not None and not _open_brackets(text[:quote])[0]:
        return text[:quote] + " " + text[quote + 1 :]
    if (error.problem or "").startswith(_MISSING_COMMA):
        comma = _comma_before(text, problem.index)
        if comma is not None:
            return comma
    if not text[problem.index :].strip():
        closers = _closers(text)
        if closers:
            return text + closers
    return _blanked(text, _line_at_fault(error, problem.line, json))


def _comma_before(text: str, index: int) -> str | None:
    """The text with the space before the item at ``index`` made the comma left out before it
    (``{"a": 1}\n "b": 2`` in a JSON object); None when there is no space on that line."""
    space = index - 1
    while space >= 0 and text[space] in " \t" and space - 1 >= 0 and text[space - 1] in " \t":
        space -= 1
    if space < 0 or text[space] not in " \t":
        return None
    return text[:space] + "," + text[space + 1 :]


def _line_at_fault(error: yaml.MarkedYAMLError, problem_line: int, json: bool) -> int:
    """The line to blank: the one a key without its colon starts on, or in YAML the one a flow
    collection never closed starts on (the error is found on a later line); else the error's
    own (a JSON file is one flow collection: its first line is never at fault)."""
    context = error.context_mark
    starts_at = _STARTS_AT_CONTEXT[:1] if json else _STARTS_AT_CONTEXT
    if context is not None and (error.context or "").startswith(starts_at):
        return int(context.line)
    return problem_line


def _opening_quote(text: str, mark: yaml.Mark | None) -> int | None:
    if mark is None or mark.index >= len(text) or text[mark.index] not in _QUOTES:
        return None
    return int(mark.index)


def _open_brackets(text: str) -> tuple[list[str], int | None]:
    """The brackets (``{``, ``[``) still open at the end of ``text`` outside quotes and comments,
    and where the quote still open there starts (None when none is)."""
    stack: list[str] = []
    quote, start, index = "", None, 0
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                quote, start = "", None
        elif char in _QUOTES and (index == 0 or not text[index - 1].isalnum()):
            quote, start = char, index
        elif char == "#" and (index == 0 or text[index - 1].isspace()):
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
        elif char in _CLOSERS:
            stack.append(char)
        elif char in "}]" and stack:
            stack.pop()
        index += 1
    return stack, start


def _closers(text: str) -> str:
    """What closes the quote and the brackets still open at the end of ``text``."""
    brackets, quote = _open_brackets(text)
    opened = text[quote] if quote is not None else ""
    return opened + "".join(_CLOSERS[bracket] for bracket in reversed(brackets))


def _blanked(text: str, line: int) -> str | None:
    """The text with its 0-based ``line`` made spaces (its line break kept); None past the end or
    when the line is blank already."""
    index = LineIndex(text)
    content = index.line_text(line + 1)
    if not content.strip():
        return None
    start = index.offset(line + 1, 1)
    return text[:start] + " " * len(content) + text[start + len(content) :]
