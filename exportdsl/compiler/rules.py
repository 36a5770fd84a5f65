"""The compile rules: each code the compiler reports, with its name and documentation.

The compiler (`analysis`, `placement`) reports these as diagnostics; `exportdsl rules XD201` shows
one's anti-pattern and the better way. A compile error is always an error: the connector cannot run.
"""

from exportdsl.errors import Code, Severity

UNDEFINED_VARIABLE = Code(
    "XD201",
    "undefined-variable",
    Severity.ERROR,
    """\
A reference names a variable that does not exist.

Anti-pattern::

    url: https://crm.example/clients/$ClientID      # the variable is $ClientsID

Velocity would send the text ``$ClientID`` as is; exportdsl refuses it at compile time.
Better: one of the variables in README "Variables" (the message lists those available in the
phase and suggests the closest).
""",
)

UNKNOWN_PROPERTY = Code(
    "XD202",
    "unknown-property",
    Severity.ERROR,
    """\
A reference walks into a property its variable does not have, or uses a list or an object wrongly.

Anti-pattern::

    headers:
      X-Name: $chatConnector.nmae        # no such property
      X-Chat: $chat.messages.content     # messages is a list: which message?
    body: $report                        # an object, not a value

Better: ``$chatConnector.name``, ``$chat.messages[0].content``, ``$report.encoded.base64``.
pdata keys are checked against the connector's own pdata.
""",
)

WRONG_PHASE = Code(
    "XD203",
    "wrong-phase",
    Severity.ERROR,
    """\
A variable is used in a phase where it does not exist yet.

Anti-pattern::

    token:
      body: '{"size": $report.bytes}'     # the report is made after the token request

Better: use ``$report`` and ``$tokenResponse`` in the export request or the XML template, and
``$xmlTemplate`` in the export request only.
""",
)

TOKEN_RESPONSE_WITHOUT_TOKEN_PHASE = Code(
    "XD204",
    "token-response-without-token-phase",
    Severity.ERROR,
    """\
``$tokenResponse`` is used, but the connector has no token phase.

Anti-pattern::

    export:
      headers:
        Authorization: Bearer $tokenResponse.body.JSON.access_token    # no `token:` section

Better: add the ``token:`` section that fetches the token, or authenticate another way (for
example ``X-Api-Key: $env.API_KEY``).
""",
)

XML_TEMPLATE_SELF_REFERENCE = Code(
    "XD205",
    "xml-template-self-reference",
    Severity.ERROR,
    """\
The XML template refers to ``$xmlTemplate``, that is, to itself.

Anti-pattern::

    xml_template: <a>$xmlTemplate.encoded.base64</a>

Better: embed the XML template in the export request: ``"meta": "$xmlTemplate.encoded.base64"``.
""",
)

REFERENCE_IN_XML_MARKUP = Code(
    "XD206",
    "reference-in-xml-markup",
    Severity.ERROR,
    """\
A reference stands inside XML markup (a tag or attribute name, a comment, a declaration).

Anti-pattern::

    <visitor $chat.visitor.name="1"/>        # no escaping can make any value a valid name

Better: put values in element text or in a quoted attribute value, where they are escaped:
``<visitor name="$chat.visitor.name"/>``.
""",
)

DYNAMIC_CONTENT_TYPE = Code(
    "XD207",
    "dynamic-content-type",
    Severity.ERROR,
    """\
The Content-Type holds a reference while the body has references too.

Anti-pattern::

    headers:
      Content-Type: application/json; charset=$pdata.charset
    body: '{"name": "$chat.visitor.name"}'

The escaping of every value in the body is decided by the Content-Type (JSON, XML, form). When a
value could change it, no escaping can be decided at compile time, and a visitor's name could
rewrite the body's structure.

Better: write the Content-Type literally (``application/json; charset=utf-8``).
""",
)

XML_TEMPLATE_MISSING = Code(
    "XD208",
    "xml-template-missing",
    Severity.ERROR,
    """\
``$xmlTemplate`` is used, but the connector has no ``xml_template``.

Anti-pattern::

    export:
      body: '{"meta": "$xmlTemplate.encoded.base64"}'     # and no `xml_template:` section

Every export would fail when it renders. Better: add the ``xml_template:`` section, or remove the
reference.
""",
)

UNTRUSTED_URL_PREFIX = Code(
    "XD209",
    "untrusted-url-prefix",
    Severity.ERROR,
    """\
A chat value (or the report, the XML template, the time) stands before a URL's path.

Anti-pattern::

    url: https://$chat.visitor.variables.region.value.crm.example/api/reports

Before the path, a value is inserted as is (it may hold a scheme and host), so a visitor could
send the report, and its token, to a host of their choosing (``x@evil.example``).

Better: only connector values (``$pdata``, ``$env``, ``$ClientsID``, ``$chatConnector``) and the
token answer (OAuth servers send the API's base URL there) may form the scheme and host; put chat
values after a ``/`` or ``?``, where each is percent-encoded as one component. A value known only
at run time there (the token answer, ``$env``) must be a bare origin, ``https://host[:port]``
(host and port alone after a literal ``https://``), or the export stops before sending.
""",
)

MALFORMED_BODY = Code(
    "XD210",
    "malformed-body",
    Severity.ERROR,
    """\
A JSON or XML body (or the XML template) can never be well formed, whatever the values.

Anti-pattern::

    headers: {Content-Type: application/json}
    body: |
      {"chat": $chat.channel.id
       "pdf": "$report.encoded.base64"}        # missing comma

Better: valid JSON/XML around the references. A reference outside quotes becomes a JSON value
(text is quoted for you); inside quotes it becomes string content. The check parses the body with
every reference replaced by a placeholder, so the position is exact.
""",
)

SHAPED_BODY_WITHOUT_TYPE = Code(
    "XD211",
    "shaped-body-without-content-type",
    Severity.ERROR,
    """\
A body shaped as JSON, XML or a form has references, but its Content-Type does not say so (none,
``text/plain``, …), or says it is another of the three.

Anti-pattern::

    export:
      url: https://crm.example/reports
      body: '{"visitor": "$chat.visitor.name"}'     # no Content-Type: the body would be text

    export:
      headers: {Content-Type: text/plain}
      body: '$pdata.prefix{"visitor": "$chat.visitor.name"}'   # JSON after a reference

    export:
      headers: {Content-Type: application/x-www-form-urlencoded}
      body: '{"visitor": "$chat.visitor.name"}'     # form-encoded values inside JSON

Without a JSON, XML or form Content-Type the body's values would go in as text, unescaped: a visitor
named ``Evil", "admin": true, "x": "`` would add a field; under another type's they would be
escaped for that type, which does not protect this one.

The shape is the literal text's, holes standing for values that may be empty: JSON when the first
visible character after any references, white space, BOM or other invisible characters is ``{``
or ``[``, XML when it is ``<``, a form when the text is ``name=value`` pairs joined by ``&`` or
``;``; JSON or XML too when a key (``{"``, ``":``) or a tag (``<a``, ``</a``) comes before a
reference anywhere in the body. Plain text (``Hello $chat.visitor.name, your chat…``) is text.

Better: declare what the body is (``Content-Type: application/json``, ``application/xml``,
``application/x-www-form-urlencoded``); the values are then escaped for it.
""",
)

LINE_BREAK_IN_HEADER = Code(
    "XD212",
    "line-break-in-header",
    Severity.ERROR,
    """\
A header's template holds a line break (or another control character) in its literal text.

Anti-pattern::

    headers:
      Authorization: |                   # a `|` block ends with a line break
        Bearer $tokenResponse.body.JSON.access_token

A header value is one line: no request can carry a line break in it, so every export would fail
(or, with a lenient client, the header would be split). Better: ``Authorization: Bearer …`` on one
line, or ``|-`` / ``>-``, which drop the final line break. (White space at either end of a rendered
header value is trimmed, as HTTP does on receipt.)
""",
)

MALFORMED_URL = Code(
    "XD213",
    "malformed-url",
    Severity.ERROR,
    """\
A URL's literal text cannot be sent as written: it does not start with ``http://host`` or
``https://host``, it holds a line break, white space, an invisible character or a backslash (a
``/`` to browsers and proxies, not to httpx: ``http://a\\@b/`` names two different hosts), its port
is not a number from 1 to 65535, or its path has a ``.`` or ``..`` segment (the client removes it,
and the request goes to another resource).

Anti-pattern::

    url: ftp://files.example/reports          # only http and https
    url: localhost:8080/reports               # no scheme
    url: //crm.example/reports                # no scheme
    url: http:/crm.example/reports            # one slash
    url: http://crm.example:99999/reports     # a client would connect to port 34463
    url: |                                    # the block adds a line break
      https://crm.example/reports

Better: ``https://crm.example/reports`` on one line (``|-`` or ``>-`` for a block). A URL may also
start with a reference when that reference is the whole origin, followed by the path:
``$pdata.base/reports`` or ``$tokenResponse.body.JSON.instance_url/services/data``; a value from
the token answer or the environment there must then be a bare origin (scheme, host, port), or the
export stops before sending.
""",
)

TRAILING_LINE_BREAK_IN_FORM = Code(
    "XD214",
    "trailing-line-break-in-form",
    Severity.ERROR,
    """\
A form body (``name=value&…``) ends with a line break, which becomes part of its last value.

Anti-pattern::

    token:
      headers: {Content-Type: application/x-www-form-urlencoded}
      body: |                     # `|` keeps the final line break: the scope is "read\\n"
        grant_type=client_credentials&scope=read

A token endpoint then sees ``scope=read%0A`` (or ``client_secret=…\\n``) and refuses it, with an
error that does not say why. Better: ``|-`` or ``>-`` (no final line break), or one line.
""",
)

CLIENT_HEADER = Code(
    "XD215",
    "client-header",
    Severity.ERROR,
    """\
A request sets a header that only the HTTP client may write: ``Host``, ``Content-Length``,
``Transfer-Encoding``, ``Expect`` or a hop-by-hop header (``Connection``, ``Keep-Alive``,
``Proxy-Connection``, ``Upgrade``, ``TE``, ``Trailer``).

Anti-pattern::

    export:
      headers:
        Transfer-Encoding: chunked      # the client sends Content-Length too: two framings
        Content-Length: "5"             # the body is longer: every export fails
        Host: crm.internal              # another virtual host than the URL names

The client frames the body it sends (``Content-Length``), names the URL's host (``Host``) and
manages the connection; a second framing makes the request ambiguous (request smuggling: a proxy and
the back end may split it differently), a wrong length or host sends the report somewhere else or
fails every export, and ``Expect: 100-continue`` asks for an interim answer the client does not
wait for.

Better: leave them out; the client writes each from the URL and the body. The URL names the host.
""",
)

DIRECTIVE_CONTEXT = Code(
    "XD216",
    "directive-context",
    Severity.ERROR,
    """\
A branch or loop body of a JSON, XML or URL template could change where the values after it land,
or the template is not well formed for some branch or number of loop runs.

Anti-pattern::

    body: '{"note": #if($chat.visitor.note)"$chat.visitor.note#end"}'   # the quote opens inside
    body: '[#foreach($m in $chat.messages){"t": "$m.content"},#end]'     # "[{…},]" for any list

Every hole's escaping is decided at compile time, so every branch and loop body must begin and end
in the same context (inside the same string, tag or attribute: Go html/template's rule), and the
body must be well formed whether each loop runs 0, 1, 2 or 3 times and whichever branch is taken.
Each #if and #foreach adds such placements of the whole template, so a template with very many of
them (hundreds, in a long text) is refused too: checking it would take minutes.

Better: keep quotes and tags on both sides inside the body or both outside, and separate list
items with ``#if($foreach.hasNext),#end``.
""",
)

OUTSIDE_LOOP = Code(
    "XD217",
    "outside-loop",
    Severity.ERROR,
    """\
``$foreach``, ``$velocityCount``, ``$velocityHasNext`` or ``#break`` stands outside any
``#foreach``.

Anti-pattern::

    body: "count: $foreach.count"

Velocity would render nothing (or the text as is); there is no loop to read. Better: use them
inside ``#foreach(…) … #end``.
""",
)

SHADOWED_NAME = Code(
    "XD218",
    "shadowed-name",
    Severity.ERROR,
    """\
``#set`` or a ``#foreach`` variable takes the name of a variable of the catalogue (``chat``,
``pdata``, ``env``, ``report``, …) or of a loop (``foreach``).

Anti-pattern::

    body: "#foreach($chat in $chat.messages)$chat.content#end"

Everything after would read the new value where the author meant the catalogue's. Better: another
name (``#foreach($m in $chat.messages)``).
""",
)

NOT_A_LIST = Code(
    "XD219",
    "not-a-list",
    Severity.ERROR,
    """\
``#foreach`` loops over a value that is not a list (nor an object, whose values it would visit).

Anti-pattern::

    body: "#foreach($m in $chat.visitor.name)…#end"

Better: a list: ``$chat.messages``, ``$chat.paths``, ``$chat.tags``, … (README "Variables").
""",
)

RULES = (
    UNDEFINED_VARIABLE,
    UNKNOWN_PROPERTY,
    WRONG_PHASE,
    TOKEN_RESPONSE_WITHOUT_TOKEN_PHASE,
    XML_TEMPLATE_SELF_REFERENCE,
    REFERENCE_IN_XML_MARKUP,
    DYNAMIC_CONTENT_TYPE,
    XML_TEMPLATE_MISSING,
    UNTRUSTED_URL_PREFIX,
    MALFORMED_BODY,
    SHAPED_BODY_WITHOUT_TYPE,
    LINE_BREAK_IN_HEADER,
    MALFORMED_URL,
    TRAILING_LINE_BREAK_IN_FORM,
    CLIENT_HEADER,
    DIRECTIVE_CONTEXT,
    OUTSIDE_LOOP,
    SHADOWED_NAME,
    NOT_A_LIST,
)

__all__ = [
    "CLIENT_HEADER",
    "DIRECTIVE_CONTEXT",
    "DYNAMIC_CONTENT_TYPE",
    "LINE_BREAK_IN_HEADER",
    "MALFORMED_BODY",
    "MALFORMED_URL",
    "NOT_A_LIST",
    "OUTSIDE_LOOP",
    "REFERENCE_IN_XML_MARKUP",
    "RULES",
    "SHADOWED_NAME",
    "SHAPED_BODY_WITHOUT_TYPE",
    "TOKEN_RESPONSE_WITHOUT_TOKEN_PHASE",
    "TRAILING_LINE_BREAK_IN_FORM",
    "UNDEFINED_VARIABLE",
    "UNKNOWN_PROPERTY",
    "UNTRUSTED_URL_PREFIX",
    "WRONG_PHASE",
    "XML_TEMPLATE_MISSING",
    "XML_TEMPLATE_SELF_REFERENCE",
]
