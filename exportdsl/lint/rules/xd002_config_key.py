"""A connector key is unknown, missing or of the wrong type.

Anti-pattern::

    expot:                 # a typo: the export section is silently ignored elsewhere
      url: https://crm.example/
    connector: {id: 7}     # the name is missing

Better: the keys of README "Connector files", spelled as there (the message says "did you mean").
Header names must be RFC 9110 tokens, `method` one of POST, PUT, PATCH, `timezone` an IANA name.
"""

from exportdsl.errors import Severity
from exportdsl.lint.api import rule

RULE = rule("XD002", "config-key", Severity.ERROR, __doc__)
