"""Hypothesis properties of parsing, substitution and escaping."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import unquote
from xml.etree import ElementTree

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from exportdsl import ExportDslError, RenderError, Template

# Any text a value may hold, minus surrogates (not encodable, so never on the wire).
values = st.text(st.characters(blacklist_categories=("Cs",)))
xml_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
    | st.sampled_from("\t\n")
)
template_text = st.text(
    st.characters(blacklist_categories=("Cs",)) | st.sampled_from("$#!{}[]\\.'\"*")
)


@given(st.text(st.characters(blacklist_characters="$#", blacklist_categories=("Cs",))))
def test_text_without_dollar_or_hash_renders_to_itself(text: str) -> None:
    assert Template(text).render({}) == text


@given(template_text)
def test_any_text_parses_or_fails_with_the_root_error(text: str) -> None:
    try:
        Template(text).render({})
    except ExportDslError as error:
        assert error.message
        assert error.location is not None or isinstance(error, RenderError)


@given(values)
def test_json_body_holds_exactly_the_value_and_no_new_keys(value: str) -> None:
    body = Template('{"name": "$v", "raw": $v, "nested": {"a": "x${v}y"}}', "json").render(
        {"v": value}
    )
    assert json.loads(body) == {"name": value, "raw": value, "nested": {"a": f"x{value}y"}}


@given(xml_text)
def test_xml_field_stays_well_formed_with_exactly_the_text(value: str) -> None:
    document = Template('<r a="$v"><t>$v</t><c><![CDATA[$v]]></c></r>', "xml").render({"v": value})
    root = ElementTree.fromstring(document)
    assert root.attrib == {"a": value}
    assert [child.text or "" for child in root] == [value, value]


@given(values, st.sampled_from(["\r", "\n", "\0", "\r\n"]), values)
def test_header_with_cr_lf_or_nul_is_a_render_error(before: str, bad: str, after: str) -> None:
    with pytest.raises(RenderError, match="may not contain"):
        Template("Bearer $v", "header").render({"v": before + bad + after})


@given(values)
def test_url_component_round_trips_through_percent_decoding(value: str) -> None:
    url = Template("https://api.example/items/$v?q=$v", "url").render({"v": value})
    path, query = url.removeprefix("https://api.example/items/").split("?q=")
    assert "/" not in path and "&" not in query and "#" not in url
    assert unquote(path) == value == unquote(query)


@given(
    st.one_of(values, st.sampled_from([".", "..", "...", "./..", "%2E"])),
    st.sampled_from(
        [
            "https://api.example/items/$v/reports",
            "https://api.example/$v/$v/x",
            "https://api.example/a/$v",
        ]
    ),
)
def test_chat_data_cannot_climb_the_url_path(value: str, template: str) -> None:
    """Whatever a value holds, the path httpx sends keeps every literal segment: dot segments
    ("." and "..") a value could make are encoded, so the client removes nothing."""
    import httpx

    url = Template(template, "url").render({"v": value})
    sent = httpx.Request("POST", url).url.raw_path.decode("ascii").split("?")[0]
    literal = template.removeprefix("https://api.example").split("/")
    segments = sent.split("/")
    assert len(segments) == len(literal)
    for written, went in zip(literal, segments, strict=True):
        assert went not in (".", "..")
        if "$v" not in written:
            assert went == written
        else:
            assert unquote(went) == written.replace("$v", value)


@given(values)
def test_form_value_round_trips(value: str) -> None:
    from urllib.parse import parse_qs

    body = Template("a=$v&b=1", "form").render({"v": value})
    assert parse_qs(body, keep_blank_values=True, strict_parsing=False) == {
        "a": [value],
        "b": ["1"],
    }


@given(values, values, st.sampled_from(["", "]", "]]", ">", "]>"]))
def test_cdata_holes_side_by_side_cannot_end_the_section(
    first: str, second: str, after: str
) -> None:
    assume_xml = all(char in "\t\n\r" or char >= " " for char in first + second)
    if not assume_xml or any(0xFFFE <= ord(c) <= 0xFFFF for c in first + second):
        return
    document = Template(f"<r><![CDATA[$a${{b}}{after}]]></r>", "xml").render(
        {"a": first, "b": second}
    )
    root = ElementTree.fromstring(document)
    assert list(root) == []  # no element came out of the values
    assert "".join(root.itertext()) == first + second + after


@given(st.one_of(values, st.sampled_from(["n", "N"])), values)
def test_json_key_position_takes_any_value_as_a_string_key(key: str, value: str) -> None:
    template = Template('{$k: $v, "n": {$k: 1}}', "json")
    if key.casefold() == "n":  # would repeat the literal key "n" of the outer object
        with pytest.raises(RenderError, match="repeats the key 'n'"):
            template.render({"k": key, "v": value})
        return
    assert json.loads(template.render({"k": key, "v": value})) == {key: value, "n": {key: 1}}


@given(st.one_of(values, st.sampled_from(["admin", "Admin", "ADMİN", "x", ""])))
def test_a_key_made_by_a_value_never_replaces_a_literal_key(key: str) -> None:
    """Whatever the value, the object a parser reads has no two keys equal ignoring case, and the
    connector's own "admin": false is the only "admin"."""
    template = Template('{"$k": 1, "admin": false, "x_$k": 2, "x_admin": 3}', "json")
    try:
        body = template.render({"k": key})
    except RenderError as error:
        assert "repeats the key" in error.message
        return
    pairs = json.loads(body, object_pairs_hook=list)
    folded = [name.casefold() for name, _ in pairs]
    assert len(set(folded)) == len(folded)
    assert dict(pairs)["admin"] is False


def _run_time_url(url: str) -> Callable[[str], str]:
    """A connector whose URL takes ``$env.V`` before its path, rendered with a given value."""
    from exportdsl import compile_connector, parse_connector

    text = f"connector: {{id: 1, name: p}}\nclient: {{id: 1}}\nexport: {{url: '{url}'}}\n"
    plan = compile_connector(parse_connector(text))
    assert plan.export is not None
    export = plan.export
    return lambda value: export.render({"env": {"V": value}}).url


_ORIGIN_URL = _run_time_url("$env.V/services/data?v=1")
_HOST_URL = _run_time_url("https://$env.V/services/data?v=1")
origins = st.one_of(
    values,
    st.builds(
        lambda scheme, host, tail: f"{scheme}://{host}{tail}",
        st.sampled_from(["http", "https", "HTTPS", "ftp"]),
        st.sampled_from(["crm.example", "169.254.169.254", "[::1]", "a@b", ""]),
        st.one_of(st.sampled_from(["", ":8443", "/", "/x#", "?", "#", "\\@e", "@e"]), values),
    ),
)


_REFUSALS = {
    f"this one {why}"
    for why in (
        "holds a scheme ('://')",
        "holds user info ('@')",
        "holds a path ('/')",
        "holds a query ('?')",
        "holds a fragment ('#')",
        "holds a backslash",
        "holds white space or a control character",
        "is not http(s)://host[:port]",
        "is not a host name, an IP address, optionally with ':port'",
    )
} | {"a port is a number from 1 to 65535"}


@given(origins, st.booleans())
@example("HTTP://0.0.0.300", True)
@example("https://e.example:99999", True)
@example("e.example:65536", False)
@example("e.example:0", False)
def test_a_run_time_value_before_the_path_changes_only_the_origin(
    value: str, at_start: bool
) -> None:
    """Whatever the token answer or the environment holds, the URL httpx sends has the
    connector's path and query, no user info and no fragment: the value set an origin or the
    render was refused."""
    import httpx

    try:
        url = (_ORIGIN_URL if at_start else _HOST_URL)(value)
    except RenderError as error:
        # the words are the compiler's, never the value's (it may be a secret)
        assert error.message.split("; ")[-1] in _REFUSALS
        return
    try:
        sent = httpx.Request("POST", url).url
    except httpx.InvalidURL:
        # A host httpx cannot take (``0.0.0.300``): nothing is sent, and the export and the dry
        # run report it as a render error (tests/test_client.py).
        return
    assert (sent.raw_path, sent.userinfo, sent.fragment) == (b"/services/data?v=1", b"", "")
    assert sent.scheme in ("http", "https") and sent.host
    # httpx keeps a port over 65535 (the socket would take it modulo 65536): the plan refuses it
    assert sent.port is None or 0 < sent.port <= 65535


@given(st.text(), st.sampled_from(["text", "url", "header", "json", "form"]))
def test_lone_surrogates_are_a_render_error_never_a_crash(value: str, context: str) -> None:
    template = {"json": '{"a": "$v", "b": $v}', "url": "https://a.example/$v"}.get(context, "x $v")
    try:
        rendered = Template(template, context).render({"v": value})
    except RenderError:
        return
    rendered.encode("utf-8")  # whatever renders can go on the wire


# -- a body's shape (XD211) ---------------------------------------------------------------------

_SHAPED_BODIES = [
    '{"v": "$chat.visitor.name"}',
    '[{"v": $chat.visitor.name}]',
    "<a>$chat.visitor.name</a>",
    "v=$chat.visitor.name&r=1",
    "v=$chat.visitor.name;r=1",
]
# What may come before a body's first mark and hide nothing: references (they may render empty),
# white space, a BOM, format characters.
_LEADS = st.lists(
    st.sampled_from(
        [
            *("${pdata.p}", "$!{chat.visitor.group}", " ", "\n", "\t", "\ufeff", "\u00a0"),
            *("\u200b", "\u2060", "\u180e", "\u3000"),
        ]
    ),
    max_size=6,
)


@given(st.sampled_from(_SHAPED_BODIES), _LEADS)
def test_what_comes_before_a_body_does_not_hide_its_shape(body: str, lead: list[str]) -> None:
    from exportdsl.compiler.placement import body_shape
    from exportdsl.language.parser import parse

    shape = body_shape(parse(body))
    assert shape is not None
    assert body_shape(parse("".join(lead) + body)) == shape


@given(
    st.lists(
        st.one_of(
            st.text(alphabet="abcXYZ019 ,.!?'()-\n", max_size=12),
            st.sampled_from(["$chat.visitor.name", "$report.bytes", "${ClientsID}"]),
        ),
        max_size=8,
    )
)
def test_plain_text_with_references_is_text(pieces: list[str]) -> None:
    """Without a bracket, a quote, '<' or '=', a template is a sentence, never shaped."""
    from exportdsl.compiler.placement import body_shape
    from exportdsl.language.parser import parse

    source = "Hello " + " ".join(pieces)
    assert body_shape(parse(source)) is None
