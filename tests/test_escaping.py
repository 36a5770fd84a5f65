"""The escapers (exportdsl.compiler.escaping), one context at a time: the inputs the properties in
test_properties.py never draw (lone surrogates, XML-forbidden characters, CR, control characters
other than CR/LF/NUL, single-quoted attributes, trusted values) and exact outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.etree import ElementTree

import pytest
from backend import (
    ACCESS_TOKEN,
    API_KEY,
    CLIENT_SECRET,
    SAMPLE_CHAT,
    Backend,
    Reply,
    connector_text,
)
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from exportdsl import RenderError, Template
from exportdsl.cli.main import main
from exportdsl.compiler import escaping
from exportdsl.compiler.escaping import ESCAPERS, needs_escaping, trusting
from exportdsl.compiler.values import SafeText

LONE_SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
# Every context, with a template that puts one hole in it.
TEMPLATES = {
    "text": ("text", "x $!v y"),  # quiet: None is ""
    "url": ("url", "https://$v/"),  # before the path: as is
    "url-component": ("url", "https://a.example/p/$v"),
    "header": ("header", "Bearer $v"),
    "form": ("form", "a=$v"),
    "json-string": ("json", '{"a": "$v"}'),
    "json-key": ("json", "{$v: 1}"),
    "json-value": ("json", '{"a": $v}'),
    "xml": ("xml", "<r>$v</r>"),
    "xml-attribute": ("xml", '<r a="$v"/>'),
    "xml-cdata": ("xml", "<r><![CDATA[$v]]></r>"),
}
# XML 1.0 has no way to carry these, escaped or not.
XML_FORBIDDEN = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\ufffe", "\uffff"]
XML_CONTEXTS = ["xml", "xml-attribute", "xml-cdata"]
# Printable and TAB: all a header may carry.
HEADER_CONTROLS = [
    chr(code) for code in [*range(0x00, 0x09), *range(0x0A, 0x20), *range(0x7F, 0xA0)]
]
UNICODE_LINE_BREAKS = {
    "\x85": "U+0085 NEXT LINE (NEL)",
    "\u2028": "U+2028 LINE SEPARATOR",
    "\u2029": "U+2029 PARAGRAPH SEPARATOR",
}


# Values known only at run time (here $env) before a URL's path: a connector's URL, no Template's.
RUN_TIME_URLS = {"url-origin": "$env.V/x", "url-host": "https://$env.V/x"}


def render(context: str, value: Any) -> str:
    if context in RUN_TIME_URLS:
        return render_url(RUN_TIME_URLS[context], {"V": value})
    kind, source = TEMPLATES[context]
    return Template(source, kind).render({"v": value})


def render_url(url: str, env: dict[str, Any]) -> str:
    from exportdsl import compile_connector, parse_connector

    text = f"connector: {{id: 1, name: u}}\nclient: {{id: 1}}\nexport: {{url: '{url}'}}\n"
    plan = compile_connector(parse_connector(text, "u.yaml"))
    assert plan.export is not None
    return plan.export.render(plan.connector_variables() | {"env": env}).url


def test_every_context_has_a_template_here() -> None:
    assert set(TEMPLATES) | set(RUN_TIME_URLS) == set(ESCAPERS)


# -- lone surrogates ---------------------------------------------------------------------------


@pytest.mark.parametrize("surrogate", LONE_SURROGATES)
@pytest.mark.parametrize("context", sorted(TEMPLATES | RUN_TIME_URLS))
def test_a_lone_surrogate_is_refused_in_every_context(context: str, surrogate: str) -> None:
    if context.startswith("xml"):
        message = f"character U+{ord(surrogate):04X} cannot appear in XML 1.0"
    else:
        message = "lone surrogate (U+D800 to U+DFFF)"
    with pytest.raises(RenderError) as caught:
        render(context, f"caf\u00e9 {surrogate} x")
    assert message in caught.value.message


@pytest.mark.parametrize("context", sorted(ESCAPERS))
def test_the_escaper_itself_refuses_a_lone_surrogate(context: str) -> None:
    with pytest.raises(RenderError) as caught:
        ESCAPERS[context]("\ud83d")  # half an emoji
    assert caught.value.hint is not None
    assert caught.value.hint.strip()


def test_the_surrogate_error_says_where_the_data_broke() -> None:
    with pytest.raises(RenderError) as caught:
        escaping.text("\udfff")
    assert caught.value.message == (
        "the value holds a lone surrogate (U+D800 to U+DFFF), which no encoding can carry"
    )
    assert caught.value.hint == "the data is broken where it comes from (often a cut emoji)"


@pytest.mark.parametrize(
    "value",
    [["ok", "\ud800"], {"k": {"deep": "\udc00"}}, {"\udbff": 1}],
    ids=["in a list", "nested in an object", "as a key"],
)
def test_a_surrogate_nested_in_a_json_value_is_refused(value: Any) -> None:
    with pytest.raises(RenderError, match="lone surrogate"):
        render("json-value", value)


@pytest.mark.parametrize("value", ["\ud800", SafeText("\udc00")])
def test_a_surrogate_in_a_string_json_value_is_refused(value: Any) -> None:
    with pytest.raises(RenderError, match="lone surrogate"):
        escaping.json_value(value)


def test_a_surrogate_in_a_safe_text_is_refused_where_it_is_escaped() -> None:
    with pytest.raises(RenderError, match="lone surrogate"):
        escaping.text(SafeText("a\ud800"))


def test_astral_characters_are_not_surrogates() -> None:
    emoji = "\U0001f600 \U00010000 \U0010fffd \ud7ff \ue000"
    assert escaping.text(emoji) == emoji
    assert escaping.header(emoji) == emoji
    assert escaping.xml(emoji) == emoji
    assert json.loads(render("json-value", emoji)) == {"a": emoji}


# -- text and URL prefix: as is ----------------------------------------------------------------


@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_text_and_url_prefix_are_the_value_as_is(value: str) -> None:
    assert escaping.text(value) == value
    assert escaping.url_prefix(value) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (7, "7"), (True, "true"), (False, "false"), (2.5, "2.5"), ([1, "a"], '[1,"a"]')],
)
def test_text_of_other_values(value: Any, text: str) -> None:
    assert escaping.text(value) == text
    assert render("text", value) == f"x {text} y"


# -- header ------------------------------------------------------------------------------------


@pytest.mark.parametrize("control", HEADER_CONTROLS, ids=lambda char: f"U+{ord(char):04X}")
def test_every_control_character_but_tab_is_refused_in_a_header(control: str) -> None:
    with pytest.raises(RenderError) as caught:
        render("header", f"a{control}b")
    if control in "\r\n\0":
        assert "a header value may not contain CR, LF or NUL" in caught.value.message
    elif control in UNICODE_LINE_BREAKS:
        assert f"a line break ({UNICODE_LINE_BREAKS[control]})" in caught.value.message
    else:
        assert f"a header value may not contain the control character U+{ord(control):04X}" in (
            caught.value.message
        )
    assert caught.value.hint == (
        "a line break would split the header; no control character may be sent in one"
    )


@pytest.mark.parametrize("line_break", UNICODE_LINE_BREAKS)
def test_a_unicode_line_break_from_data_is_refused_in_a_header(line_break: str) -> None:
    """A receiver that decodes the header as text (Java's readers, Python's str.splitlines) may
    split it there: U+2028, U+2029 and NEL go the way of CR and LF."""
    with pytest.raises(RenderError, match=re.escape(UNICODE_LINE_BREAKS[line_break])):
        render("header", f"ok{line_break}X-Admin: true")


def test_the_first_control_character_is_the_one_named() -> None:
    with pytest.raises(RenderError, match=r"U\+001B"):
        escaping.header("a\x1bb\rc")
    with pytest.raises(RenderError, match="CR, LF or NUL"):
        escaping.header("a\rb\x1bc")


@pytest.mark.parametrize(
    "value", ["\t", "a\tb", " ~!", "caf\u00e9 \u00a0 \u200b \u00ff", "\xa0\U0001f600"]
)
def test_a_header_keeps_tab_and_everything_printable(value: str) -> None:
    assert render("header", value) == f"Bearer {value}".rstrip(" \t")


@pytest.mark.parametrize(
    ("source", "value", "sent"),
    [
        ("Bearer $v", "tok \t", "Bearer tok"),
        ("$v", " \ttok\t ", "tok"),
        ("  $v  ", "a b", "a b"),  # inside the value, white space stays
        ("$!v", None, ""),
        ("x\t", None, "x"),  # a literal tab at the end too
    ],
)
def test_a_header_value_is_trimmed_of_spaces_and_tabs_at_both_ends(
    source: str, value: Any, sent: str
) -> None:
    """RFC 9110 §5.5: a recipient strips them, strict clients refuse to send them (h11's
    'Illegal header value'): trimmed, so what is sent is what is received."""
    assert Template(source, "header").render({"v": value}) == sent


# -- run-time values before a URL's path: an origin, nothing more -----------------------------


@pytest.mark.parametrize(
    ("context", "value", "held"),
    [
        ("url-origin", "http://169.254.169.254/latest/meta-data#", "a path ('/')"),
        ("url-origin", "https://crm.example#", "a fragment ('#')"),
        ("url-origin", "https://crm.example?x=1", "a query ('?')"),
        ("url-origin", "https://crm.example@evil.example", "user info ('@')"),
        ("url-origin", "https://u:p@evil.example", "user info ('@')"),
        ("url-origin", "https://evil.example\\.crm.example", "a backslash"),
        ("url-origin", "https://crm.example\t", "white space or a control character"),
        ("url-origin", "https://crm .example", "white space or a control character"),
        ("url-origin", "https://crm.example/", "a path ('/')"),
        ("url-origin", "crm.example", "not http(s)://host[:port]"),
        ("url-origin", "ftp://crm.example", "not http(s)://host[:port]"),
        ("url-origin", "https://crm.example:port", "not http(s)://host[:port]"),
        ("url-origin", "", "not http(s)://host[:port]"),
        ("url-host", "https://evil.example", "a scheme ('://')"),
        ("url-host", "evil.example/x", "a path ('/')"),
        ("url-host", "x@evil.example", "user info ('@')"),
        ("url-host", "evil.example#", "a fragment ('#')"),
        ("url-host", "", "not a host name"),
    ],
)
def test_a_run_time_value_before_the_path_sets_only_an_origin(
    context: str, value: str, held: str
) -> None:
    with pytest.raises(RenderError) as caught:
        render(context, value)
    error = caught.value
    assert "export.url: a value before the URL's path may set only the origin" in error.message
    assert held in error.message
    assert error.location is not None and error.location.column == (
        16 if context == "url-origin" else 24
    )
    for part in ("169.254", "evil", "crm", "u:p"):  # the value may be a secret: never quoted
        assert part not in error.message and part not in (error.hint or "")


@pytest.mark.parametrize(
    ("context", "value", "url"),
    [
        ("url-origin", "https://eu7.crm.example", "https://eu7.crm.example/x"),
        ("url-origin", "HTTP://crm.example:8080", "HTTP://crm.example:8080/x"),
        ("url-origin", "https://[2001:db8::1]:443", "https://[2001:db8::1]:443/x"),
        ("url-host", "crm.example", "https://crm.example/x"),
        ("url-host", "10.0.0.7:8443", "https://10.0.0.7:8443/x"),
        ("url-host", "[::1]", "https://[::1]/x"),
    ],
)
def test_a_bare_origin_or_host_is_inserted_as_is(context: str, value: str, url: str) -> None:
    assert render(context, value) == url


# -- URL component and form --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (".", "%2E"),
        ("..", "%2E%2E"),
        ("...", "%2E%2E%2E"),
        ("a..", "a.."),
        ("..a", "..a"),
        ("", ""),
        ("./", ".%2F"),
        ("X.X", "X.X"),  # letters around dots are not dots alone
    ],
)
def test_a_value_of_dots_alone_is_encoded(value: str, encoded: str) -> None:
    assert escaping.url_component(value) == encoded


def test_url_component_encodes_everything_but_unreserved() -> None:
    assert escaping.url_component("a/b?c#d&e=f g+h%~._-") == (
        "a%2Fb%3Fc%23d%26e%3Df%20g%2Bh%25~._-"
    )
    assert escaping.url_component("\u00e9") == "%C3%A9"
    assert escaping.url_component(None) == ""
    assert escaping.url_component(12) == "12"


def test_form_encodes_space_as_plus_and_everything_else() -> None:
    assert escaping.form("a b/c+d=e&f%~") == "a+b%2Fc%2Bd%3De%26f%25~"
    assert escaping.form(None) == ""


@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_a_url_component_has_only_unreserved_characters_and_escapes(value: str) -> None:
    encoded = escaping.url_component(value)
    assert all(char.isascii() and (char.isalnum() or char in "-._~%") for char in encoded)
    assert unquote(encoded) == value


# -- JSON --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "string"),
    [
        ('a"b\\c', 'a\\"b\\\\c'),
        ("\n\r\t\x00\x1f", "\\n\\r\\t\\u0000\\u001f"),
        ("caf\u00e9 \u2028", "caf\u00e9 \u2028"),
        ("", ""),
        ("x", "x"),
        (None, ""),
        (5, "5"),
    ],
)
def test_json_string_is_the_string_escapes_without_the_quotes(value: Any, string: str) -> None:
    assert escaping.json_string(value) == string


@pytest.mark.parametrize(
    ("value", "key"),
    [("k", '"k"'), ('a"b', '"a\\"b"'), (None, '""'), (5, '"5"'), (SafeText("PHg+"), '"PHg+"')],
)
def test_json_key_is_always_a_string(value: Any, key: str) -> None:
    assert escaping.json_key(value) == key


@pytest.mark.parametrize(
    ("value", "json_text"),
    [
        ('a"b', '"a\\"b"'),
        (SafeText("QUJD+/=="), '"QUJD+/=="'),
        (5, "5"),
        (-3, "-3"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (2.5, "2.5"),
        ({"k": [1, None, "\u00e9"]}, '{"k":[1,null,"\u00e9"]}'),
        ([], "[]"),
    ],
)
def test_json_value(value: Any, json_text: str) -> None:
    assert escaping.json_value(value) == json_text


@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_json_escapers_round_trip(value: str) -> None:
    assert json.loads(f'"{escaping.json_string(value)}"') == value
    assert json.loads(escaping.json_key(value)) == value
    assert json.loads(escaping.json_value(value)) == value


def test_a_float_that_json_cannot_carry_is_refused() -> None:
    with pytest.raises(RenderError, match="cannot render as JSON: Out of range float"):
        escaping.json_value(float("nan"))
    with pytest.raises(RenderError, match="inf is not a number a request can carry"):
        escaping.text(float("inf"))
    with pytest.raises(RenderError, match="cannot render as JSON"):
        escaping.json_value([float("inf")])


# -- XML ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("forbidden", XML_FORBIDDEN, ids=lambda char: f"U+{ord(char):04X}")
@pytest.mark.parametrize("context", XML_CONTEXTS)
def test_a_character_xml_cannot_carry_is_refused(context: str, forbidden: str) -> None:
    with pytest.raises(RenderError) as caught:
        render(context, f"a{forbidden}b")
    assert caught.value.message.endswith(
        f"character U+{ord(forbidden):04X} cannot appear in XML 1.0"
    )
    assert caught.value.hint == (
        "XML has no escape for control characters; remove them from the value"
    )


@pytest.mark.parametrize("allowed", ["\t", "\n", " ", "\x7f", "\x85", "\ufffd", "\U0001f600"])
def test_the_characters_around_the_forbidden_ones_pass(allowed: str) -> None:
    for context in XML_CONTEXTS:
        root = ElementTree.fromstring(render(context, f"a{allowed}b"))
        assert f"a{allowed}b" in {root.text, root.get("a")} or allowed in "\t\n"


def test_xml_text_escapes_markup_and_cr() -> None:
    assert escaping.xml('<a href="x">&\'\r\n\t</a>') == (
        "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&#13;\n\t&lt;/a&gt;"
    )


def test_xml_attribute_escapes_white_space_too() -> None:
    assert escaping.xml_attribute('<a b="x">&\'\r\n\t') == (
        "&lt;a b=&quot;x&quot;&gt;&amp;&apos;&#13;&#10;&#9;"
    )


@pytest.mark.parametrize(
    ("value", "cdata"),
    [
        ("a>b", "a]]>&gt;<![CDATA[b"),
        ("a\rb", "a]]>&#13;<![CDATA[b"),
        ("a]", "a]]]><![CDATA["),
        ("]]", "]]]]><![CDATA["),
        ("]]>", "]]]]>&gt;<![CDATA["),
        ("<&'\"\n\t", "<&'\"\n\t"),
        ("]x", "]x"),
        ("", ""),
        (None, ""),
    ],
)
def test_cdata_leaves_what_cannot_end_the_section(value: Any, cdata: str) -> None:
    assert escaping.xml_cdata(value) == cdata


xml_values = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
    | st.sampled_from("\t\n\r]>&<'\"")
)


@given(xml_values)
def test_cr_tab_and_newline_survive_xml_text_and_cdata(value: str) -> None:
    document = Template("<r><t>$v</t><c><![CDATA[$v]]></c></r>", "xml").render({"v": value})
    root = ElementTree.fromstring(document)
    assert [child.text or "" for child in root] == [value, value]


@given(xml_values)
def test_attribute_values_survive_white_space_normalisation(value: str) -> None:
    document = Template("<r a=\"$v\" b='$v'/>", "xml").render({"v": value})
    assert ElementTree.fromstring(document).attrib == {"a": value, "b": value}


@pytest.mark.parametrize("value", ["'", "' x='1", "a'b\"c", "' /><evil/><r a='"])
def test_a_single_quoted_attribute_cannot_be_closed_by_the_value(value: str) -> None:
    document = Template("<r a='$v'><t/></r>", "xml").render({"v": value})
    root = ElementTree.fromstring(document)
    assert root.attrib == {"a": value}
    assert [child.tag for child in root] == ["t"]


# -- trusted values: ours (SafeText, int) go in as they are only where their alphabet is safe ----


@pytest.mark.parametrize(
    ("kind", "unescaped"),
    [
        ("base64", {"text", "url", "header", "json-string", "xml", "xml-attribute"}),
        ("datetime", {"text", "url", "header", "json-string", "xml", "xml-attribute"}),
        ("integer", set(ESCAPERS) - {"json-key"}),
        ("any", set()),
    ],
)
def test_where_each_kind_skips_escaping(kind: str, unescaped: set[str]) -> None:
    assert {context for context in ESCAPERS if not needs_escaping(kind, context)} == unescaped


@pytest.mark.parametrize("context", sorted(ESCAPERS))
def test_trusting_passes_safe_text_and_ints_as_they_are(context: str) -> None:
    trusted = trusting(ESCAPERS[context])
    assert trusted(SafeText("a+b/c=<&>")) == "a+b/c=<&>"
    assert trusted(42) == "42"


def test_trusting_escapes_anything_else() -> None:
    trusted = trusting(escaping.url_component)
    assert trusted("a+b/c") == "a%2Bb%2Fc"
    assert trusted(None) == ""
    assert trusted(True) == "true"
    assert trusting(escaping.json_value)(None) == "null"
    assert trusting(escaping.xml)("<") == "&lt;"
    with pytest.raises(RenderError, match="lone surrogate"):
        trusting(escaping.header)("\ud800")


# A connector whose every field uses $report.encoded.base64 (SafeText, alphabet A-Z a-z 0-9 + / =)
# and $report.bytes (an int) in contexts where they are, or are not, left as they are.
CONNECTOR = """\
connector: {id: 7, name: Trust}
client: {id: 1}
export:
  url: https://api.example/upload/$report.encoded.base64?n=$report.bytes
  headers:
    X-Report: $report.encoded.base64
    Content-Type: %s
  body: '%s'
"""


def render_export_request(
    content_type: str, body: str, base64: str = "QUJD+/8=", size: int = 5
) -> Any:
    from exportdsl import compile_connector, parse_connector

    plan = compile_connector(parse_connector(CONNECTOR % (content_type, body), "trust.yaml"))
    variables = {
        **plan.connector_variables(),
        "chat": {},
        "env": {},
        "dateTime": SafeText("2026-01-02 03:04:05"),
        "report": {"encoded": {"base64": SafeText(base64)}, "bytes": size},
    }
    assert plan.export is not None
    return plan.export.render(variables)


def test_base64_is_percent_encoded_in_a_url_path_but_not_in_a_header() -> None:
    request = render_export_request("text/plain", "x")
    assert request.url == "https://api.example/upload/QUJD%2B%2F8%3D?n=5"
    assert dict(request.headers)["X-Report"] == "QUJD+/8="


def test_base64_is_form_encoded_in_a_form_body() -> None:
    request = render_export_request(
        "application/x-www-form-urlencoded", "pdf=$report.encoded.base64&n=$report.bytes"
    )
    assert request.body == "pdf=QUJD%2B%2F8%3D&n=5"
    assert parse_qs(request.body) == {"pdf": ["QUJD+/8="], "n": ["5"]}


def test_an_int_and_base64_as_json_keys_are_strings() -> None:
    request = render_export_request(
        "application/json",
        '{$report.bytes: "$report.encoded.base64", $report.encoded.base64: $report.bytes}',
    )
    assert request.body == '{"5": "QUJD+/8=", "QUJD+/8=": 5}'
    assert json.loads(request.body) == {"5": "QUJD+/8=", "QUJD+/8=": 5}


def test_base64_in_xml_goes_in_as_is_where_its_alphabet_is_safe() -> None:
    request = render_export_request(
        "application/xml",
        '<r n="$report.bytes" b="$report.encoded.base64">$report.encoded.base64'
        "<![CDATA[$report.encoded.base64]]></r>",
    )
    assert request.body == ('<r n="5" b="QUJD+/8=">QUJD+/8=<![CDATA[QUJD+/8=]]></r>')


def test_a_plain_string_where_base64_is_expected_is_escaped() -> None:
    """Only a SafeText is trusted: a str that claims to be the report is escaped like any value."""
    from exportdsl import compile_connector, parse_connector

    plan = compile_connector(parse_connector(CONNECTOR % ("text/plain", "x"), "trust.yaml"))
    variables = {
        **plan.connector_variables(),
        "chat": {},
        "env": {},
        "report": {"encoded": {"base64": "a\r\nX-Evil: 1"}, "bytes": "5&x=1"},
    }
    assert plan.export is not None
    with pytest.raises(RenderError, match="CR, LF or NUL"):
        plan.export.render(variables)
    variables["report"] = {"encoded": {"base64": "a/b"}, "bytes": "5&x=1"}
    request = plan.export.render(variables)
    assert request.url == "https://api.example/upload/a%2Fb?n=5%26x%3D1"


# -- the dry run stops where the export stops -------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "url", "reference", "message", "secret"),
    [
        (  # today the report went to 169.254.169.254 with its Bearer token
            {"access_token": ACCESS_TOKEN, "instance_url": "http://169.254.169.254/latest/x#"},
            "$tokenResponse.body.JSON.instance_url/report",
            "$tokenResponse.body.JSON.instance_url",
            "export.url: a value before the URL's path may set only the origin",
            "169.254",
        ),
        (  # a header no request can carry
            {"access_token": "t0k\r\nX-Admin: 1"},
            None,
            "$tokenResponse.body.JSON.access_token",
            "export.headers.Authorization: a header value may not contain CR, LF or NUL",
            "X-Admin",
        ),
    ],
)
def test_render_and_export_stop_at_the_same_reference_on_the_same_token_answer(
    tmp_path: Path,
    real_backend: Backend,
    monkeypatch: pytest.MonkeyPatch,
    answer: dict[str, str],
    url: str | None,
    reference: str,
    message: str,
    secret: str,
) -> None:
    """The dry run and the export share the plan's render, so every check it makes stops both:
    the same code, the same words, the same reference; the report is not sent and the value is
    not quoted."""
    monkeypatch.setenv("CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("API_KEY", API_KEY)
    real_backend.on("/token", Reply(json=answer))
    real_backend.on("/report", Reply(201, json={}))
    connector = tmp_path / "instance.yaml"
    connector.write_text(connector_text(real_backend.base_url, export_url=url))
    token_answer = tmp_path / "token.json"
    token_answer.write_text(json.dumps(answer))

    exported = CliRunner().invoke(main, ["export", str(connector), str(SAMPLE_CHAT), "--json"])
    rendered = CliRunner().invoke(
        main, ["render", str(connector), str(SAMPLE_CHAT), "--token-response", str(token_answer)]
    )

    assert exported.exit_code == rendered.exit_code == 1
    error = json.loads(exported.stdout)["error"]
    lines = connector.read_text().splitlines()
    line = next(number for number, text in enumerate(lines, 1) if reference in text)
    column = lines[line - 1].index(reference) + 1
    assert error["code"] == "XD300" and error["message"].startswith(message)
    assert (error["location"]["line"], error["location"]["column"]) == (line, column)
    assert f"{connector}:{line}:{column}: {error['message']}" in rendered.stderr
    assert [item.path for item in real_backend.received] == ["/token"]  # the report stayed here
    error_line = next(text for text in rendered.stderr.splitlines() if message[:20] in text)
    for words in (error["message"], error["hint"], error_line):  # the value is never quoted
        assert secret not in words
