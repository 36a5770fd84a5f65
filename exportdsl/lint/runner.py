"""Lint files: load, compile-check, run the rules, apply settings and suppressions.

Many files are linted in worker processes (one per core), since each file is independent and the
work is pure Python; results come back in the files' order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from exportdsl.compiler.analysis import analyse_connector
from exportdsl.compiler.plan import FieldPlan
from exportdsl.connector.model import Connector
from exportdsl.connector.reader import parse_connector
from exportdsl.connector.yamlsource import read_text, text_of
from exportdsl.errors import Diagnostic, ExportDslError
from exportdsl.lint import suppress
from exportdsl.lint.api import LintContext
from exportdsl.lint.registry import all_rules
from exportdsl.lint.settings import Settings, suppressible
from exportdsl.source import LineIndex

__all__ = [
    "CONNECTOR_SUFFIXES",
    "PARALLEL_FROM",
    "FileReport",
    "Linted",
    "connector_files",
    "lint_bytes",
    "lint_file",
    "lint_paths",
    "lint_source",
    "lint_text",
    "unreadable",
]

CONNECTOR_SUFFIXES = (".yaml", ".yml", ".json")
PARALLEL_FROM = 64  # below this, starting workers costs more than it saves


@dataclass(frozen=True)
class FileReport:
    path: str
    diagnostics: tuple[Diagnostic, ...]
    text: LineIndex | None  # None when the file could not be read as text


@dataclass(frozen=True)
class Linted:
    """A file's report and what was learnt on the way: the connector (None when it does not load)
    and its analysed fields. Editors use them for hover, completion and fixes."""

    report: FileReport
    connector: Connector | None = None
    plans: Mapping[str, FieldPlan] = field(default_factory=dict)


def connector_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The given files, and the connector files below the given folders, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.suffix in CONNECTOR_SUFFIXES and p.is_file()
            )
        else:
            yield path


def lint_paths(paths: list[Path], settings: Settings) -> list[FileReport]:
    workers = min(len(paths) // PARALLEL_FROM, os.cpu_count() or 1)
    if workers < 2:
        return [lint_file(path, settings) for path in paths]
    import multiprocessing  # only here: a one-file check should not pay for the pool's imports
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")  # the workers inherit the imported modules
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(lint_file, paths, [settings] * len(paths), chunksize=32))


def lint_file(path: Path | str, settings: Settings) -> FileReport:
    path = Path(path)
    try:
        text = read_text(path)
    except ExportDslError as error:
        return unreadable(error, str(path), settings)
    return lint_text(text, str(path), settings)


def lint_bytes(data: bytes, file: str, settings: Settings) -> FileReport:
    """The report of a file's bytes (standard input); ``file`` names it, as in `lint_text`."""
    try:
        text = text_of(data, file)
    except ExportDslError as error:
        return unreadable(error, file, settings)
    return lint_text(text, file, settings)


def unreadable(error: ExportDslError, file: str, settings: Settings) -> FileReport:
    """The report of a file that cannot be read as text (too large, not UTF-8, missing)."""
    return FileReport(file, tuple(_select(error.diagnostics, file, settings)), None)


def lint_text(text: str, file: str, settings: Settings) -> FileReport:
    """The report of a file's text (standard input, an editor's buffer): ``file`` names it for
    positions and for the settings' per-file ignores."""
    return lint_source(text, file, settings).report


def lint_source(text: str, file: str, settings: Settings) -> Linted:
    """`lint_text`, with the connector and its analysed fields when the file loads."""
    index = LineIndex(text)
    connector: Connector | None = None
    plans: Mapping[str, FieldPlan] = {}
    try:
        connector = parse_connector(text, file)
    except ExportDslError as error:
        found = list(error.diagnostics)
    else:
        plans, found = _diagnose(connector, settings)
    blocks = _blocks(connector) if connector is not None and "exportdsl:" in text else []
    directives = suppress.directives(file, index, blocks)
    kept = suppress.suppress(_select(found, file, settings), directives, blocks, suppressible)
    enabled = [code for code in all_rules() if settings.enabled(code, file)]
    notes = suppress.unused(directives, enabled, lambda code: code in all_rules(), suppressible)
    # a `disable-file=XD900` (or a line one) quiets these notes too
    kept.extend(
        suppress.suppress(
            (d for d in notes if settings.enabled(d.code, file)), directives, blocks, suppressible
        )
    )
    report = FileReport(file, tuple(sorted(kept, key=lambda d: d.order)), index)
    return Linted(report, connector, plans)


def _diagnose(
    connector: Connector, settings: Settings
) -> tuple[dict[str, FieldPlan], list[Diagnostic]]:
    plans, found = analyse_connector(connector)
    context = LintContext(connector, plans, settings.env)
    for rule in all_rules().values():
        if rule.check is None or not settings.enabled(rule.code, connector.path):
            continue
        found.extend(
            Diagnostic(rule.code, finding.message, finding.location, finding.hint, rule.severity)
            for finding in rule.check(context)
        )
    return plans, found


def _select(diagnostics: Iterable[Diagnostic], file: str, settings: Settings) -> list[Diagnostic]:
    """The enabled diagnostics, each with its rule's severity."""
    rules = all_rules()
    return [
        replace(d, severity=rules[d.code].severity) if d.code in rules else d
        for d in diagnostics
        if settings.enabled(d.code, file)
    ]


def _blocks(connector: Connector) -> list[tuple[int, int]]:
    """(key line, last line) of every template field, for suppressions on a block's key line."""
    return [(field.key_line, field.location().end_line) for field in connector.fields]
