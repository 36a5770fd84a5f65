"""A JSON or XML body (or the XML template) can never be well formed, whatever the values.

Anti-pattern::

    headers: {Content-Type: application/json}
    body: |
      {"chat": $chat.channel.id
       "pdf": "$report.encoded.base64"}        # missing comma

Better: valid JSON/XML around the references. A reference outside quotes becomes a JSON value
(text is quoted for you); inside quotes it becomes string content. The check parses the body with
every reference replaced by a placeholder, so the position is exact.
"""

from exportdsl.errors import Severity
from exportdsl.lint.api import rule

RULE = rule("XD210", "malformed-body", Severity.ERROR, __doc__)
