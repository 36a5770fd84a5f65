"""A reference stands inside XML markup (a tag or attribute name, a comment, a declaration).

Anti-pattern::

    <visitor $chat.visitor.name="1"/>        # no escaping can make any value a valid name

Better: put values in element text or in a quoted attribute value, where they are escaped:
``<visitor name="$chat.visitor.name"/>``.
"""

from exportdsl.errors import Severity
from exportdsl.lint.api import rule

RULE = rule("XD206", "reference-in-xml-markup", Severity.ERROR, __doc__)
