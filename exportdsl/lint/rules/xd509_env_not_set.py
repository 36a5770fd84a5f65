"""``$env.NAME`` is not set in the environment (checked only with ``exportdsl check --env``).

Anti-pattern: a connector that uses ``$env.CRM_TOKEN``, deployed where ``CRM_TOKEN`` is not set:
every export fails at render time.

Better: run ``exportdsl check --env`` in the environment that will run the exports (a deploy
step, a container's health check) so a missing secret fails the deploy, not the first export.
A quiet reference (``$!env.NAME``) may be unset and is not reported.
"""

from __future__ import annotations

from collections.abc import Iterator

from exportdsl.errors import Severity
from exportdsl.lint.api import Finding, LintContext, rule
from exportdsl.source import LineIndex, Location

__all__ = ["RULE", "check"]


def check(context: LintContext) -> Iterator[Finding]:
    if context.env is None:
        return
    for template, reference in context.all_references():
        if reference.name != "env" or reference.quiet or not reference.segments:
            continue
        variable = str(reference.segments[0].key)
        if variable not in context.env:
            yield Finding(
                template.location(reference.span),
                f"environment variable {variable} is not set",
                # never "make it quiet": a quiet secret would be sent empty
                f"set {variable} where exports run",
            )
    connector = context.connector
    for section, name in (
        ("signing", connector.signing.env if connector.signing else None),
        ("intake", connector.intake_secret_env),
    ):
        if name is not None and name not in context.env:
            yield Finding(
                _where(connector.path, connector.text, name),
                f"{section}.secret: environment variable {name} is not set",
                f"set {name} where exports run",
            )


def _where(path: str, text: LineIndex, name: str) -> Location:
    """Where the file names the variable (the config keeps no position for these two keys)."""
    offset = max(text.text.find(f"env.{name}") - 2, 0)  # at its '$' (or '${')
    return text.location(path, offset, offset + len(name) + 4)  # through the name's last character


RULE = rule("XD509", "env-not-set", Severity.ERROR, __doc__, check)
