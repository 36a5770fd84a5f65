"""A template does not follow the template language.

Anti-pattern::

    url: https://crm.example/${pdata.tenant        # '${' never closed
    body: "cost: ${ pdata.price }"                  # no spaces inside ${…}

Better: ``${pdata.tenant}``, ``${pdata.price}``; write ``\\$`` for a literal dollar sign and
``#[[ … ]]#`` for text that must not be parsed at all.
"""

from exportdsl.errors import Severity
from exportdsl.lint.api import rule

RULE = rule("XD100", "syntax-error", Severity.ERROR, __doc__)
