"""Directives (#if, #foreach, #set, #break): tests/cases/exportdsl-directives.json through
`tests.render.render_template` and the stand-alone `Template`, the parser's nodes and spans, the
checks a connector adds (catalogue, scope), and the bounds of a render."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import exportdsl
from exportdsl import errors
from exportdsl.compiler import directives
from exportdsl.compiler.analysis import check_connector, compile_connector
from exportdsl.compiler.explain import explain
from exportdsl.compiler.plan import Plan
from exportdsl.compiler.values import SafeText, TextValue
from exportdsl.connector.reader import parse_connector
from exportdsl.errors import ExportDslError, RenderError, TemplateSyntaxError
from exportdsl.language.nodes import Binary, Branch, Foreach, If, Literal, Not, Reference, Set, Text
from exportdsl.language.parser import parse
from exportdsl.lint.runner import lint_file
from exportdsl.lint.settings import Settings
from exportdsl.source import Span
from tests.render import render_template

CASES = json.loads(
    (Path(__file__).parent / "cases" / "exportdsl-directives.json").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_case(case: dict[str, Any]) -> None:
    given, expected = case["given"], case["expected"]
    kind = given.get("context", "text")
    if "error" in expected:
        want = expected["error"]
        with pytest.raises(getattr(errors, want["type"])) as caught:
            exportdsl.Template(given["template"], kind).render(given["variables"])
        assert want["message"] in caught.value.message
        location = caught.value.location
        assert location is not None
        assert (location.line, location.column) == (want["line"], want["column"])
        if "code" in want:
            assert caught.value.code == want["code"]
        return
    template = exportdsl.Template(given["template"], kind)
    assert template.render(given["variables"]) == expected["output"]


def test_render_template_returns_the_output_or_the_error() -> None:
    assert render_template("#foreach($i in $l)$i#end", {"l": [1, 2]}) == "12"
    assert render_template("<$x>", {"x": "&"}) == "<&>"  # plain text: nothing escaped
    error = render_template("#if($x)", {})
    assert isinstance(error, TemplateSyntaxError)
    assert isinstance(render_template("$x", {}), ExportDslError)


def test_nodes_and_spans() -> None:
    (node,) = parse("#if(!$a && 2 eq 'b')x#{else}y#end")
    assert isinstance(node, If)
    assert node.span == Span(0, 33)
    first, second = node.branches
    assert first.span == Span(0, 20)
    assert first.condition == Binary(
        "&&",
        Not(Reference("a", (), False, False, Span(5, 7), Span(6, 7)), Span(4, 7)),
        Binary("==", Literal(2, Span(11, 12)), Literal("b", Span(16, 19)), Span(11, 19)),
        Span(4, 19),
    )
    assert first.body == (Text("x", Span(20, 21), 20),)
    assert second == Branch(None, (Text("y", Span(28, 29), 28),), Span(21, 28))


def test_foreach_and_set_nodes() -> None:
    loop, assign = parse("#foreach( $m in $l )$m#end\n  #set($n = 'x')")
    assert isinstance(loop, Foreach)
    assert (loop.variable, loop.variable_span, loop.opener) == ("m", Span(10, 12), Span(0, 20))
    assert loop.body == (Reference("m", (), False, False, Span(20, 22), Span(21, 22)),)
    assert assign == Set("n", Span(34, 36), Literal("x", Span(39, 42)), Span(29, 43))


def test_nesting_depth_is_bounded() -> None:
    assert render_template("#if(true)" * 32 + "x" + "#end" * 32, {}) == "x"
    error = render_template("#if(true)" * 33 + "x" + "#end" * 33, {})
    assert isinstance(error, TemplateSyntaxError)
    assert "nested more than 32 deep" in error.message


def test_the_loops_stop_after_the_iteration_budget() -> None:
    template = "#foreach($a in $l)#foreach($b in $l)#foreach($c in $l)#end#end#end"
    with pytest.raises(RenderError, match="loops ran more than 100,000 times"):
        exportdsl.Template(template).render({"l": list(range(50))})


def test_the_output_stops_at_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(directives, "MAX_OUTPUT", 1000)
    with pytest.raises(RenderError, match="longer than"):
        exportdsl.Template("#foreach($a in $l)$a#end").render({"l": ["x" * 100] * 20})


# --- connectors: the catalogue in scope, placement, rendering through the plan -----------------

XML_AND_JSON = """\
connector: {id: 30, name: messages as data}
client: {id: 1}
xml_template: |
  <chat id="$chat.channel.id">
  #foreach($m in $chat.messages)
    <message n="$foreach.count" type="$m.type">$m.content</message>
  #end
  </chat>
export:
  url: https://crm.example/reports
  headers:
    Content-Type: application/json
  body: |-
    {"messages": [#foreach($m in $chat.messages)
       {"n": $foreach.count, "text": "$m.content"}#if($foreach.hasNext),#end
     #end],
     #if($chat.visitor.email)"email": "$chat.visitor.email",#end
     "xml": "$xmlTemplate.encoded.base64"}
"""

CHAT = {
    "channel": {"id": "c<1>"},
    "visitor": {"email": None},
    "messages": [
        {"type": "contact", "content": 'a "quoted" </message> & more'},
        {"type": "agent", "content": "line\nbreak"},
    ],
}


def _plan(text: str) -> Plan:
    return compile_connector(parse_connector(text, "c.yaml"))


def test_a_connector_lists_every_message_in_xml_and_json() -> None:
    plan = _plan(XML_AND_JSON)
    variables = plan.connector_variables() | {"chat": CHAT}
    xml = plan.render_xml_template(variables)
    assert xml == (
        '<chat id="c&lt;1&gt;">\n'
        '  <message n="1" type="contact">a &quot;quoted&quot; &lt;/message&gt; &amp; more'
        "</message>\n"
        '  <message n="2" type="agent">line\nbreak</message>\n'
        "</chat>\n"
    )
    assert plan.export is not None
    assert xml is not None
    encoded = base64.b64encode(xml.encode()).decode()
    xml_value = SafeText(encoded)
    text = TextValue(xml, {"encoded": {"base64": xml_value}})
    body = plan.export.render(variables | {"xmlTemplate": text}).body
    assert body is not None
    assert json.loads(body) == {
        "messages": [
            {"n": 1, "text": 'a "quoted" </message> & more'},
            {"n": 2, "text": "line\nbreak"},
        ],
        "xml": encoded,
    }
    ElementTree.fromstring(xml)  # well formed


def test_explain_shows_the_holes_inside_directives() -> None:
    shown = explain("c.yaml", _plan(XML_AND_JSON))
    assert "$m.content" in shown and "escaped as JSON string content" in shown
    assert "XML-escaped" in shown
    assert "[inside #foreach($m in $chat.messages)]" in shown
    assert "each value keeps this escaping in every branch and loop run" in shown


def _diagnostics(body: str, content_type: str = "application/json") -> list[tuple[str, str]]:
    text = (
        "connector: {id: 31, name: c}\nclient: {id: 1}\nexport:\n"
        "  url: https://crm.example/r\n"
        f"  headers:\n    Content-Type: {content_type}\n"
        f"  body: {json.dumps(body)}\n"
    )
    found = check_connector(parse_connector(text, "c.yaml"))
    return [(d.code, d.message + " | " + (d.hint or "")) for d in found]


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ('[#foreach($m in $chat.messages)"$m.contnet"#end]', "XD202", "did you mean 'content'"),
        ('#if($chta.visitor)"x"#end', "XD201", "did you mean $chat"),
        ('#if($chat.visitor.nmae == "x")1#end', "XD202", "did you mean 'name'"),
        ("#set($v = $chat.vistor)1", "XD202", "did you mean 'visitor'"),
        ("[#foreach($m in $chat.visitor.name)1#end]", "XD219", "not a list"),
        ("[#foreach($pdata in $chat.messages)1#end]", "XD218", "$pdata"),
        ("#set($foreach = 1)1", "XD218", "$foreach"),
        ("[#foreach($m in $chat.messages)$m.content.x#end]", "XD202", "no properties"),
        ('"$foreach.count"', "XD217", "inside a #foreach"),
        ("[#foreach($m in $chat.messages)#foreach($p in $m.paths)1#end#end]", "XD202", "paths"),
    ],
)
def test_a_connector_checks_every_reference_in_scope(body: str, code: str, words: str) -> None:
    found = _diagnostics(body)
    assert any(c == code and words in text for c, text in found), found


def test_names_from_loops_and_set_are_known_where_they_stand() -> None:
    body = (
        '{"a": [#foreach($m in $chat.messages)#set($last = $m)'
        '"#foreach($p in $chat.paths)$p.url $m.name $foreach.parent.count;#end"'
        "#if($foreach.hasNext),#end#end],"
        ' "last": "$last.content", "pdf": "$report.encoded.base64"}'
    )
    assert [code for code, _ in _diagnostics(body)] == []


def test_a_render_error_in_a_loop_points_at_the_reference() -> None:
    text = XML_AND_JSON.replace("$m.content</message>", "$m.name</message>")
    plan = _plan(text)
    chat = CHAT | {"messages": [{"type": "agent", "content": "x", "name": None}]}
    with pytest.raises(RenderError) as caught:
        plan.render_xml_template(plan.connector_variables() | {"chat": chat})
    assert caught.value.location is not None
    assert (caught.value.location.line, caught.value.location.column) == (6, 48)
    assert "$m.name is null" in caught.value.message


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(), max_size=4), st.text())
def test_json_and_xml_bodies_with_loops_stay_well_formed(items: list[str], note: str) -> None:
    json_body = exportdsl.Template(
        '{"items": [#foreach($i in $items)"$i"#if($foreach.hasNext),#end#end],'
        ' #if($note)"note": "$note"#else"none": true#end}',
        "json",
    )
    try:
        rendered = json_body.render({"items": items, "note": note})
    except RenderError:
        assume(False)  # lone surrogates: refused, never sent
    expected: dict[str, Any] = {"items": items}
    expected |= {"note": note}
    assert json.loads(rendered) == expected
    xml_body = exportdsl.Template('<r>#foreach($i in $items)<i v="$i">$i</i>#end</r>', "xml")
    try:
        document = ElementTree.fromstring(xml_body.render({"items": items}))
    except RenderError:
        assume(False)  # a character XML cannot carry
    assert [element.get("v") for element in document] == items
    assert [element.text or "" for element in document] == items


def test_the_linter_reads_inside_directives(tmp_path: Path) -> None:
    """$report inside an #if is used (no XD507), a credential inside a loop is found (XD503)."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "connector: {id: 40, name: c}\nclient: {id: 1}\nexport:\n"
        "  url: https://crm.example/r\n  headers:\n    Content-Type: application/json\n"
        "    X-Key: '#if(true)sk_live_4eC39HqLyjWDarjtT1zdp7dc#end'\n"
        """  body: '{#if($chat.visitor.email)"pdf": "$report.encoded.base64"#end}'\n""",
        encoding="utf-8",
    )
    codes = [d.code for d in lint_file(path, Settings(root=tmp_path)).diagnostics]
    assert codes == ["XD503"]


def _codes(text: str) -> list[str]:
    return [d.code for d in check_connector(parse_connector(text, "c.yaml"))]


def test_a_json_body_whose_values_are_all_in_a_loop_still_needs_its_content_type() -> None:
    """Values only inside directives: the body's shape and its references are still seen (XD211),
    or they would go in as text, unescaped."""
    text = (
        "connector: {id: 30, name: c}\nclient: {id: 1}\nexport:\n"
        "  url: https://crm.example/reports\n"
        """  body: '[#foreach($m in $chat.messages)"$m.content"#end]'\n"""
    )
    assert "XD211" in _codes(text)


def test_a_content_type_with_a_directive_is_dynamic() -> None:
    text = (
        "connector: {id: 30, name: c}\nclient: {id: 1}\nexport:\n"
        "  url: https://crm.example/reports\n  headers:\n"
        '    Content-Type: "#if($chat.visitor.email)application/json#{else}text/plain#end"\n'
        """  body: '{"p": #if($report)"$report.encoded.base64"#{else}1#end}'\n"""
    )
    assert "XD207" in _codes(text)


@pytest.mark.parametrize("arms", [0, 40])
def test_nested_loops_are_expanded_together_however_many_arms(arms: int) -> None:
    """An empty inner list after an item of the outer one leaves a dangling comma: found with 40
    #if arms around too (past the combinations tried in full, loops still are)."""
    fields = "".join(f'"k{i}": #if($a{i})"$a{i}"#{{else}}null#end, ' for i in range(arms))
    good = (
        "{"
        + fields
        + '"l": [#foreach($m in $ms)[#foreach($n in $m)"$n"'
        + ("#if($foreach.hasNext),#end#end]#if($foreach.hasNext),#end#end]}")
    )
    exportdsl.Template(good, "json")
    bad = (
        "{"
        + fields
        + '"l": [#foreach($m in $ms)#foreach($n in $m)"$n"'
        + ("#if($foreach.hasNext),#end#end#if($foreach.hasNext),#end#end]}")
    )
    with pytest.raises(errors.CompileError, match="is not valid JSON for some chats"):
        exportdsl.Template(bad, "json")
