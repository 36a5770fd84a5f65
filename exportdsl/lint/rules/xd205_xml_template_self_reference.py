"""The XML template refers to ``$xmlTemplate``, that is, to itself.

Anti-pattern::

    xml_template: <a>$xmlTemplate.encoded.base64</a>

Better: embed the XML template in the export request: ``"meta": "$xmlTemplate.encoded.base64"``.
"""

from exportdsl.errors import Severity
from exportdsl.lint.api import rule

RULE = rule("XD205", "xml-template-self-reference", Severity.ERROR, __doc__)
