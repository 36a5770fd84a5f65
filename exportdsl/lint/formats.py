"""Output formats for `exportdsl check`: text, json, github (workflow commands) and SARIF 2.1.0."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from exportdsl import __version__
from exportdsl.errors import Diagnostic, Severity
from exportdsl.lint.registry import all_rules
from exportdsl.lint.runner import FileReport
from exportdsl.source import snippet

__all__ = [
    "FORMATS",
    "SARIF_SCHEMA",
    "as_json",
    "diagnostic_record",
    "github",
    "render",
    "sarif",
    "text",
]

FORMATS = ("text", "json", "github", "sarif")


def render(name: str, reports: Sequence[FileReport]) -> str:
    formatter: Callable[[Sequence[FileReport]], str] = {
        "text": text,
        "json": as_json,
        "github": github,
        "sarif": sarif,
    }[name]
    return formatter(reports)


def text(reports: Sequence[FileReport]) -> str:
    """``file:line:col: message [CODE]``, a caret snippet and the hint, per diagnostic."""
    blocks = []
    for report in reports:
        for diagnostic in report.diagnostics:
            lines = [str(diagnostic) if diagnostic.location else f"{report.path}: {diagnostic}"]
            if diagnostic.location and report.text is not None:
                lines.append(snippet(report.text, diagnostic.location))
            if diagnostic.hint:
                lines.append(f"  hint: {diagnostic.hint}")
            blocks.append("\n".join(lines))
    return "\n".join(blocks)


def as_json(reports: Sequence[FileReport]) -> str:
    """A list of objects; lines and columns 1-based, end_column inclusive."""
    return json.dumps(
        [diagnostic_record(report.path, d) for report in reports for d in report.diagnostics],
        indent=2,
        ensure_ascii=False,
    )


def diagnostic_record(path: str, diagnostic: Diagnostic) -> dict[str, Any]:
    """One diagnostic as `as_json` writes it (the export's --json reuses it)."""
    location = diagnostic.location
    rule = all_rules().get(diagnostic.code)
    return {
        "code": diagnostic.code,
        "name": rule.name if rule else None,
        "severity": diagnostic.severity.value,
        "message": diagnostic.message,
        "hint": diagnostic.hint,
        "file": location.file if location else path,
        "line": location.line if location else 1,
        "column": location.column if location else 1,
        "end_line": location.end_line if location else 1,
        "end_column": location.end_column if location else 1,
    }


_GITHUB_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def github(reports: Sequence[FileReport]) -> str:
    """GitHub Actions workflow commands: annotations on the pull request's lines."""
    lines = []
    for report in reports:
        for d in report.diagnostics:
            record = diagnostic_record(report.path, d)
            rule = all_rules().get(d.code)
            title = f"{d.code} {rule.name}" if rule else d.code
            properties = ",".join(
                f"{key}={_property(str(value))}"
                for key, value in (
                    ("file", record["file"]),
                    ("line", record["line"]),
                    ("col", record["column"]),
                    ("endLine", record["end_line"]),
                    ("endColumn", _end_column(record)),
                    ("title", title),
                )
            )
            message = d.message + (f"\n{d.hint}" if d.hint else "")
            lines.append(f"::{_GITHUB_LEVEL[d.severity]} {properties}::{_data(message)}")
    return "\n".join(lines)


def _end_column(record: Mapping[str, Any]) -> Any:
    """The annotation's last column: an empty value's range ends before it starts (end inclusive,
    nothing in it); GitHub wants endColumn >= col on one line, so it marks the column itself."""
    if record["end_line"] == record["line"]:
        return max(record["end_column"], record["column"])
    return record["end_column"]


def _data(value: str) -> str:
    # The runner's escaping for a command's message (actions/toolkit, escapeData).
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(value: str) -> str:
    # ... and for a property value (escapeProperty): ':' and ',' separate properties.
    return _data(value).replace(":", "%3A").replace(",", "%2C")


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def sarif(reports: Sequence[FileReport]) -> str:
    """SARIF 2.1.0 as GitHub code scanning takes it: rules with ids and descriptions, results with
    repository-relative URIs and regions (end column exclusive, as SARIF counts)."""
    rules = list(all_rules().values())
    index = {rule.code: number for number, rule in enumerate(rules)}
    root = _repository_root()
    results = [_result(report, d, index, root) for report in reports for d in report.diagnostics]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "exportdsl",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": "https://github.com/exportdsl/exportdsl",
                        "rules": [
                            {
                                "id": rule.code,
                                "name": _pascal(rule.name),
                                "shortDescription": {"text": rule.summary},
                                "fullDescription": {"text": rule.doc.strip()},
                                "help": {"text": rule.doc.strip(), "markdown": rule.doc.strip()},
                                "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
                            }
                            for rule in rules
                        ],
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root.as_uri() + "/"}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False)


def _result(report: FileReport, d: Diagnostic, index: dict[str, int], root: Path) -> dict[str, Any]:
    record = diagnostic_record(report.path, d)
    result: dict[str, Any] = {
        "ruleId": d.code,
        "level": _SARIF_LEVEL[d.severity],
        "message": {"text": d.message + (f" (hint: {d.hint})" if d.hint else "")},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {
                        "uri": _relative_uri(record["file"], root),
                        "uriBaseId": "%SRCROOT%",
                    },
                    "region": {
                        "startLine": record["line"],
                        "startColumn": record["column"],
                        "endLine": record["end_line"],
                        "endColumn": record["end_column"] + 1,
                    },
                }
            }
        ],
    }
    if d.code in index:
        result["ruleIndex"] = index[d.code]
    return result


def _repository_root() -> Path:
    here = Path.cwd().resolve()
    return next((folder for folder in (here, *here.parents) if (folder / ".git").exists()), here)


def _relative_uri(file: str, root: Path) -> str:
    path = Path(file).resolve()
    try:
        relative = path.relative_to(root).as_posix()
    except ValueError:
        relative = os.path.relpath(path, root).replace(os.sep, "/")
    return quote(relative)  # a URI: spaces, '#', '%' … percent-encoded


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))
