"""A pdata key is never used by any template.

Anti-pattern::

    pdata: {tenant: acme, tennant: acme}      # a leftover, or a typo of a key that is used
    export:
      url: https://crm.example/$pdata.tenant

Better: remove the key, or use it. (A template that uses ``$pdata`` as a whole uses every key.)
"""

from __future__ import annotations

from collections.abc import Iterator

from exportdsl.errors import Severity
from exportdsl.language.nodes import format_path
from exportdsl.lint.api import Finding, LintContext, rule

__all__ = ["RULE", "check"]


def check(context: LintContext) -> Iterator[Finding]:
    used: set[str | int] = set()
    for _, reference in context.all_references():
        if reference.name == "pdata":
            if not reference.segments:
                return
            used.add(reference.segments[0].key)
    for key, location in context.connector.pdata_locations.items():
        if key not in used:
            path = format_path(("pdata", key))
            use = f"${path}" if path == f"pdata.{key}" else f"${{{path}}}"
            yield Finding(
                location,
                f"pdata key {key!r} is not used by any template",
                f"remove it, or use it as {use}",
            )


RULE = rule("XD506", "unused-pdata", Severity.WARNING, __doc__, check)
