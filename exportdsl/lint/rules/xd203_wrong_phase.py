"""A variable is used in a phase where it does not exist yet.

Anti-pattern::

    token:
      body: '{"size": $report.bytes}'     # the report is made after the token request

Better: use ``$report`` and ``$tokenResponse`` in the export request or the XML template, and
``$xmlTemplate`` in the export request only.
"""

from exportdsl.errors import Severity
from exportdsl.lint.api import rule

RULE = rule("XD203", "wrong-phase", Severity.ERROR, __doc__)
