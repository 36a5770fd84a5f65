"""The parser stage on its own: template text -> the node tuple, every node with its span.

tests/cases/language.json checks what templates render to; these check what the parser hands the
compiler, offsets included (the linter and every diagnostic's caret hang on them)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exportdsl.errors import TemplateSyntaxError
from exportdsl.language.nodes import Comment, Node, Reference, Segment, Text
from exportdsl.language.parser import parse
from exportdsl.source import Span


def text(value: str, start: int, end: int | None = None, value_start: int | None = None) -> Text:
    """A Text node; by default its span is exactly its value."""
    return Text(
        value,
        Span(start, start + len(value) if end is None else end),
        start if value_start is None else value_start,
    )


def ref(
    name: str,
    start: int,
    end: int,
    name_start: int,
    *segments: Segment,
    quiet: bool = False,
    formal: bool = False,
) -> Reference:
    return Reference(
        name,
        segments,
        quiet=quiet,
        formal=formal,
        span=Span(start, end),
        name_span=Span(name_start, name_start + len(name)),
    )


def seg(key: str | int, start: int, end: int) -> Segment:
    return Segment(key, Span(start, end))


CASES: list[tuple[str, tuple[Node, ...]]] = [
    ("", ()),
    ("Hello, world", (text("Hello, world", 0),)),
    ("line\nnext", (text("line\nnext", 0),)),
    # a short reference and the text around it
    ("a $a.b c", (text("a ", 0), ref("a", 2, 6, 3, seg("b", 4, 6)), text(" c", 6))),
    ("$pdata", (ref("pdata", 0, 6, 1),)),
    ("$a_1.b2.c_", (ref("a_1", 0, 10, 1, seg("b2", 4, 7), seg("c_", 7, 10)),)),
    # a trailing dot, a hyphen, a digit after the dot end the reference
    ("$a.b.", (ref("a", 0, 4, 1, seg("b", 2, 4)), text(".", 4))),
    ("$a.b-c", (ref("a", 0, 4, 1, seg("b", 2, 4)), text("-c", 4))),
    ("$a.1", (ref("a", 0, 2, 1), text(".1", 2))),
    # the formal form: the span includes the braces
    ("${a.b}x", (ref("a", 0, 6, 2, seg("b", 3, 5), formal=True), text("x", 6))),
    ("x${a}", (text("x", 0), ref("a", 1, 5, 3, formal=True))),
    # quiet forms
    ("$!a", (ref("a", 0, 3, 2, quiet=True),)),
    ("$!{a.b}", (ref("a", 0, 7, 3, seg("b", 4, 6), quiet=True, formal=True),)),
    # brackets: indexes and quoted keys, in both forms
    (
        "$a[0][\"k\"]['x-y']",
        (ref("a", 0, 17, 1, seg(0, 2, 5), seg("k", 5, 10), seg("x-y", 10, 17)),),
    ),
    ("${a[12].b}", (ref("a", 0, 10, 2, seg(12, 3, 7), seg("b", 7, 9), formal=True),)),
    ("$a['']", (ref("a", 0, 6, 1, seg("", 2, 6)),)),
    ("$a[x]", (ref("a", 0, 2, 1), text("[x]", 2))),  # not an index: text
    ("$a[", (ref("a", 0, 2, 1), text("[", 2))),
    # an escaped dollar is a Text of "$" whose value starts one character in
    ("\\$a", (text("$", 0, 2, 1), text("a", 2))),
    ("x\\${a}", (text("x", 0), text("$", 1, 3, 2), text("{a}", 3))),
    ("\\", (text("\\", 0),)),
    ("a\\b", (text("a", 0), text("\\", 1), text("b", 2))),
    # a dollar that cannot start a reference is text
    ("$5", (text("$", 0), text("5", 1))),
    ("costs $5.00", (text("costs ", 0), text("$", 6), text("5.00", 7))),
    ("$", (text("$", 0),)),
    ("$!", (text("$!", 0),)),
    ("$ x", (text("$", 0), text(" x", 1))),
    ("}", (text("}", 0),)),
    # comments are nodes of their own, with the text they removed
    ("x## c\ny", (text("x", 0), Comment("## c\n", Span(1, 6)), text("y", 6))),
    ("x## to the end", (text("x", 0), Comment("## to the end", Span(1, 14)))),
    ("x#* c\n *#y", (text("x", 0), Comment("#* c\n *#", Span(1, 9)), text("y", 9))),
    ("#**#", (Comment("#**#", Span(0, 4)),)),
    # an unparsed block is text, starting three characters in
    ("#[[$a ## b]]#", (text("$a ## b", 0, 13, 3),)),
    ("x#[[]]#y", (text("x", 0), text("", 1, 7, 4), text("y", 7))),
    # a hash that starts none of the forms is text
    ("#1($x)", (text("#", 0), text("1(", 1), ref("x", 3, 5, 4), text(")", 5))),
    ("# #", (text("#", 0), text(" ", 1), text("#", 2))),
]


@pytest.mark.parametrize(("source", "nodes"), CASES, ids=[repr(source) for source, _ in CASES])
def test_parse(source: str, nodes: tuple[Node, ...]) -> None:
    assert parse(source) == nodes


def test_parse_caches_and_returns_an_immutable_tuple() -> None:
    first = parse("Hi $a.b")
    assert parse("Hi $a.b") is first
    assert isinstance(first, tuple)


def test_reference_path_and_display() -> None:
    (reference,) = parse("$!{a['x-y'][0].b}")
    assert isinstance(reference, Reference)
    assert reference.path == ("a", "x-y", 0, "b")
    assert reference.dotted == "a['x-y'][0].b"
    assert str(reference) == "$!{a['x-y'][0].b}"
    (short,) = parse("$a.b")
    assert str(short) == "$a.b"


# Characters, and pieces that make references, comments and escapes likely.
PIECES = ["$", "#", "!", "{", "}", "\\", ".", "'", '"', "$a", "[0]", "['k']", ".b", "#*", "*#"]
source_text = st.lists(st.characters(blacklist_categories=("Cs",)) | st.sampled_from(PIECES)).map(
    "".join
)


@given(source_text)
def test_spans_tile_the_source(source: str) -> None:
    """Every character belongs to exactly one node, in order; a Text's value is where it says."""
    try:
        nodes = parse(source)
    except TemplateSyntaxError:
        return
    position = 0
    for node in nodes:
        assert node.span.start == position
        assert node.span.end > node.span.start
        position = node.span.end
        if isinstance(node, Text):
            assert source[node.value_start : node.value_start + len(node.value)] == node.value
        elif isinstance(node, Comment):
            assert source[node.span.start : node.span.end] == node.body
        else:
            assert source[node.name_span.start : node.name_span.end] == node.name
            last = node.name_span.end
            for segment in node.segments:
                written = source[segment.span.start : segment.span.end]
                assert segment.span.start == last
                assert written in (
                    f".{segment.key}",
                    f"[{segment.key}]",
                    f"['{segment.key}']",
                    f'["{segment.key}"]',
                )
                last = segment.span.end
            assert node.span.end == last + node.formal
    assert position == len(source)


@pytest.mark.parametrize(
    ("source", "message", "span"),
    [
        ("ok ${a.b", "expected '}' to close '${a.b'", Span(8, 9)),
        ("${ a }", "expected a variable name after '${'", Span(0, 2)),
        ("$!{}", "expected a variable name after '$!{'", Span(0, 3)),
        ("${a.1}", "expected '}'", Span(3, 4)),
        ("a #* b", "unterminated comment", Span(2, 4)),
        ("x #[[ y", "unterminated unparsed block", Span(2, 5)),
        ("$a[1234567890]", "list index 1234567890 is too large", Span(2, 14)),
    ],
)
def test_syntax_errors_carry_their_span(source: str, message: str, span: Span) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        parse(source)
    assert message in caught.value.message
    assert caught.value.span == span
