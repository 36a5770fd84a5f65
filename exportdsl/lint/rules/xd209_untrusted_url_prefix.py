"""A chat value (or the report, the XML template, the time) stands before a URL's path.

Anti-pattern::

    url: https://$chat.visitor.variables.region.value.crm.example/api/reports

Before the path, a value is inserted as is (it may hold a scheme and host), so a visitor could
send the report, and its token, to a host of their choosing (``x@evil.example``).

Better: only connector values (``$pdata``, ``$env``, ``$ClientsID``, ``$chatConnector``) and the
token answer (OAuth servers send the API's base URL there) may form the scheme and host; put chat
values after a ``/`` or ``?``, where each is percent-encoded as one component.
"""

from exportdsl.errors import Severity
from exportdsl.lint.api import rule

RULE = rule("XD209", "untrusted-url-prefix", Severity.ERROR, __doc__)
