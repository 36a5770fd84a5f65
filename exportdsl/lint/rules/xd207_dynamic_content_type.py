"""The Content-Type holds a reference while the body has references too.

Anti-pattern::

    headers:
      Content-Type: application/json; charset=$pdata.charset
    body: '{"name": "$chat.visitor.name"}'

The escaping of every value in the body is decided by the Content-Type (JSON, XML, form). When a
value could change it, no escaping can be decided at compile time, and a visitor's name could
rewrite the body's structure.

Better: write the Content-Type literally (``application/json; charset=utf-8``).
"""

from exportdsl.errors import Severity
from exportdsl.lint.api import rule

RULE = rule("XD207", "dynamic-content-type", Severity.ERROR, __doc__)
