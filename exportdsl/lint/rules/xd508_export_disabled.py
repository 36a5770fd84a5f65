"""The export is disabled: ``export.url`` is missing.

Anti-pattern::

    export:
      headers: {Content-Type: application/json}
      body: '{"pdf": "$report.encoded.base64"}'      # no url

jtel shows the Report Export button only when the report URL is configured, so agents will not
see it, and ``exportdsl export`` refuses the connector. That may be intended (a connector being
prepared), hence only information.

Better: set ``export.url``, or leave the section out until the back end exists.
"""

from __future__ import annotations

from collections.abc import Iterator

from exportdsl.errors import Severity
from exportdsl.lint.api import Finding, LintContext, rule
from exportdsl.source import Location

__all__ = ["RULE", "check"]


def check(context: LintContext) -> Iterator[Finding]:
    connector = context.connector
    if connector.export is not None and connector.export.url is not None:
        return
    where = connector.export.location if connector.export else Location(connector.path, 1, 1, 1, 1)
    yield Finding(
        where,
        "export.url is missing: the export is disabled (jtel shows no Report Export button)",
        "set export.url to the back end's report endpoint",
    )


RULE = rule("XD508", "export-disabled", Severity.INFO, __doc__, check)
