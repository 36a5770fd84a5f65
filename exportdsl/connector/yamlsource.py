"""Reading a connector file: bytes -> text -> YAML node tree, and YAML scalars -> `SourceMap`s.

Everything that can go wrong before the connector's shape is checked (a missing file, invalid
UTF-8, a file too large, a YAML or JSON syntax error) becomes a `LoadError` with a location.
JSON files are read through the same YAML composer (JSON is YAML's flow syntax) so that both
formats give node positions; `json` runs first on them only for its more precise error messages.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

import yaml
from yaml.nodes import Node, ScalarNode

from exportdsl.errors import LoadError
from exportdsl.source import LineIndex, Location, SourceMap

__all__ = [
    "LOADER",
    "MAX_FILE_BYTES",
    "compose",
    "decode",
    "node_location",
    "read_text",
    "scalar_map",
    "source_text",
    "text_of",
    "yaml_quoted",
]

MAX_FILE_BYTES = (
    1 << 20
)  # connector files are hand-written configs; 1 MiB is far beyond any real one

try:
    LOADER: type = yaml.CSafeLoader  # libyaml: ~10x faster, and tolerant of tab-indented JSON
except AttributeError:  # pragma: no cover - PyYAML wheels ship libyaml
    LOADER = yaml.SafeLoader


def read_text(path: Path) -> str:
    """The file's text.

    A clear `LoadError` for missing, unreadable, oversized or non-UTF-8 files.
    """
    file = str(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise LoadError(f"{file}: no such file", hint="check the path") from None
    except IsADirectoryError:
        raise LoadError(f"{file}: is a directory, not a connector file") from None
    except OSError as error:
        raise LoadError(f"{file}: cannot read: {error.strerror or error}") from None
    return text_of(data, file)


def text_of(data: bytes, file: str) -> str:
    """The text of a connector file's bytes (read up to one byte past `MAX_FILE_BYTES`, so that a
    larger file is refused): standard input too. A clear `LoadError` when too large or not UTF-8."""
    if len(data) > MAX_FILE_BYTES:
        raise LoadError(
            f"{file}: larger than {MAX_FILE_BYTES // 1024} KiB; connector files are small configs",
            location=Location(file, 1, 1, 1, 1),
            hint="keep large data out of the connector (use $env or the chat)",
        )
    return decode(data, file)


def decode(data: bytes, file: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = (
            len(
                data[data.rfind(b"\n", 0, error.start) + 1 : error.start].decode("utf-8", "replace")
            )
            + 1
        )
        raise LoadError(
            f"invalid UTF-8: byte 0x{data[error.start]:02x} cannot start or continue a character",
            location=Location(file, line, column, line, column),
            hint="save the file as UTF-8",
        ) from None
    return text.removeprefix("\ufeff")


def compose(text: str, file: str) -> Node | None:
    """The YAML node tree of a one-document file (``None`` when the file is empty)."""
    if file.endswith(".json"):
        _check_json(text, file)
        text = _JSON_SURROGATE_PAIR.sub(_astral_escape, text)
    try:
        node: Node | None = yaml.compose(text, Loader=LOADER)
        return node
    except yaml.MarkedYAMLError as error:
        raise _yaml_error(error, file, text) from None
    except yaml.YAMLError as error:
        raise LoadError(f"YAML error: {error}", location=Location(file, 1, 1, 1, 1)) from None
    except RecursionError:
        raise _too_deep(file) from None


# JSON writes characters beyond U+FFFF as two \\u escapes (a surrogate pair), which YAML refuses;
# YAML's \\U escape says the same. (Columns after such an escape on its line are 2 off.)
_JSON_SURROGATE_PAIR = re.compile(r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})")


def _astral_escape(match: re.Match[str]) -> str:
    high, low = int(match.group(1), 16), int(match.group(2), 16)
    return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08X}"


def _check_json(text: str, file: str) -> None:
    """JSON's own syntax check, for its precise messages. Numbers stay text here: converting a
    number of over 4,300 digits raises ValueError (the shape reader reports it, with its place)."""
    try:
        json.loads(text, parse_int=str, parse_float=str, parse_constant=str)
    except json.JSONDecodeError as error:
        raise _trailing_comma(error, file) or _json_error(error, file) from None
    except RecursionError:
        raise _too_deep(file) from None


def _json_error(error: json.JSONDecodeError, file: str) -> LoadError:
    at = Location(file, error.lineno, error.colno, error.lineno, error.colno)
    return LoadError(f"JSON syntax error: {error.msg}", location=at)


def _trailing_comma(error: json.JSONDecodeError, file: str) -> LoadError | None:
    """A comma before a closing bracket, pointed at where it stands (json points at the bracket,
    which is not the mistake)."""
    closer = error.doc[error.pos : error.pos + 1]
    before = error.doc[: error.pos].rstrip()
    if closer not in ("}", "]") or not before.endswith(","):
        return None
    comma = len(before) - 1
    line = error.doc.count("\n", 0, comma) + 1
    column = comma - (error.doc.rfind("\n", 0, comma) + 1) + 1
    what = "an object" if closer == "}" else "a list"
    return LoadError(
        f"JSON syntax error: a comma after the last item of {what}",
        location=Location(file, line, column, line, column),
        hint="JSON allows no comma before '}' or ']': remove it",
    )


def _too_deep(file: str) -> LoadError:
    return LoadError(
        "the file is nested too deeply to read",
        location=Location(file, 1, 1, 1, 1),
        hint="a connector file is a few levels deep; check for runaway brackets",
    )


def _yaml_error(error: yaml.MarkedYAMLError, file: str, text: str) -> LoadError:
    mark = error.problem_mark or error.context_mark
    location = (
        Location(file, mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 1)
        if mark
        else Location(file, 1, 1, 1, 1)
    )
    problem = error.problem or "syntax error"
    context = f" ({error.context})" if error.context else ""
    message = f"YAML syntax error: {problem}{context}"
    if (
        "expected a single document" in (error.context or "")
        or "but found another document" in problem
    ):
        return LoadError(
            message,
            location=location,
            hint="one connector a file: remove the extra '---' documents",
        )
    index = LineIndex(text)
    lines = [index.line_text(number) for number in range(1, index.lines + 1)]
    if mark is not None and mark.line < len(lines):
        in_flow = "flow" in f"{error.context} {problem}"  # inside {…} or […]: no indentation there
        indentation = None if in_flow else _misindented(lines, mark.line)
        if indentation is not None:
            (start, end), indent_hint = indentation
            where = Location(file, mark.line + 1, start + 1, mark.line + 1, end)
            return LoadError(message, location=where, hint=indent_hint)
        # a flow collection opened on an earlier line and never closed: the mistake is up there
        opened = (
            error.context_mark if (error.context or "").startswith("while parsing a flow") else None
        )
        starts_here = opened is None or opened.line == mark.line
        quote_hint = _unquoted_flow_value(lines, mark.line) if starts_here else None
        if quote_hint is not None:
            return LoadError(message, location=location, hint=quote_hint)
    return LoadError(message, location=location, hint=_QUOTE_HINT)


_QUOTE_HINT = "a value with ': ' or a leading '{', '[', '*', '&', '!', '%', '@' or '`' needs quotes"


# --- hints that fit the mistake -----------------------------------------------------------------


class _KeyLine(NamedTuple):
    """A line that starts a block mapping entry: ``<indent>key: value``."""

    indent: str
    key: str
    value: str


_KEY_END = re.compile(r":(?:[ \t]|\Z)")  # `name:` then a space or the end (not `https://`)
_NOT_A_KEY = tuple("#'\"{[]}>|&*!%@`,-")
_BLOCK_SCALAR = re.compile(r"[|>][-+0-9]*[ \t]*(?:#.*)?\Z")


def _key_line(line: str) -> _KeyLine | None:
    content = line.lstrip(" \t")
    if not content or content.startswith(_NOT_A_KEY):
        return None
    colon = _KEY_END.search(content)
    if colon is None or "#" in content[: colon.start()]:
        return None
    key = content[: colon.start()].rstrip(" \t")
    return _KeyLine(line[: len(line) - len(content)], key, content[colon.end() :].strip(" \t"))


def _misindented(lines: list[str], number: int) -> tuple[tuple[int, int], str] | None:
    """For a YAML error on a line whose indentation is the mistake: the columns to point at
    (0-based start, 1-based end) and a hint naming the indentation its siblings have."""
    line = lines[number]
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    levels, opens_child, in_block = _open_levels(lines[:number])
    if "\t" in indent:
        tab = indent.index("\t")
        where = (
            " (the text of a | or > block too)"
            if in_block
            else f" (its siblings: {_spaces(levels[-1])})"
            if levels and not opens_child
            else ""
        )
        return (tab, tab + 1), f"this line is indented with a tab; YAML indents with spaces{where}"
    key = _key_line(line)
    depth = len(indent)
    if key is None or not levels or depth in levels or (opens_child and depth > levels[-1]):
        return None
    # The level it missed: the innermost when it is deeper than all, else the next one below it.
    sibling = levels[-1] if depth > levels[-1] else min(lv for lv in levels if lv > depth)
    hint = f"this key is indented {_spaces(depth)}; its siblings {sibling}: line it up with them"
    return (depth, depth + len(key.key)), hint


def _open_levels(lines: list[str]) -> tuple[list[int], bool, bool]:
    """The indentation of each mapping still open at the end of ``lines`` (outermost first),
    whether the last key opens a nested mapping (has no value on its line), and whether the
    lines end inside a ``|`` or ``>`` block."""
    levels: list[int] = []
    opens_child = False
    block_owner: int | None = None  # the indentation of a key whose `|` or `>` block we are in
    for line in lines:
        content = line.lstrip(" ")
        if not content.strip() or content.startswith("#"):
            continue
        depth = len(line) - len(content)
        if block_owner is not None and depth > block_owner:
            continue  # the text of a block scalar, however it looks
        block_owner = None
        key = _key_line(line)
        if key is None or "\t" in key.indent:
            continue
        while levels and levels[-1] > depth:
            levels.pop()
        if not levels or levels[-1] < depth:
            levels.append(depth)
        opens_child = not key.value or key.value.startswith("#")
        if _BLOCK_SCALAR.match(key.value):
            block_owner = depth
    return levels, opens_child, block_owner is not None


def _spaces(count: int) -> str:
    return f"{count} space{'s' if count != 1 else ''}"


def _unquoted_flow_value(lines: list[str], number: int) -> str | None:
    """A hint for a value YAML tried to read as a flow mapping (`{...}`) that was meant as text,
    jtel's pdata literal ``{name:'John Doe'}`` above all: the value quoted as YAML needs it. Only
    where the value is text (a template, a header's value, pdata): a slip inside a mapping that
    must stay one (``connector: {…}``, ``headers: {…}``) quoted whole would be a new error."""
    key = _key_line(lines[number])
    if key is None or not _meant_as_text(_key_path(lines, number)):
        return None
    value = key.value
    if len(value) > 2 and value[0] in "'\"" and value[1] == "{" and value.endswith("}" + value[0]):
        value = value[1:-1]  # quoted with the quote the literal uses inside: YAML ends it early
    if not value.startswith("{"):
        return None
    written = f"{key.key}: {yaml_quoted(value)}"
    if key.key == "pdata":
        return f"jtel's pdata literal is text to YAML: quote it whole: {written}"
    return f"to write this value as text, quote it whole: {written}"


_REQUESTS = ("token", "export")
_AUTH_SCHEMES = ("basic", "client_secret_basic")


def _meant_as_text(path: list[str] | None) -> bool:
    """Whether the key at ``path`` (from the top) holds text: pdata (jtel's literal) and its
    values, the XML template, a request's url and body, a header's value, auth's credentials."""
    if not path:
        return False
    top, rest = path[0], path[1:]
    if top in ("pdata", "xml_template"):
        return len(rest) <= (1 if top == "pdata" else 0)
    if top not in _REQUESTS or not rest:
        return False
    if len(rest) == 1:
        return rest[0] in ("url", "body")
    if rest[0] == "headers":
        return len(rest) == 2
    return rest[0] == "auth" and len(rest) == 3 and rest[1] in _AUTH_SCHEMES


def _key_path(lines: list[str], number: int) -> list[str] | None:
    """The keys from the top down to the block mapping key on line ``number`` (by indentation);
    None when the line is no key or its parents cannot be told."""
    key = _key_line(lines[number])
    if key is None or "\t" in key.indent:
        return None
    path, depth = [key.key.strip("'\"")], len(key.indent)
    for line in reversed(lines[:number]):
        if depth == 0:
            break
        parent = _key_line(line)
        if parent is not None and "\t" not in parent.indent and len(parent.indent) < depth:
            path.insert(0, parent.key.strip("'\""))
            depth = len(parent.indent)
    return path if depth == 0 else None


def yaml_quoted(text: str) -> str:
    """``text`` as a YAML quoted scalar: double quotes unless it holds a double quote or a backslash
    (an escape there), else single quotes with each ``'`` doubled."""
    if '"' not in text and "\\" not in text:
        return f'"{text}"'
    return "'" + text.replace("'", "''") + "'"


def source_text(node: Node, text: str) -> str | None:
    """A node as written in the file, when it is written on one line (for hints that quote it)."""
    written: str = text[node.start_mark.index : node.end_mark.index]
    return written if written and "\n" not in written else None


def node_location(node: Node, file: str) -> Location:
    start, end = node.start_mark, node.end_mark
    end_line, end_column = end.line + 1, max(end.column, 1)
    if end.column == 0 and end.line > start.line:  # block scalars end at the start of the next line
        end_line, end_column = end.line, 1
    return Location(file, start.line + 1, start.column + 1, end_line, end_column)


def scalar_map(node: ScalarNode, file: str, index: LineIndex) -> SourceMap:
    """For each character of the scalar's value, the file offset it was written at."""
    start, end = node.start_mark.index, node.end_mark.index
    raw = index.text[start:end]
    value: str = node.value
    style = node.style or ""
    if style in ("", "'", '"') and raw.strip("'\"") == value and "\n" not in raw:
        first = start + (1 if style else 0)
        return SourceMap(file, index, lambda: list(range(first, first + len(value) + 1)))
    return SourceMap(file, index, lambda: _align(raw, start, value, style))


def _align(raw: str, base: int, value: str, style: str) -> list[int]:
    """Walks the raw scalar and its value side by side, skipping what YAML removed (quotes, block
    headers, indentation, folded line breaks) and reading escapes as the one character they are."""
    position = {"'": 1, '"': 1}.get(style, 0)
    if style in ("|", ">"):
        position = raw.find("\n") + 1
    anchors: list[int] = []
    escape = {'"': "\\", "'": "'"}.get(style)
    index = 0
    while index < len(value):
        position = _seek(raw, position, value[index], style)
        anchors.append(base + min(position, max(len(raw) - 1, 0)))
        width = _width(raw, position, style)
        if width == 1 and raw[position : position + 1] == value[index]:
            # the characters written as they are (a line, say) map one to one: taken at once
            run = _same_run(raw, position + 1, value, index + 1, escape)
            anchors.extend(range(base + position + 1, base + position + 1 + run))
            position, index = position + 1 + run, index + 1 + run
        else:
            position, index = position + width, index + 1
    anchors.append(base + min(position, len(raw)))
    return anchors


def _same_run(raw: str, position: int, value: str, index: int, escape: str | None) -> int:
    """How many characters from ``raw[position]`` and ``value[index]`` on are the same (none of
    them an escape): doubling, then halving, so that a long run costs a few string compares."""
    limit = min(len(raw) - position, len(value) - index)
    if escape is not None:
        found = raw.find(escape, position, position + limit)
        limit = limit if found < 0 else found - position
    low, step = 0, 16
    while low < limit:  # invariant: the first `low` characters are the same
        size = min(step, limit - low)
        if raw[position + low : position + low + size] == value[index + low : index + low + size]:
            low, step = low + size, step * 2
        elif size == 1:
            break
        else:
            step = max(1, size // 2)
    return low


def _seek(raw: str, position: int, char: str, style: str) -> int:
    limit = len(raw)
    probe = position
    while probe < limit:
        if style == '"' and raw[probe] == "\\":
            if raw[probe + 1 : probe + 2] != "\n":
                return probe
        elif raw[probe] == char:
            return probe
        probe += 1
    return position  # not found: keep the last good position rather than jump to the end


def _width(raw: str, position: int, style: str) -> int:
    if style == '"' and raw[position : position + 1] == "\\":
        return {"x": 4, "u": 6, "U": 10}.get(raw[position + 1 : position + 2], 2)
    if style == "'" and raw[position : position + 2] == "''":
        return 2
    return 1
