"""Fixes: the edits that do what a diagnostic's hint says, for `check --fix` and the editor.

One place decides every fix, so `exportdsl check --fix` and the language server's code actions
always agree. A fix is offered only where it is safe:

- **did you mean**: an unknown key, variable, property, time zone or address range whose hint
  names the one meant (XD002, XD201, XD202) is replaced by it, and only when the text the
  diagnostic points at is exactly the name its message quotes (so a message reworded one day
  gives no fix rather than a wrong one);
- **`|-`**: a `|` or `>` block whose final line break no request can carry (a header, a URL, a
  form's last value: XD212, XD213, XD214) gets the strip indicator;
- **quoting**: a plain value YAML 1.1 reads as a boolean or a number, a value that must be text
  (a number, a flow mapping YAML took for one), and jtel's unquoted pdata literal are quoted as
  their hint writes it; never a ``null`` or ``~`` (the word quoted would be sent as the value:
  what is meant there is not known, so it is left to the author).

Every diagnostic a fix answers is an error or a warning about the text it edits, so a fix never
touches a connector that has nothing to fix. `fix_source` applies them the way ruff's ``--fix``
does: pass after pass until nothing changes, each pass re-checked; a pass whose result no longer
loads (where the file did) is not kept.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from exportdsl.compiler import rules as compile_rules
from exportdsl.connector.model import Connector
from exportdsl.connector.yamlsource import compose, read_text, text_of, yaml_quoted
from exportdsl.errors import ConfigError, Diagnostic, ExportDslError, LoadError, Severity
from exportdsl.lint.runner import FileReport, Linted, lint_source, unreadable
from exportdsl.lint.settings import Settings
from exportdsl.source import LineIndex, Location

__all__ = [
    "MAX_PASSES",
    "Edit",
    "Fix",
    "Fixed",
    "apply_fixes",
    "fix_bytes",
    "fix_file",
    "fix_holds",
    "fix_source",
    "fixes",
]

MAX_PASSES = 10  # a fix can reveal another (a section's key fixed: its contents are checked)


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace the text in ``[start, end)`` (offsets into the file's text) with ``text``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Fix:
    title: str
    diagnostic: Diagnostic
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class Fixed:
    """What `fix_source` did: the new text, how many fixes it applied, and its check."""

    text: str
    applied: int
    linted: Linted


def fixes(linted: Linted) -> list[Fix]:
    """Every fix for a file's diagnostics, in file order (they may overlap: `apply_fixes` keeps
    the first of overlapping ones)."""
    index = linted.report.text
    if index is None:
        return []
    found: list[Fix] = []
    for diagnostic in linted.report.diagnostics:
        if diagnostic.location is not None:
            found.extend(_fixes_for(diagnostic, diagnostic.location, index, linted.connector))
    if any(fix.diagnostic.message.startswith(_UNKNOWN_KEY) for fix in found):
        keys = _keys_by_mapping(index.text, linted.report.path)
        found = [fix for fix in found if not _repeats_a_key(fix, keys)]
    return found


def apply_fixes(text: str, chosen: Iterable[Fix]) -> tuple[str, int]:
    """The text with the fixes applied, and how many were; a fix overlapping one applied before
    it waits for the next pass."""
    taken: list[Edit] = []
    count = 0
    for fix in chosen:
        if any(_overlap(edit, other) for edit in fix.edits for other in taken):
            continue
        taken.extend(fix.edits)
        count += 1
    for edit in sorted(taken, key=lambda edit: edit.start, reverse=True):
        text = text[: edit.start] + edit.text + text[edit.end :]
    return text, count


def fix_source(text: str, file: str, settings: Settings) -> Fixed:
    """Every safe fix applied, pass after pass, until none is left. Each pass is re-checked: a
    fix is kept only when the problem it answers went away and it made no new one on the lines
    it edited (nor stopped the file loading); when a pass's fixes do not all hold, they are
    tried one by one and those that fail are refused. ``applied`` counts the problems that went
    away."""
    linted = lint_source(text, file, settings)
    applied = 0
    refused: set[tuple[str, str, str]] = set()
    for _ in range(MAX_PASSES):
        offered = [fix for fix in fixes(linted) if _identity(fix) not in refused]
        taken = _chosen(offered)
        if not taken:
            break
        new_text, _ = apply_fixes(text, taken)
        checked = lint_source(new_text, file, settings)
        if _holds(linted, checked, taken, text):
            text, linted, applied = new_text, checked, applied + len(taken)
            continue
        for fix in taken:  # one by one: the first that holds is kept, the others wait a pass
            one_text, _ = apply_fixes(text, [fix])
            one = lint_source(one_text, file, settings)
            if _holds(linted, one, [fix], text):
                text, linted, applied = one_text, one, applied + 1
                break
            refused.add(_identity(fix))
    return Fixed(text, applied, linted)


def fix_holds(linted: Linted, fix: Fix, settings: Settings) -> bool:
    """Whether ``fix`` makes its problem go away without making a new one (for the editor, which
    marks only such a fix as the preferred one, and offers no other)."""
    index = linted.report.text
    if index is None:
        return False
    new_text, _ = apply_fixes(index.text, [fix])
    return _holds(linted, lint_source(new_text, linted.report.path, settings), [fix], index.text)


def _identity(fix: Fix) -> tuple[str, str, str]:
    return fix.title, fix.diagnostic.code, fix.diagnostic.message


def _chosen(offered: list[Fix]) -> list[Fix]:
    """The fixes of one pass: the first of any that overlap."""
    taken: list[Fix] = []
    for fix in offered:
        if not any(_overlap(edit, other) for edit in fix.edits for t in taken for other in t.edits):
            taken.append(fix)
    return taken


def _holds(before: Linted, after: Linted, taken: list[Fix], text: str) -> bool:
    """Whether the fixes ``taken`` (applied to ``text``) did what they say: each problem they
    answer is reported fewer times, no error is new on a line they edited, the file still loads
    where it did."""
    if _stops_loading(before, after):
        return False
    old = Counter(_key(d) for d in before.report.diagnostics)
    new = Counter(_key(d) for d in after.report.diagnostics)
    answered = Counter(_key(fix.diagnostic) for fix in taken)
    if any(new[key] > old[key] - count for key, count in answered.items()):
        return False
    edited = _edited_lines(text, [edit for fix in taken for edit in fix.edits])
    return not any(
        new[_key(d)] > old[_key(d)] and d.location is not None and d.location.line in edited
        for d in after.report.diagnostics
        if d.severity is Severity.ERROR  # a warning there is revealed (pdata now read), not made
    )


def _key(diagnostic: Diagnostic) -> tuple[str, str]:
    return diagnostic.code, diagnostic.message


def _edited_lines(text: str, edits: list[Edit]) -> set[int]:
    """The 1-based lines, in ``text`` with the edits applied, that the edits wrote."""
    lines: set[int] = set()
    newlines = 0
    for edit in sorted(edits, key=lambda edit: edit.start):
        first = text.count("\n", 0, edit.start) + 1 + newlines
        lines.update(range(first, first + edit.text.count("\n") + 1))
        newlines += edit.text.count("\n") - text.count("\n", edit.start, edit.end)
    return lines


def _keys_by_mapping(text: str, file: str) -> dict[int, set[str]]:
    """For the offset of each mapping key, the keys of its mapping."""
    try:
        root = compose(text, file)
    except ExportDslError:
        return {}
    found: dict[int, set[str]] = {}
    pending = [root] if root is not None else []
    while pending:
        node = pending.pop()
        if isinstance(node, MappingNode):
            keys = {str(key.value) for key, _ in node.value if isinstance(key, ScalarNode)}
            for key, value in node.value:
                found[key.start_mark.index] = keys
                pending.append(value)
        elif isinstance(node, SequenceNode):
            pending.extend(node.value)
    return found


def _repeats_a_key(fix: Fix, keys: dict[int, set[str]]) -> bool:
    """An unknown key renamed to a key its mapping has already would be refused as a duplicate."""
    if not fix.diagnostic.message.startswith(_UNKNOWN_KEY):
        return False
    edit = fix.edits[0]
    siblings = keys.get(edit.start, keys.get(edit.start - 1, set()))
    return edit.text.strip("'\"") in siblings


def fix_file(path: Path, settings: Settings) -> tuple[FileReport, int]:
    """`check --fix` on one file: the fixes written back (the file untouched when there are none),
    the report of what is left, and how many fixes were applied."""
    try:
        text = read_text(path)
    except ExportDslError as error:
        return unreadable(error, str(path), settings), 0
    fixed = fix_source(text, str(path), settings)
    if fixed.applied:
        path.write_bytes(_fixed_bytes(path.read_bytes(), fixed.text))
    return fixed.linted.report, fixed.applied


def fix_bytes(data: bytes, file: str, settings: Settings) -> tuple[bytes, FileReport, int]:
    """`check --fix -`: the fixed file's bytes (the input's own when nothing was fixed, or when
    they are not text), the report of what is left, and how many fixes were applied."""
    try:
        text = text_of(data, file)
    except ExportDslError as error:
        return data, unreadable(error, file, settings), 0
    fixed = fix_source(text, file, settings)
    output = _fixed_bytes(data, fixed.text) if fixed.applied else data
    return output, fixed.linted.report, fixed.applied


def _fixed_bytes(original: bytes, text: str) -> bytes:
    """The fixed text as the file's bytes: UTF-8, with the byte order mark the original had (the
    text read from it has none); line breaks are the text's own, as they were."""
    bom = codecs.BOM_UTF8 if original.startswith(codecs.BOM_UTF8) else b""
    return bom + text.encode("utf-8")


def _overlap(one: Edit, other: Edit) -> bool:
    return (one.start < other.end and other.start < one.end) or one.start == other.start


def _stops_loading(before: Linted, after: Linted) -> bool:
    loads = not any(d.code == LoadError.code for d in before.report.diagnostics)
    return loads and any(d.code == LoadError.code for d in after.report.diagnostics)


# --- the fixes, by what the hint says ------------------------------------------------------------

_UNKNOWN_KEY = "unknown key "
_DID_YOU_MEAN_VARIABLE = re.compile(r"did you mean \$([A-Za-z][A-Za-z0-9_]*)\?")
_DID_YOU_MEAN = re.compile(r"did you mean '([^'\\]*)'\?")
_QUOTED_IN_MESSAGE = re.compile(r"'([^'\\]*)'")
_NO_PROPERTY = re.compile(r"has no property '([^'\\]*)'")
_STRIP_HINT = "`|-`"
_BLOCK_HEADER = re.compile(r"(?:^|[\s:-])(?P<header>[|>](?:[1-9][+]?|[+][1-9]?|))[ \t]*(?:#.*)?\Z")
_YAML11_HINT = "quote it for the text ("
_QUOTE_WHOLE = re.compile(r"quote (?:it|jtel's literal) whole: ")
_QUOTE_VALUE = ("quote the value", "quote the value, or use a '|' block for several lines")
_YAML_NULL = re.compile(r"~|null|Null|NULL")
_PLAIN_START = re.compile(r"[^\s\[\]{}'\"!&*#|>%@`,?:-]")


def _fixes_for(
    diagnostic: Diagnostic, location: Location, index: LineIndex, connector: Connector | None
) -> Iterator[Fix]:
    hint = diagnostic.hint or ""
    if "did you mean" in hint:
        fix = _did_you_mean(diagnostic, location, index, hint)
        if fix is not None:
            yield fix
    if _STRIP_HINT in hint and connector is not None:
        fix = _strip_block(diagnostic, location, index, connector)
        if fix is not None:
            yield fix
    if hint.startswith(_YAML11_HINT) or hint in _QUOTE_VALUE or _QUOTE_WHOLE.search(hint):
        fix = _quote(diagnostic, location, index, hint)
        if fix is not None:
            yield fix


def _span(location: Location, index: LineIndex) -> tuple[int, int] | None:
    """The diagnostic's range as offsets ``[start, end)``, when it stays on one line."""
    if location.end_line != location.line:
        return None
    start = index.offset(location.line, location.column)
    return start, index.offset(location.end_line, location.end_column) + 1


def _did_you_mean(
    diagnostic: Diagnostic, location: Location, index: LineIndex, hint: str
) -> Fix | None:
    span = _span(location, index)
    if span is None:
        return None
    start, end = span
    written = index.text[start:end]
    if diagnostic.code == compile_rules.UNDEFINED_VARIABLE.code:
        meant = _DID_YOU_MEAN_VARIABLE.search(hint)
        if meant is None or not diagnostic.message.endswith(f"undefined variable ${written}"):
            return None
        return _replace(diagnostic, start, end, meant.group(1), f"${written}", f"${meant[1]}")
    meant = _DID_YOU_MEAN.search(hint)
    if meant is None:
        return None
    if diagnostic.code == compile_rules.UNKNOWN_PROPERTY.code:
        return _property(diagnostic, start, end, written, meant.group(1))
    if diagnostic.code == ConfigError.code:
        return _scalar(diagnostic, start, end, written, meant.group(1))
    return None


def _property(diagnostic: Diagnostic, start: int, end: int, written: str, meant: str) -> Fix | None:
    """``.nmae`` -> ``.name``; ``['nmae']`` -> ``['name']`` (the step as written)."""
    named = _NO_PROPERTY.search(diagnostic.message)
    if named is None:
        return None
    key = named.group(1)
    for before, after in ((".", ""), ("['", "']"), ('["', '"]')):
        if written == f"{before}{key}{after}":
            new = f"{before}{meant}{after}" if before != "." or meant.isidentifier() else None
            if new is not None:
                return _replace(diagnostic, start, end, new, written, new)
    return None


def _scalar(diagnostic: Diagnostic, start: int, end: int, written: str, meant: str) -> Fix | None:
    """A key or a value as written (plain, or in the quotes it has) that the message quotes."""
    quoted = set(_QUOTED_IN_MESSAGE.findall(diagnostic.message))
    if written in quoted and _plain_safe(meant):
        return _replace(diagnostic, start, end, meant, written, meant)
    quote = written[:1]
    in_quotes = len(written) >= 2 and quote in ("'", '"') and written[-1] == quote
    if in_quotes and written[1:-1] in quoted and quote not in meant and "\\" not in meant:
        new = f"{quote}{meant}{quote}"
        return _replace(diagnostic, start, end, new, written, new)
    return None


def _plain_safe(text: str) -> bool:
    """Whether ``text`` reads back as the same text when written plain (unquoted) in YAML."""
    return bool(_PLAIN_START.match(text)) and ": " not in text and " #" not in text


def _replace(
    diagnostic: Diagnostic, start: int, end: int, new: str, old_shown: str, new_shown: str
) -> Fix:
    return Fix(f"Replace {old_shown} with {new_shown}", diagnostic, (Edit(start, end, new),))


def _strip_block(
    diagnostic: Diagnostic, location: Location, index: LineIndex, connector: Connector
) -> Fix | None:
    """``key: |`` -> ``key: |-`` for the block the diagnostic is in."""
    field = next(
        (
            field
            for field in connector.fields
            if field.key_line <= location.line <= field.location().end_line
        ),
        None,
    )
    if field is None:
        return None
    line = index.line_text(field.key_line)
    header = _BLOCK_HEADER.search(line)
    if header is None:
        return None
    written = header.group("header")
    new = written[0] + "".join(char for char in written[1:] if char.isdigit()) + "-"
    start = index.offset(field.key_line, header.start("header") + 1)
    return Fix(
        f"Write {new} (the block without its final line break)",
        diagnostic,
        (Edit(start, start + len(written), new),),
    )


def _quote(diagnostic: Diagnostic, location: Location, index: LineIndex, hint: str) -> Fix | None:
    if _QUOTE_WHOLE.search(hint):
        return _quote_whole(diagnostic, location, index, hint)
    span = _span(location, index)
    if span is None:
        return None
    start, end = span
    written = index.text[start:end]
    if not written or not _PLAIN_START.match(written) or "#" in written or ": " in written:
        return None  # not one plain scalar (a list, a tagged value, …): no quoting makes it right
    if _YAML_NULL.fullmatch(written):
        return None  # `null` or `~` says "no value": quoted, it would send the word as the value
    new = f"'{written}'" if hint.startswith(_YAML11_HINT) else yaml_quoted(written)
    return Fix(f"Quote {written} as text: {new}", diagnostic, (Edit(start, end, new),))


def _quote_whole(
    diagnostic: Diagnostic, location: Location, index: LineIndex, hint: str
) -> Fix | None:
    """``key: {…}`` written as text YAML took for a mapping (or a body YAML took for a list), and
    jtel's pdata literal left unquoted (a YAML syntax error): the value quoted as the hint says."""
    key, _, quoted = _QUOTE_WHOLE.split(hint, 1)[1].partition(": ")
    line = index.line_text(location.line)
    found = re.match(rf"[ \t]*(?:-[ \t]+)?{re.escape(key)}:[ \t]+", line)
    if found is None or not quoted:
        return None
    value = line[found.end() :].rstrip(" \t")
    unwrapped = value[1:-1] if len(value) > 2 and value[0] in "'\"" else None
    if quoted not in (yaml_quoted(value), unwrapped and yaml_quoted(unwrapped)):
        return None
    start = index.offset(location.line, found.end() + 1)
    return Fix(
        f"Quote the value of {key} whole", diagnostic, (Edit(start, start + len(value), quoted),)
    )
