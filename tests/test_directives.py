"""Directives (#if, #foreach, #set, #break): tests/cases/directives_exportdsl.json through
`tests.render.render_template` and the stand-alone `Template`, the parser's nodes and spans, the
checks a connector adds (catalogue, scope), and the bounds of a render."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import exportdsl
from exportdsl import errors
from exportdsl.compiler import directives
from exportdsl.errors import ExportDslError, RenderError, TemplateSyntaxError
from exportdsl.language.nodes import Binary, Branch, Foreach, If, Literal, Not, Reference, Set, Text
from exportdsl.language.parser import parse
from exportdsl.source import Span
from tests.render import render_template

CASES = json.loads(
    (Path(__file__).parent / "cases" / "directives_exportdsl.json").read_text(encoding="utf-8")
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
