"""``$xmlTemplate`` is used, but the connector has no ``xml_template``.

Anti-pattern::

    export:
      body: '{"meta": "$xmlTemplate.encoded.base64"}'     # and no `xml_template:` section

Every export would fail when it renders. Better: add the ``xml_template:`` section, or remove the
reference.
"""

from exportdsl.errors import Severity
from exportdsl.lint.api import rule

RULE = rule("XD208", "xml-template-missing", Severity.ERROR, __doc__)
