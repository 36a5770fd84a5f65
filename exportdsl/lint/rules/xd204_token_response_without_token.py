"""``$tokenResponse`` is used, but the connector has no token phase.

Anti-pattern::

    export:
      headers:
        Authorization: Bearer $tokenResponse.body.JSON.access_token    # no `token:` section

Better: add the ``token:`` section that fetches the token, or authenticate another way (for
example ``X-Api-Key: $env.API_KEY``).
"""

from exportdsl.errors import Severity
from exportdsl.lint.api import rule

RULE = rule("XD204", "token-response-without-token-phase", Severity.ERROR, __doc__)
