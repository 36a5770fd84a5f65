"""`exportdsl check` as a library: files and folders in, diagnostics out, rendered for people."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from exportdsl.compiler import check_connector
from exportdsl.config import parse_connector
from exportdsl.errors import Diagnostic, ExportDslError
from exportdsl.source import LineIndex, snippet
from exportdsl.yamlsource import read_text

CONNECTOR_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class FileReport:
    path: str
    diagnostics: tuple[Diagnostic, ...]
    text: LineIndex | None  # None when the file could not be read as text


def connector_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The given files, and the connector files below the given folders, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in CONNECTOR_SUFFIXES and p.is_file())
        else:
            yield path


def check_file(path: Path) -> FileReport:
    file = str(path)
    try:
        text = read_text(path)
    except ExportDslError as error:
        return FileReport(file, error.diagnostics, None)
    index = LineIndex(text)
    try:
        connector = parse_connector(text, file)
    except ExportDslError as error:
        return FileReport(file, error.diagnostics, index)
    return FileReport(file, tuple(check_connector(connector)), index)


def format_text(report: FileReport) -> str:
    """``file:line:col: message [CODE]``, a caret snippet and the hint, per diagnostic."""
    blocks = []
    for diagnostic in report.diagnostics:
        lines = [str(diagnostic) if diagnostic.location else f"{report.path}: {diagnostic}"]
        if diagnostic.location and report.text is not None:
            lines.append(snippet(report.text, diagnostic.location))
        if diagnostic.hint:
            lines.append(f"  hint: {diagnostic.hint}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)
