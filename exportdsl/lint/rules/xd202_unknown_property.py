"""A reference walks into a property its variable does not have, or uses a list or an object wrongly.

Anti-pattern::

    headers:
      X-Name: $chatConnector.nmae        # no such property
      X-Chat: $chat.messages.content     # messages is a list: which message?
    body: $report                        # an object, not a value

Better: ``$chatConnector.name``, ``$chat.messages[0].content``, ``$report.encoded.base64``.
pdata keys are checked against the connector's own pdata.
"""

from exportdsl.errors import Severity
from exportdsl.lint.api import rule

RULE = rule("XD202", "unknown-property", Severity.ERROR, __doc__)
