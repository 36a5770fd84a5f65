"""What the console shows of the connectors `serve` loaded (`delivery.connectors.Connectors`):
for each file, whether it serves, takes hooks and shows the Report Export button, what
`exportdsl check --env` says of it, and what `exportdsl explain` says of the plan that serves."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from exportdsl.compiler.explain import explain
from exportdsl.console.app import ConnectorView
from exportdsl.delivery.connectors import Broken, Connectors
from exportdsl.delivery.server import Endpoint
from exportdsl.lint.formats import text as check_text
from exportdsl.lint.runner import lint_file
from exportdsl.lint.settings import Settings

__all__ = ["connector_views"]

NO_INTAKE = "no: the file has no intake: {secret: $env.NAME}, or its variable is not set"
NO_EXPORT = "no: the connector has no export.url (jtel shows no Report Export button)"


def connector_views(connectors: Connectors) -> list[ConnectorView]:
    """Each connector file of the folder, as the connectors page lists it."""
    settings = Settings(env=connectors.env)  # as `check --env`: an unset $env is a finding
    return [
        _view(name, file, endpoint, broken, settings)
        for name, file, endpoint, broken in connectors.files()
    ]


def _view(
    name: str, file: Path, endpoint: Endpoint | None, broken: Broken | None, settings: Settings
) -> ConnectorView:
    """A file that cannot serve shows why (the server's own words: `Broken.report`, which adds
    what only serving checks, such as a short intake secret); one that serves, what `check` finds
    in it now (warnings, and errors of an edit not yet reloaded) and `explain` of its plan."""
    problems = broken.report() if broken else _checked(file, settings)
    found = (problems,) if problems.strip() else ()
    if endpoint is None:
        why = "no: the file does not serve (see its diagnostics)"
        return ConnectorView(name, False, why, why, found)
    return ConnectorView(
        name,
        True,
        "yes" if endpoint.intake_secret is not None else NO_INTAKE,
        "yes" if endpoint.export_enabled else NO_EXPORT,
        found,  # with a `broken`, an earlier version serves while the file now does not
        explain(file.name, endpoint.plan),
    )


_checks: dict[tuple[Path, str], str] = {}  # (file, its content's hash) -> what `check` says
_checks_lock = threading.Lock()
MAX_CHECKS = 1024  # files' findings kept (a folder's worth; then the table starts again)


def _checked(file: Path, settings: Settings) -> str:
    """What `check --env` says of ``file``, linted again only when its content changed (by its
    hash: an edit within the same second is seen too); the connectors page lists every file at
    each view, and linting them all took a second for 100 files. The environment the findings
    depend on is serve's, fixed for the process."""
    try:
        key = (file, hashlib.sha256(file.read_bytes()).hexdigest())
    except OSError:  # gone or unreadable: `check` says so itself
        return check_text([lint_file(file, settings)])
    with _checks_lock:
        found = _checks.get(key)
    if found is None:
        found = check_text([lint_file(file, settings)])
        with _checks_lock:
            if len(_checks) >= MAX_CHECKS:
                _checks.clear()
            _checks[key] = found
    return found
