"""What the console shows of the connectors `serve` loaded (`delivery.connectors.Connectors`)."""

from __future__ import annotations

from exportdsl.console.app import ConnectorView
from exportdsl.delivery.connectors import Broken, Connectors
from exportdsl.delivery.server import Endpoint

__all__ = ["connector_views"]

NO_INTAKE = "no: the file has no intake: {secret: $env.NAME}, or its variable is not set"
NO_EXPORT = "no: the connector has no export.url (jtel shows no Report Export button)"


def connector_views(connectors: Connectors) -> list[ConnectorView]:
    """Each connector file: served or not, whether it takes hooks and exports, and its
    diagnostics as `exportdsl check` prints them (codes, lines and columns, snippets)."""
    return [_view(name, endpoint, broken) for name, endpoint, broken in connectors.files()]


def _view(name: str, endpoint: Endpoint | None, broken: Broken | None) -> ConnectorView:
    problems = (broken.report(),) if broken is not None else ()
    if endpoint is None:
        why = "no: the file does not serve (see its diagnostics)"
        return ConnectorView(name, False, why, why, problems)
    return ConnectorView(
        name,
        True,
        "yes" if endpoint.intake_secret is not None else NO_INTAKE,
        "yes" if endpoint.export_enabled else NO_EXPORT,
        problems,  # an earlier version serves while the file as it is now does not
    )
