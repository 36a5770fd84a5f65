"""The file cannot be read as a connector: missing, not UTF-8, too large, YAML or JSON syntax.

Anti-pattern::

    export:
      url: https://crm.example/
       body: oops          # indented differently: a YAML syntax error

Better: fix the file where the message points; keep connector files UTF-8, one connector each,
well under 1 MiB. Reported by the loader, so nothing else in the file can be checked until then.
"""

from exportdsl.errors import Severity
from exportdsl.lint.api import rule

RULE = rule("XD001", "load-error", Severity.ERROR, __doc__)
