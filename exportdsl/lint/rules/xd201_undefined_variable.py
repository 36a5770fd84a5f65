"""A reference names a variable that does not exist.

Anti-pattern::

    url: https://crm.example/clients/$ClientID      # the variable is $ClientsID

Velocity would send the text ``$ClientID`` as is; exportdsl refuses it at compile time.
Better: one of the variables in README "Variables" (the message lists those available in the
phase and suggests the closest).
"""

from exportdsl.errors import Severity
from exportdsl.lint.api import rule

RULE = rule("XD201", "undefined-variable", Severity.ERROR, __doc__)
