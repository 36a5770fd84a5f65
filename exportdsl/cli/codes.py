"""`exportdsl rules` for a terminal: the codes grouped by when they happen, and a code's
documentation as readable text, wrapped to the terminal.

A code's documentation is its docstring (reStructuredText-ish: ````code````, ``Anti-pattern::``
followed by an indented example). Here it becomes plain text: code spans in bold on a terminal
(click drops the styling when the output is not one), ``::`` a colon, examples kept as written,
prose wrapped.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Mapping

import click

from exportdsl.lint.api import Rule

__all__ = ["code_list", "code_page", "render_doc", "terminal_width"]

# When each kind of code is reported: by the checker, or by a command that runs something.
_RUN_TIME = {
    "XD3": "`render`, `export` and `serve` stop with it; nothing is sent",
    "XD4": "`transcript`, `render`, `export` and `serve` refuse the chat with it",
    "XD6": "`export` fails with it (exit 1); `serve` retries the delivery or gives up",
    "XD7": "`queue` and `serve` stop with it",
}
_OTHER = {
    "XD000": "The root of the error tree; a connector file's errors together.",
    "XD003": "A usage error of `exportdsl check` (exit 2).",
    "XD200": "The library's stand-alone `Template`; a connector reports XD201 and up.",
}


_CODE_SPAN = re.compile(r"``(.+?)``|`([^`\n]+)`")


def terminal_width() -> int:
    """The terminal's width (``COLUMNS`` first), kept between 60 and 100 for reading."""
    return max(60, min(shutil.get_terminal_size((100, 24)).columns, 100))


def when(rule: Rule, checked: Mapping[str, Rule]) -> str:
    """A sentence saying when the code is reported (and its severity, for the checker's)."""
    if rule.code in checked:
        fixed = ", always: the connector cannot run" if rule.code < "XD300" else ""
        return f"Found by `exportdsl check`; severity {rule.severity.value}{fixed}."
    if rule.code in _OTHER:
        return _OTHER[rule.code]
    commands = _RUN_TIME.get(rule.code[:3], "a command that runs something reports it")
    return f"At run time: {commands}."


def code_list(codes: Mapping[str, Rule], checked: Mapping[str, Rule], width: int) -> str:
    """Every code, grouped: what `check` finds, what happens at run time, and the rest."""
    groups = {
        "Found by `exportdsl check` (severity: the rule's)": [c for c in codes if c in checked],
        "At run time (transcript, render, export, serve, queue)": [
            c for c in codes if c not in checked and c not in _OTHER
        ],
        "Others": [c for c in codes if c in _OTHER],
    }
    sections = []
    for title, members in groups.items():
        lines = [_styled(_plain_keep(title + ":"))]
        for code in members:
            lines.extend(_entry(codes[code], _kind(code, checked), width))
        sections.append("\n".join(lines))
    tail = "`exportdsl rules CODE` shows a code's documentation."
    return "\n\n".join([*sections, _styled(_plain_keep(tail))])


def _kind(code: str, checked: Mapping[str, Rule]) -> str:
    """The second column: a checked code's severity, or that it happens at run time."""
    if code in checked:
        return checked[code].severity.value
    return "" if code in _OTHER else "run time"


def _entry(rule: Rule, kind: str, width: int) -> list[str]:
    """``XD503  error    hardcoded-credential`` and its summary below, wrapped."""
    head = f"  {rule.code}  {kind:<8} {rule.name}"
    indent = " " * 9
    summary = textwrap.wrap(
        _plain(rule.summary), width, initial_indent=indent, subsequent_indent=indent
    )
    return [click.style(head, bold=True), *summary]


def code_page(rule: Rule, checked: Mapping[str, Rule], width: int) -> str:
    """One code's documentation: its name, when it is reported, then the text, wrapped."""
    head = click.style(f"{rule.code} {rule.name}", bold=True)
    reported = "\n".join(
        _styled(line) for line in textwrap.wrap(_plain_keep(when(rule, checked)), width)
    )
    return f"{head}\n{reported}\n\n{render_doc(rule.doc, width)}"


def render_doc(doc: str, width: int) -> str:
    """A docstring as text for a terminal: prose paragraphs wrapped, examples kept as written."""
    blocks = []
    for block in re.split(r"\n[ \t]*\n", textwrap.dedent(doc).strip()):
        lines = block.splitlines()
        if all(line.startswith((" ", "\t")) for line in lines):
            blocks.append(block.rstrip())  # an example: kept line for line
            continue
        prose = " ".join(line.strip() for line in lines)
        prose = re.sub(r"::$", ":", prose)
        blocks.append("\n".join(_styled(line) for line in textwrap.wrap(_plain_keep(prose), width)))
    return "\n\n".join(blocks)


def _plain(text: str) -> str:
    """Text without code-span markup (for lengths and summaries)."""
    return _CODE_SPAN.sub(lambda match: match.group(1) or match.group(2), text)


_BOLD_START, _BOLD_END = "\x00", "\x01"  # markers that survive wrapping; styled afterwards


def _plain_keep(text: str) -> str:
    return _CODE_SPAN.sub(
        lambda match: _BOLD_START + (match.group(1) or match.group(2)) + _BOLD_END, text
    )


def _styled(line: str) -> str:
    """Code spans in bold (a wrapped line may open or close one)."""
    parts = re.split(f"([{_BOLD_START}{_BOLD_END}])", line)
    out, bold = [], False
    for part in parts:
        if part in (_BOLD_START, _BOLD_END):
            bold = part == _BOLD_START
            continue
        out.append(click.style(part, bold=True) if bold and part else part)
    return "".join(out)
