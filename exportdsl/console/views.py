"""What the console shows of the connectors `serve` loaded (`delivery.connectors.Connectors`):
for each file, whether it serves, takes hooks and shows the Report Export button, what
`exportdsl check --env` says of it, and what `exportdsl explain` says of the plan that serves."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from pathlib import Path

from exportdsl.compiler.explain import explain
from exportdsl.console.app import ConnectorView
from exportdsl.delivery.connectors import Broken, Connectors
from exportdsl.delivery.server import Endpoint
from exportdsl.errors import ExportDslError
from exportdsl.lint.formats import text as check_text
from exportdsl.lint.runner import FileReport, lint_file
from exportdsl.lint.settings import Settings, load_settings
from exportdsl.source import LineIndex

__all__ = ["connector_views"]

NO_INTAKE = "no: the file has no intake: {secret: $env.NAME}, or its variable is not set"
NO_EXPORT = "no: the connector has no export.url (jtel shows no Report Export button)"


def connector_views(connectors: Connectors) -> list[ConnectorView]:
    """Each connector file of the folder, as the connectors page lists it."""
    settings = _check_settings(connectors.env)
    return [
        _view(name, file, endpoint, broken, settings)
        for name, file, endpoint, broken in connectors.files()
    ]


def _check_settings(env: Mapping[str, str]) -> Settings:
    """`exportdsl check --env`'s settings: the nearest pyproject.toml's ``[tool.exportdsl]`` (from
    the server's working directory, as `check` run there reads it) and serve's environment (an
    unset ``$env`` is a finding); without them when that table cannot be read (serve started)."""
    try:
        return load_settings(env=dict(env))
    except ExportDslError:
        return Settings(env=dict(env))


def _view(
    name: str, file: Path, endpoint: Endpoint | None, broken: Broken | None, settings: Settings
) -> ConnectorView:
    """A file's diagnostics are what `check --env` prints for it, in its order (by position),
    then what only serving finds (`Broken`: a short intake secret, two files of one name), the
    server's own words; one that serves, `explain` of its plan as `exportdsl explain` prints it
    for the path (with `broken`, an earlier version serves while the file now does not)."""
    report = _checked(file, settings)
    problems = check_text([report])
    if broken is not None:
        problems = "\n".join(part for part in (problems, _serve_only(broken, report)) if part)
    found = (problems,) if problems.strip() else ()
    if endpoint is None:
        why = "no: the file does not serve (see its diagnostics)"
        return ConnectorView(name, False, why, why, found)
    return ConnectorView(
        name,
        True,
        "yes" if endpoint.intake_secret is not None else NO_INTAKE,
        "yes" if endpoint.export_enabled else NO_EXPORT,
        found,
        explain(str(file), endpoint.plan),
    )


def _serve_only(broken: Broken, report: FileReport) -> str:
    """The problems serving found that `check` did not (by code and position), as `check`
    words them; empty when check said them all."""
    said = {(d.code, d.location) for d in report.diagnostics}
    more = tuple(d for d in broken.diagnostics if (d.code, d.location) not in said)
    if not more:
        return ""
    index = LineIndex(broken.text) if broken.text is not None else None
    return check_text([FileReport(str(broken.file), more, index)])


_checks: dict[tuple[Path, str, Settings], FileReport] = {}  # (file, content hash, settings)
_checks_lock = threading.Lock()
MAX_CHECKS = 1024  # files' findings kept (a folder's worth; then the table starts again)


def _checked(file: Path, settings: Settings) -> FileReport:
    """`check --env`'s report of ``file`` (`lint_file`, as `check` lints each file), linted
    again only when its content changed (by its hash: an edit within the same second is seen
    too); the connectors page lists every file at each view, and linting them all took a second
    for 100 files."""
    try:
        key = (file, hashlib.sha256(file.read_bytes()).hexdigest(), settings)
    except OSError:  # gone or unreadable: `check` says so itself
        return lint_file(file, settings)
    with _checks_lock:
        found = _checks.get(key)
    if found is None:
        found = lint_file(file, settings)
        with _checks_lock:
            if len(_checks) >= MAX_CHECKS:
                _checks.clear()
            _checks[key] = found
    return found
