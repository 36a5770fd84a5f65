"""A suppression comment suppresses nothing.

Anti-pattern::

    url: https://crm.example/   # exportdsl: disable=XD505    (the URL is https: nothing to disable)

A stale suppression hides the next real problem on that line and misleads readers.

Better: remove it. Suppressions are ``# exportdsl: disable=CODE[,CODE]`` on the line or the line
before (for a block scalar, on its ``key: |`` line too), and ``# exportdsl: disable-file=CODE``.
"""

from exportdsl.errors import Severity
from exportdsl.lint.api import rule

__all__ = ["RULE"]

RULE = rule("XD900", "unused-suppression", Severity.WARNING, __doc__)
