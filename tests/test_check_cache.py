"""The check's work shared, never its results changed (issue 16: the editor's check at each
keystroke of a 1,000-line file).

A template with directives is placed in many expansions (`compiler.variants`); the expansions that
repeat another are not placed again, and the text after the last directive (the tail, which every
expansion ends with) is scanned once per scanner state it is entered in, then replayed. The
properties here hold the shortcuts to what placing every expansion afresh gives; the counts show
that the work is shared (they fail where every expansion scanned the whole body)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exportdsl.compiler import directives, placement, variants
from exportdsl.compiler.analysis import analyse_connector, check_connector, compile_connector
from exportdsl.compiler.placement import Boundary, place_expansion
from exportdsl.compiler.problem import Problem
from exportdsl.connector.reader import parse_connector
from exportdsl.errors import ExportDslError
from exportdsl.language.nodes import Node, Reference
from exportdsl.language.parser import parse
from exportdsl.vocabulary import Context, FieldKind

# -- placing every expansion afresh: the old way, the oracle ----------------------------------


def placed_afresh(nodes: tuple[Node, ...], kind: FieldKind) -> variants.DirectivePlacement:
    """`place_directives` without its shortcuts: every expansion of the whole template placed
    from the start, as the compiler did before the work was shared."""
    contexts: dict[int, Context] = {}
    problems: list[Problem] = []
    objects = []
    placed = 0
    for number, (expansion, _) in enumerate(variants._expansions(nodes)):
        placed += variants._cost(expansion)
        if placed > variants.MAX_PLACED:
            problems.append(variants._too_many(nodes))
            break
        placement = place_expansion(expansion, kind)
        if placement.problems:
            problems.extend(
                placement.problems
                if number == 0
                else map(variants._for_some_chats, placement.problems)
            )
            break
        objects.extend(placement.objects)
        holes = [piece for piece in expansion if isinstance(piece, Reference)]
        for hole, context in zip(holes, placement.contexts, strict=True):
            known = contexts.setdefault(hole.span.start, context)
            if known != context:
                problems.append(variants._moving_hole(hole, known, context))
        problems.extend(variants._unbalanced(placement.boundaries))
        if problems:
            break
    if objects:
        problems.append(
            Problem(
                "XD216",
                "a JSON key made by a value in a template with directives",
                variants._first_key_span(nodes),
                "write the keys literally; put values that vary in the values",
            )
        )
    return variants.DirectivePlacement(contexts, variants._unique(problems))


_REFERENCES = ["$m.content", "$chat.visitor.name", "$pdata.k", "$foreach.count", "${x}"]
_LOOP_ENDS = ["", "#if($foreach.hasNext),#end", "#if($velocityHasNext),#end", "#if($m.ok),#end"]


@st.composite
def json_values(draw: st.DrawFn, depth: int = 0) -> str:
    """Mostly well formed JSON with loops, branches, keys with holes and string escapes."""
    choice = draw(st.integers(0, 3 if depth < 3 else 0))
    if choice == 0:
        return draw(
            st.sampled_from(['"$m.content"', "$pdata.k", '"a\\"$m.content"', "1", '"\\u0041"'])
        )
    if choice == 1:
        item = draw(json_values(depth + 1))
        end = draw(st.sampled_from(_LOOP_ENDS))
        close = draw(st.sampled_from(["]", ', "z"]', "1]"]))
        return f"[#foreach($m in $chat.messages){item}{end}#end{close}"
    if choice == 2:
        keys = draw(
            st.lists(st.sampled_from(['"k"', '"k$m.content"', "$pdata.k", '"K"']), max_size=3)
        )
        members = [f"{key}: {draw(json_values(depth + 1))}" for key in keys]
        body = ", ".join(members)
        if draw(st.booleans()):
            body = f"#if($pdata.k){body}#else{body}#end"
        return "{" + body + "}"
    return f"#if($pdata.k){draw(json_values(depth + 1))}#else{draw(json_values(depth + 1))}#end"


_XML_ATOMS = ["<", ">", "'", '"', "=", "a", "<!--", "-->", "<![CDATA[", "]]>", "<?", "?>", "</a>"]


@st.composite
def xml_templates(draw: st.DrawFn, depth: int = 0) -> str:
    """XML-ish text, well formed or not, with loops, branches, #break and holes anywhere."""
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.integers(0, 4 if depth < 2 else 1))
        if kind == 0:
            parts.append(draw(st.sampled_from(_XML_ATOMS)))
        elif kind == 1:
            parts.append(draw(st.sampled_from(_REFERENCES)))
        elif kind == 2:
            inner = draw(xml_templates(depth + 1))
            stop = draw(st.sampled_from(["", "#if($m.ok)#break#end"]))
            parts.append(f"#foreach($m in $chat.messages){inner}{stop}#end")
        elif kind == 3:
            parts.append(f"#if($pdata.k){draw(xml_templates(depth + 1))}#end")
        else:
            parts.append(draw(st.sampled_from(["#break", "#set($x = 'v')", "## note\n"])))
    return "".join(parts)


def nodes_of(source: str) -> tuple[Node, ...]:
    try:
        return parse(source)
    except ExportDslError:
        return parse("$m.content")  # a template the strategy broke: any other one will do


@settings(max_examples=150, deadline=None)
@given(json_values(), st.sampled_from(["", " $pdata.k", '\n{"after": "$m.content"}']))
def test_a_json_body_is_placed_as_every_expansion_placed_afresh(value: str, tail: str) -> None:
    nodes = nodes_of(value + tail)
    assert variants.place_directives(nodes, FieldKind.JSON) == placed_afresh(nodes, FieldKind.JSON)


@settings(max_examples=150, deadline=None)
@given(xml_templates(), st.sampled_from([FieldKind.XML, FieldKind.TEXT, FieldKind.URL]))
def test_any_body_is_placed_as_every_expansion_placed_afresh(source: str, kind: FieldKind) -> None:
    nodes = nodes_of(source)
    assert variants.place_directives(nodes, kind) == placed_afresh(nodes, kind)


@given(st.text(alphabet='ab"\\{}[],: \n\x01é', max_size=40), st.data())
def test_the_json_scanner_reads_a_text_cut_anywhere_as_the_whole(
    text: str, data: st.DataObject
) -> None:
    """Runs are skipped in one step; cut into pieces (each a run of its own), the text leaves the
    scanner in the same state: the skipping changes no decision."""
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)))))
    whole, pieces = placement._Json(), placement._Json()
    whole.scan(text)
    for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True):
        pieces.scan(text[start:end])
    assert settled(whole) == settled(pieces)
    one_by_one = placement._Json()
    for char in text:
        one_by_one.scan(char)
    assert settled(whole) == settled(one_by_one)


def settled(scanner: placement._Json) -> object:
    """The scanner's state, the key being read as its text (the pieces it came in are joined
    when the key ends)."""
    state = list(scanner.snapshot())  # type: ignore[call-overload]
    if scanner.key is not None:
        state[4] = "".join(map(str, scanner.key))
    return state


# -- the work shared --------------------------------------------------------------------------

_LINES = 300
_BODY = (
    '{"messages": [#foreach($m in $chat.messages)"$m.content"#if($foreach.hasNext),#end#end],\n'
    + "".join(f' "field{n}": "$pdata.k $chat.visitor.name",\n' for n in range(_LINES))
    + ' "end": 1}'
)


@pytest.fixture
def holes_met(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many holes the JSON scanner meets (the real scanner, counted)."""
    met: list[int] = []
    real = placement._Json.hole

    def counted(self: placement._Json, node: Reference) -> None:
        met.append(node.span.start)
        real(self, node)

    monkeypatch.setattr(placement._Json, "hole", counted)
    yield met


def test_the_text_after_a_loop_is_scanned_once(holes_met: list[int]) -> None:
    """32 expansions (4 loop runs, 8 choices for the #if the loop's state decides) of a body
    whose 600 holes come after the loop: 4 distinct ones, whose tail is scanned once."""
    nodes = parse(_BODY)
    result = variants.place_directives(nodes, FieldKind.JSON)
    assert result.problems == ()
    assert len(result.contexts) == 2 * _LINES + 1
    assert len(holes_met) == 2 * _LINES + 1 + 2 + 3  # the tail once, the loop's 0+1+2+3 runs
    assert result == placed_afresh(nodes, FieldKind.JSON)


def test_a_tail_entered_in_another_state_is_scanned_again(holes_met: list[int]) -> None:
    """A branch that leaves a string open before the tail (refused, XD216: it ends in another
    context) makes the tail's holes land elsewhere: scanned anew, and the problem found."""
    source = '{"a": #if($pdata.k)"x#else"y"#end, "b": "$m.content"}'
    nodes = parse(source)
    assert variants.place_directives(nodes, FieldKind.JSON) == placed_afresh(nodes, FieldKind.JSON)
    assert [problem.code for problem in variants.place_directives(nodes, FieldKind.JSON).problems]


def test_keys_with_holes_in_the_tail_are_not_replayed() -> None:
    """A hole in a key is numbered by the holes before it, which the expansions vary: such a
    tail is scanned in each expansion (and the keys refused, XD216, as before)."""
    source = '{"l": [#foreach($m in $chat.messages)1#if($foreach.hasNext),#end#end], $pdata.k: 1}'
    nodes = parse(source)
    tail = placement.Tail(variants._split(nodes)[1])
    expansion, _ = next(variants._expansions(nodes))
    place_expansion(expansion, FieldKind.JSON, tail)
    assert list(tail.scanned.values()) == [None]
    placed = variants.place_directives(nodes, FieldKind.JSON)
    assert placed == placed_afresh(nodes, FieldKind.JSON)
    assert [problem.code for problem in placed.problems] == ["XD216"]


def test_a_top_level_break_ends_an_expansion_before_its_tail() -> None:
    nodes = parse("<a>#if($pdata.k)</a>#break#end$m.content</a>")
    assert variants.place_directives(nodes, FieldKind.XML) == placed_afresh(nodes, FieldKind.XML)
    expansions = [whole for _, whole in variants._expansions(variants._split(nodes)[0])]
    assert expansions == [False, True]


def test_boundaries_tell_expansions_apart() -> None:
    """Two arms of the same #if, with the same text: not one expansion."""
    nodes = parse("#if($pdata.k)x#elseif($pdata.q)x#end$m.content")
    seen = {variants._identity(pieces) for pieces, _ in variants._expansions(nodes)}
    assert len(seen) == 3  # first arm, second arm, none
    assert all(
        any(isinstance(piece, Boundary) for piece in pieces)
        for pieces, _ in variants._expansions(nodes)
        if pieces and not isinstance(pieces[0], Reference)
    )


# -- what a check does not make ----------------------------------------------------------------

_CONNECTOR = f"""\
connector: {{id: 1, name: one}}
client: {{id: 2}}
pdata: {{k: v, q: w}}
export:
  url: https://crm.example/reports
  headers: {{Content-Type: application/json}}
  body: |
    {_BODY.replace(chr(10), chr(10) + "    ")}
"""


def test_a_check_does_not_compile_the_templates_closures(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check analyses a directive field and never renders it: its closures are made at the
    first render, once."""
    built: list[int] = []
    real = directives.Program._block

    def counted(self: directives.Program, nodes: tuple[Node, ...]) -> directives._Run:
        built.append(len(nodes))
        return real(self, nodes)

    monkeypatch.setattr(directives.Program, "_block", counted)
    connector = parse_connector(_CONNECTOR, "one.yaml")
    assert check_connector(connector) == []
    assert built == []
    program = analyse_connector(connector)[0]["export.body"].program
    assert program is not None
    chat = {"messages": [{"content": 'a "quote"'}, {"content": "b"}], "visitor": {"name": "V"}}
    first = program.render({"chat": chat, "pdata": {"k": "v"}})
    assert first.startswith('{"messages": ["a \\"quote\\"","b"],')
    count = len(built)
    assert program.render({"chat": chat, "pdata": {"k": "v"}}) == first
    assert len(built) == count  # made once
    plan = compile_connector(connector)
    assert plan.export is not None and plan.export.body is not None


def test_a_path_resolved_in_one_phase_is_checked_again_in_another() -> None:
    """Resolutions are kept by phase: $xmlTemplate is fine in the export's body and refused in
    the XML template itself, whichever is checked first."""
    text = """\
connector: {id: 1, name: one}
client: {id: 2}
export:
  url: https://crm.example/reports
  headers: {Content-Type: application/json}
  body: '{"x": "$xmlTemplate.encoded.base64", "y": "$xmlTemplate.encoded.base64"}'
xml_template: '<a>$xmlTemplate.encoded.base64 $chat.visitor.nme $chat.visitor.nme</a>'
"""
    found = check_connector(parse_connector(text, "one.yaml"))
    assert [(d.code, d.location.column if d.location else 0) for d in found] == [
        ("XD205", 20),  # the XML template cannot refer to itself
        ("XD202", 60),  # each wrong step reported where it stands
        ("XD202", 78),
    ]
