"""The placement stage on its own.

Parsed nodes and a field kind -> the escaping context of each hole, and the problems of a body
that can never be well formed (with their spans)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exportdsl.compiler.placement import (
    BodyShape,
    Placement,
    body_shape,
    kind_for_content_type,
    place,
    shape_of,
)
from exportdsl.language.nodes import Reference
from exportdsl.language.parser import parse
from exportdsl.source import Span
from exportdsl.vocabulary import FieldKind


def contexts(source: str, kind: str) -> list[str]:
    placement = place(parse(source), kind)
    assert placement.problems == (), placement.problems
    return [str(context) for context in placement.contexts]


def problems(source: str, kind: str) -> list[tuple[str, str, Span]]:
    return [
        (problem.code, problem.message, problem.span)
        for problem in place(parse(source), kind).problems
    ]


# -- URL: before the path as is, in the path, query or fragment percent-encoded ----------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("$u", ["url"]),
        ("$u/items/$id", ["url", "url-component"]),
        ("https://$host/a/$v?q=$w#$f", ["url", "url-component", "url-component", "url-component"]),
        ("https://$host:$port/", ["url", "url"]),
        ("https://${user}@$host/$p", ["url", "url", "url-component"]),
        ("$origin/$p", ["url", "url-component"]),
        ("https://h?$q", ["url-component"]),
        ("https://h#$f", ["url-component"]),
        ("https://h/$a$b", ["url-component", "url-component"]),
        ("$a$b?x=$c", ["url", "url", "url-component"]),
        ("https://h## comment /\n$x", ["url"]),  # a comment's '/' is not in the URL
        ("https://h#[[/]]#$x", ["url-component"]),  # an unparsed block's '/' is
        ("https://h\\$x/$y", ["url-component"]),  # an escaped '$' is text
        ("https://EXAMPLE.COM:$port/", ["url"]),
        # only the first '://' ends the scheme: a second one is in the path
        ("https://h://$v", ["url-component"]),
        ("https://$u://x$v", ["url", "url-component"]),
    ],
)
def test_url(source: str, expected: list[str]) -> None:
    assert contexts(source, "url") == expected


def test_url_holes_are_placed_even_when_the_url_is_refused() -> None:
    placement = place(parse("http:/$x"), FieldKind.URL)  # no '://': the first '/' starts the path
    assert [str(context) for context in placement.contexts] == ["url-component"]
    assert [problem.code for problem in placement.problems] == ["XD213"]


# -- what no request can carry: compile errors with a position (XD212, XD213, XD214) ----------


@pytest.mark.parametrize(
    ("source", "message", "span", "hint"),
    [
        ("https://h/a\n", "holds a line break", Span(11, 12), "write `|-` or `>-`"),
        ("https://h/a\nb", "holds a line break", Span(11, 12), "percent-encode it"),
        ("https://h/a b/$v", "holds a space", Span(11, 12), "a space is %20"),
        ("https://h/\t$v", "the control character U+0009", Span(10, 11), "remove it"),
        ("https://h/$v\x7f", "the control character U+007F", Span(12, 13), "remove it"),
        ("https://h/$v ", "holds a space", Span(12, 13), "or remove it"),
        ("https://h/$v\n", "holds a line break", Span(12, 13), "write `|-`"),
        ("https://h/$v\u2028", "holds a line break", Span(12, 13), "percent-encode it"),
        ("https://h/\u00a0$v", "white space (U+00A0 NO-BREAK SPACE)", Span(10, 11), "remove it"),
        (
            "https://h/\u200b$v",
            "an invisible character (U+200B ZERO WIDTH SPACE)",
            Span(10, 11),
            "remove it",
        ),
        (
            "http://127.0.0.1:99999/x",
            "port must be a number from 1 to 65535",
            Span(17, 22),
            "65536",
        ),
        ("http://h:0", "port must be a number from 1 to 65535", Span(9, 10), "or to none"),
        (
            "https://u:p@[::1]:65536/",
            "port must be a number from 1 to 65535",
            Span(18, 23),
            "65536",
        ),
        ("https://h:8o8o/x", "port must be a number from 1 to 65535", Span(10, 14), "in digits"),
        ("http://$h:70000/x", "port must be a number from 1 to 65535", Span(10, 15), "65536"),
        ("ftp://files.example/x", "must start with http:// or https://", Span(0, 1), "only http"),
        ("localhost:8080/x", "must start with http://", Span(0, 1), "https://localhost:8080/x"),
        ("//crm.example/x", "must start with http://", Span(0, 1), "https://crm.example/x"),
        ("http:/crm.example/x", "must start with http://", Span(0, 1), "two slashes"),
        ("https:///x", "must start with http://", Span(0, 1), "the host is missing"),
        ("https://", "must start with http://", Span(0, 1), "the host is missing"),
        ("crm.example/$v", "must start with http://", Span(0, 1), "https://crm.example/"),
        ("", "the URL is empty", Span(0, 1), None),
        ("## only a comment\n", "the URL is empty", Span(0, 1), None),
        ("$scheme://$host/x", "starts with $scheme, followed by ':'", Span(0, 7), "literally"),
        ("${base}.example/x", "starts with ${base}, followed by '.'", Span(0, 7), "whole origin"),
    ],
)
def test_url_no_request_can_carry(source: str, message: str, span: Span, hint: str | None) -> None:
    (problem,) = place(parse(source), FieldKind.URL).problems
    assert problem.code == "XD213" and message in problem.message and problem.span == span
    assert problem.hint == hint if hint is None else hint in (problem.hint or "")


@pytest.mark.parametrize(
    "source",
    [
        "https://crm.example/x",
        "HTTP://crm.example",
        "https://$host/x",
        "https://h:$port/x",
        "http://127.0.0.1:8080/x?q=$v#$f",
        "$origin",
        "$origin/x",
        "$a$b?x=$c",
        "${origin}#top",
        "https://h/a%20b",
        "https://h/## a comment ends the line\n",  # the comment takes the line break with it
        "http://h:65535/x",
        "http://h:1",
        "http://h:/x",  # an empty port is the scheme's
        "https://[::1]:8443?q=1:99999",
        "http://h:$port/x",  # checked at every render
    ],
)
def test_url_that_can_be_sent(source: str) -> None:
    assert place(parse(source), FieldKind.URL).problems == ()


@pytest.mark.parametrize(
    ("source", "message", "span", "hint"),
    [
        ("Bearer $t\n", "holds a line break", Span(9, 10), "write `|-` or `>-`"),
        ("Bearer $t\n  \n", "holds a line break", Span(9, 10), "write `|-`"),
        ("a\nb $t", "holds a line break", Span(1, 2), "a header value is one line"),
        ("a\rb", "holds a line break", Span(1, 2), "one line"),
        ("x\x00", "the control character U+0000", Span(1, 2), "remove it"),
        ("x\x1b[31m", "the control character U+001B", Span(1, 2), "remove it"),
        ("x\u2028y", "holds a line break", Span(1, 2), "one line"),
        # written in quotes: no `|` block ends with U+2028, U+2029, NEL or CR
        ("Bearer $t\u2028", "holds a line break", Span(9, 10), "a header value is one line"),
        ("Bearer $t\r", "holds a line break", Span(9, 10), "a header value is one line"),
        ("x\x85", "holds a line break", Span(1, 2), "a header value is one line"),
        ("x\x9b", "the control character U+009B", Span(1, 2), "remove it"),
    ],
)
def test_header_no_request_can_carry(source: str, message: str, span: Span, hint: str) -> None:
    (problem,) = place(parse(source), FieldKind.HEADER).problems
    assert problem.code == "XD212" and message in problem.message and problem.span == span
    assert hint in (problem.hint or "")


def test_header_tabs_and_spaces_can_be_sent() -> None:
    assert place(parse(" Bearer\t$t  "), FieldKind.HEADER).problems == ()


@pytest.mark.parametrize(
    ("source", "span"),
    [
        ("grant_type=client_credentials\n", Span(29, 30)),
        ("a=$v\n", Span(4, 5)),
        ("a=$v  \r\n", Span(4, 8)),
        ("a=1\n\n", Span(3, 5)),
        ("a=1\n## the end\n", Span(3, 4)),
    ],
)
def test_form_whose_block_adds_a_line_break(source: str, span: Span) -> None:
    (problem,) = place(parse(source), FieldKind.FORM).problems
    assert problem.code == "XD214" and problem.span == span
    assert "last value" in problem.message and "`|-`" in (problem.hint or "")


@pytest.mark.parametrize("source", ["a=$v", "a=1&b=2", "a=$v  ", "a=1\n&b=$v", "a=1## c\n"])
def test_form_without_a_trailing_line_break(source: str) -> None:
    assert place(parse(source), FieldKind.FORM).problems == ()


# -- JSON --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("$v", ["json-value"]),
        ('"$v"', ["json-string"]),
        ('{"a": "$v"}', ["json-string"]),
        ('{"a": "x${v}y$w"}', ["json-string", "json-string"]),
        ('{"a": $v}', ["json-value"]),
        ("{$k: 1}", ["json-key"]),
        ('{"a": 1, $k: 2}', ["json-key"]),
        ("{$k: $v}", ["json-key", "json-value"]),
        ('{$k: "$v"}', ["json-key", "json-string"]),
        ('{"$k": 1}', ["json-string"]),  # inside the quotes: string content
        # after a comma in an array: a value, not a key
        ("[$a, $b]", ["json-value", "json-value"]),
        ("[1,$b]", ["json-value"]),
        ('{"a": [1, $b], "c": 2}', ["json-value"]),
        ('{"a": [1, $b], $c: 2}', ["json-value", "json-key"]),
        ('[{"a": 1}, $b]', ["json-value"]),
        ('[{"a": 1}, {$k: 1}, [$v]]', ["json-key", "json-value"]),
        # nested objects: each '{' and each object ',' expects a key
        (
            '{"a": {$k: {"b": $v}}, $l: [$w, {$m: "$s"}]}',
            ["json-key", "json-value", "json-key", "json-value", "json-key", "json-string"],
        ),
        ('{"a": {"b": 1}, $k: 2}', ["json-key"]),
        # quotes and backslashes inside strings do not change the structure
        ('{"a\\"": $v}', ["json-value"]),
        ('{"\\"": $v}', ["json-value"]),
        ('{"a\\\\": $v}', ["json-value"]),
        ('{"{": $v, "[": "$w", ",": $x}', ["json-value", "json-string", "json-value"]),
        # an escaped backslash before a hole (the comment keeps '\\$' from being an escape)
        ('{"a": "\\\\#**#$v", "b": $w}', ["json-string", "json-value"]),
        # split by comments and escapes: still one stretch of text
        ('{"a": 1,## c\n $k: 2}', ["json-key"]),
        ('{"a": "#*x*#$v"}', ["json-string"]),
    ],
)
def test_json(source: str, expected: list[str]) -> None:
    assert contexts(source, "json") == expected


@pytest.mark.parametrize(
    ("source", "message", "span"),
    [
        ('{"a": 1 $b}', "the body can never be valid JSON: expecting ',' delimiter", Span(8, 9)),
        ('{"a": $b $c}', "the body can never be valid JSON: expecting ',' delimiter", Span(9, 10)),
        ('{"a": $b', "the body can never be valid JSON: expecting ',' delimiter", Span(8, 9)),
        # offsets in the source, not in the placeholder document ('""' for each hole)
        ('{"a": ${b}', "the body can never be valid JSON: expecting ',' delimiter", Span(10, 11)),
        (
            '{"a": ${x.y.z} $c}',
            "the body can never be valid JSON: expecting ',' delimiter",
            Span(15, 16),
        ),
        (
            '{"a": ${x.y.z}1}',
            "the body can never be valid JSON: expecting ',' delimiter",
            Span(14, 15),
        ),
        ("{$k}", "the body can never be valid JSON: expecting ':' delimiter", Span(3, 4)),
        ("", "the body can never be valid JSON: expecting value", Span(0, 1)),
        ("[1]\n[$v]", "the body can never be valid JSON: extra data", Span(4, 5)),
        ('{"a": "\\#**#$v"}', "the body can never be valid JSON: invalid \\escape", Span(7, 8)),
        # a string after the top-level value is refused, never read as a key of no object
        ('$v "a"', "the body can never be valid JSON: extra data", Span(3, 4)),
        ('{} "a"', "the body can never be valid JSON: extra data", Span(3, 4)),
        # a literal key that cannot be read is refused as such, next to a key made by a hole
        ('{"\\q": 1, $k: 2}', "the body can never be valid JSON: invalid \\escape", Span(2, 3)),
        (
            '{"a\tb": 1, $k: 2}',
            "the body can never be valid JSON: invalid control character at",
            Span(3, 4),
        ),
    ],
)
def test_json_that_can_never_be_valid(source: str, message: str, span: Span) -> None:
    ((code, found, at),) = problems(source, "json")
    assert (code, found, at) == ("XD210", message, span)


def test_json_problem_hint() -> None:
    (problem,) = place(parse('{"a": 1 $b}'), "json").problems
    assert problem.hint == (
        "a reference outside quotes is inserted as a JSON value; inside quotes as string text"
    )


def test_json_nested_too_deeply() -> None:
    placement = place(parse("[" * 100_000), "json")
    assert [(p.code, p.message, p.span) for p in placement.problems] == [
        ("XD210", "the JSON body is nested too deeply", Span(0, 1))
    ]


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("9" * 5000, "a number of 5000 digits is too long (at most 300)"),  # never converted
        ("-1e999", "-1e999 is out of range for a number"),
        ("Infinity", "Infinity is not a JSON number"),
    ],
)
def test_json_numbers_no_receiver_can_read_are_refused(number: str, message: str) -> None:
    (problem,) = place(parse('{"v": $v, "n": ' + number + "}"), "json").problems
    assert (problem.code, problem.message) == (
        "XD210",
        f"the body's JSON has a number no receiver can read: {message}",
    )
    assert problem.hint == "write the number as text in quotes, or leave it out"
    assert (problem.span.start, problem.span.end) == (15, 15 + len(number))


@pytest.mark.parametrize(
    ("body", "start"),
    [("1e999", 0), ('{"a": 1e999, "b": [1e999]}', 6)],  # the number alone; the first of two
)
def test_the_number_no_receiver_can_read_is_pointed_at(body: str, start: int) -> None:
    (problem,) = place(parse(body), "json").problems
    assert (problem.span.start, problem.span.end) == (start, start + 5)


def test_the_longest_json_integer_a_receiver_can_read_is_taken() -> None:
    assert place(parse('{"n": ' + "9" * 300 + ', "v": $v}'), "json").problems == ()


# -- JSON keys made by holes: each object's keys, for the render-time check ------------------


@pytest.mark.parametrize(
    ("source", "objects"),
    [
        ('{"a": $v}', []),  # no key with a hole: nothing to check
        ('{"$k": 1, "admin": false}', [(("admin",), [((0,), False)])]),
        ('{$k: 1, "admin": 2}', [(("admin",), [((0,), True)])]),
        ('{"x_$k": 1, "a\\u0064min": 2}', [(("admin",), [(("x_", 0), False)])]),
        ('{"a\\"$k\\\\": 1}', [((), [(('a\\"', 0, "\\\\"), False)])]),
        ('{$k: "$v", "b": {"c": 1}, ${j}: 2}', [(("b",), [((0,), True), ((2,), True)])]),
        # each object by itself: the inner one closes first
        ('{"a": {$k: 1, "x": 2}, "b": 1}', [(("x",), [((0,), True)])]),
        ('[{"$k": 1}, {"$j": 2, "k": 3}]', [((), [((0,), False)]), (("k",), [((1,), False)])]),
        ('{"a": "$v", "b": [$w, "$x"]}', []),  # values, not keys
    ],
)
def test_json_keys_made_by_holes(
    source: str, objects: list[tuple[tuple[str, ...], list[tuple[tuple[str | int, ...], bool]]]]
) -> None:
    found = place(parse(source), "json").objects
    assert [
        (item.literal, [(key.parts, key.bare) for key in item.keys]) for item in found
    ] == objects


@pytest.mark.parametrize(
    ("source", "values", "repeated"),
    [
        ('{"$k": 1, "admin": 2}', ["admin"], "admin"),
        ('{"$k": 1, "admin": 2}', ["ADMIN"], "admin"),  # some parsers ignore case
        ('{"$k": 1, "admin": 2}', ["user"], None),
        ('{$k: 1, "admin": 2}', ['"admin"'], "admin"),  # a bare key's value comes quoted
        ('{$k: 1, "admin": 2}', ['"\\u0061dmin"'], "admin"),  # as the parser reads it
        ('{"x_$k": 1, "x_admin": 2}', ["admin"], "x_admin"),
        ("{$k: 1, $j: 2}", ['"a"', '"A"'], 0),  # two keys with holes: the first one
        ("{$k: 1, $j: 2}", ['"a"', '"b"'], None),
        # keys Java's equalsIgnoreCase calls equal: the Turkish I's (casefold() alone misses them)
        ('{"$k": 1, "admin": 2}', ["ADM\u0130N"], "admin"),  # dotted capital I
        ('{"$k": 1, "admin": 2}', ["adm\u0131n"], "admin"),  # dotless small i
        ('{"$k": 1, "is": 2}', ["\u0130\u017f"], "is"),  # and the long s
        ('{"$k": 1, "kind": 2}', ["\u212aind"], "kind"),  # the Kelvin sign
        ('{"$k": 1, "\u03c3": 2}', ["\u03c2"], "\u03c3"),  # final sigma
        ('{"$k": 1, "stra\u00dfe": 2}', ["STRA\u1e9eE"], "stra\u00dfe"),  # capital sharp s
        ('{"$k": 1, "admin": 2}', ["adm\u00ecn"], None),  # i with grave: another letter
    ],
)
def test_a_key_made_by_a_hole_may_not_repeat_a_key_of_its_object(
    source: str, values: list[str], repeated: str | int | None
) -> None:
    (json_object,) = place(parse(source), "json").objects
    found = json_object.repeated(values)
    if repeated is None:
        assert found is None
    else:
        assert found is not None
        key, other = found
        if isinstance(repeated, int):  # the later key repeats the earlier one
            assert key is json_object.keys[-1] and other is json_object.keys[repeated]
        else:
            assert key is json_object.keys[0] and other == repeated


def test_a_key_that_cannot_be_read_does_not_hide_a_later_repeat() -> None:
    """`repeated` is the last guard before a body is sent: a value no parser reads as a key (no
    escaper makes one) is skipped, and the keys after it are still checked."""
    (json_object,) = place(parse('{$j: 1, $k: 2, "admin": 3}'), "json").objects
    found = json_object.repeated(['"\\q"', '"admin"'])
    assert found is not None
    key, other = found
    assert key is json_object.keys[1] and other == "admin"


# -- XML ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("<r>$v</r>", ["xml"]),
        ("<r>a $v b $w</r>", ["xml", "xml"]),
        ('<r a="$v"/>', ["xml-attribute"]),
        ("<r a='$v'/>", ["xml-attribute"]),
        ("<r a='it\"s $v' b=\"it's $w\">$x</r>", ["xml-attribute", "xml-attribute", "xml"]),
        ('<r a=">" b="$v">$w</r>', ["xml-attribute", "xml"]),
        ("<r><![CDATA[$v]]></r>", ["xml-cdata"]),
        ("<r><![CDATA[ < > ' \" $v ]] $w]]>$x</r>", ["xml-cdata", "xml-cdata", "xml"]),
        ('<?xml version="1.0"?><r>$v</r>', ["xml"]),
        ("<!DOCTYPE r><r>$v</r>", ["xml"]),
        ("<!-- <r a=' --><r>$v</r>", ["xml"]),
        ('<?pi a="?><r>$v</r>', ["xml"]),
        ('<r\n  a="$v"\n/>', ["xml-attribute"]),
        ("<r>a<b c='$v'/></r>", ["xml-attribute"]),
        ("<X>$v</X>", ["xml"]),
        # quotes and '<' in a comment or CDATA open nothing
        ("<!--<'--><r>$v</r>", ["xml"]),
        ("<r><![CDATA[<']]>$v</r>", ["xml"]),
    ],
)
def test_xml(source: str, expected: list[str]) -> None:
    assert contexts(source, "xml") == expected


@pytest.mark.parametrize(
    ("source", "where", "span"),
    [
        ('<r $v="1"/>', "an element's markup", Span(3, 5)),
        ("<r a=$v/>", "an element's markup", Span(5, 7)),
        ("<$v/>", "an element's markup", Span(1, 3)),
        ("<r></r $v>", "an element's markup", Span(7, 9)),
        ("<r><!-- $v --></r>", "an XML comment", Span(8, 10)),
        ("<?pi $v?><r/>", "a processing instruction", Span(5, 7)),
        ("<!DOCTYPE $v><r/>", "a declaration", Span(10, 12)),
    ],
)
def test_a_hole_in_markup_is_refused(source: str, where: str, span: Span) -> None:
    placement = place(parse(source), "xml")
    refused = [p for p in placement.problems if p.code == "XD206"]
    assert [(p.message, p.span) for p in refused] == [
        (f"$v stands inside {where}, where no escaping can keep the XML well formed", span)
    ]
    assert refused[0].hint == "put references in element text or in a quoted attribute value"
    assert placement.contexts == ("xml",)


@pytest.mark.parametrize(
    ("source", "message", "span", "hint"),
    [
        (
            "<a>\n  <b>$x</a>",
            "the XML is not well formed: mismatched tag",
            Span(13, 14),  # expat points at the end tag's name
            "check that every element is closed and every '&' is written as &amp;",
        ),
        (
            "<a>$x</a>$y",
            "the XML is not well formed: junk after document element",
            Span(9, 10),
            "an XML document has exactly one root element",
        ),
        (
            "<a>&nbsp;$x</a>",
            "the XML is not well formed: undefined entity",
            Span(3, 4),
            "XML knows only &amp; &lt; &gt; &quot; &apos; and numeric character references",
        ),
        (
            "<a>$x",
            "the XML is not well formed: no element found",
            Span(5, 6),
            "check that every element is closed and every '&' is written as &amp;",
        ),
    ],
)
def test_xml_that_can_never_be_well_formed(
    source: str, message: str, span: Span, hint: str
) -> None:
    ((problem),) = place(parse(source), "xml").problems
    assert (problem.code, problem.message, problem.span, problem.hint) == (
        "XD210",
        message,
        span,
        hint,
    )


# -- form, header, text: every hole the same ---------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "context"), [("form", "form"), ("header", "header"), ("text", "text")]
)
def test_flat_kinds(kind: str, context: str) -> None:
    source = 'a=$v&b={"x": "$w"}<r a="$x"/>https://$y/$z'
    assert contexts(source, kind) == [context] * 5


@pytest.mark.parametrize("kind", [kind for kind in FieldKind if kind != FieldKind.JSON])
def test_only_json_has_objects_whose_keys_are_checked(kind: FieldKind) -> None:
    assert place(parse('{$k: "$v"}'), kind).objects == ()


def test_no_holes_no_contexts() -> None:
    for kind in FieldKind:
        assert place(parse("## nothing\n"), kind).contexts == ()


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("application/json", "json"),
        ("Application/JSON; charset=utf-8", "json"),
        ("application/vnd.api+json", "json"),
        ("application/xml", "xml"),
        ("text/xml;charset=UTF-8", "xml"),
        ("application/atom+xml", "xml"),
        ("application/x-www-form-urlencoded", "form"),
        (" application/x-www-form-urlencoded ; charset=utf-8", "form"),
        ("text/plain", "text"),
        ("application/jsonx", "text"),
        ("multipart/form-data", "text"),
        ("", "text"),
        (None, "text"),
    ],
)
def test_kind_for_content_type(content_type: str | None, kind: str) -> None:
    assert kind_for_content_type(content_type) == kind


@given(st.lists(st.sampled_from(["$v", '"', "{", "}", "[", "]", ",", ":", "\\", "#**#", "<", ">"])))
def test_every_hole_gets_one_context(pieces: list[str]) -> None:
    nodes = parse("".join(pieces))
    holes = sum(isinstance(node, Reference) for node in nodes)
    for kind in FieldKind:
        placement = place(nodes, kind)
        assert isinstance(placement, Placement)
        assert len(placement.contexts) == holes


@pytest.mark.parametrize(
    ("media", "kind"),
    [
        ("text/json", FieldKind.JSON),
        ("application/x-json", FieldKind.JSON),
        ("application/ld+json; charset=utf-8", FieldKind.JSON),
        ("text/x-xml", FieldKind.XML),
        ("application/atom+xml", FieldKind.XML),
        ("application/vnd/json", FieldKind.TEXT),  # not a subtype "json": a path-like oddity
        ("application/x-jsonish", FieldKind.TEXT),
        ("text/plain", FieldKind.TEXT),
    ],
)
def test_media_types_that_name_a_format(media: str, kind: FieldKind) -> None:
    assert kind_for_content_type(media) == kind


@pytest.mark.parametrize(
    ("body", "shape"),
    [
        ('{"a": $v}', FieldKind.JSON),
        ("  [$v, 1]", FieldKind.JSON),
        ("<a>$v</a>", FieldKind.XML),
        ("a=$v&b=1", FieldKind.FORM),
        ("$v=1", FieldKind.FORM),
        ('##comment\n{"a": $v}', FieldKind.JSON),  # comments are not part of the body
        ("#*{*# hello $v", None),
        ("Hello $v", None),
        ("a = $v", None),
        ("$v", None),
        ("", None),
        ("x{$v}", None),
        ("x<$v>", None),
        # the shape is the literal text's: leading holes, white space, BOM, format characters
        # hide nothing (a hole there may render empty)
        ('$p{"v": "$v"}', FieldKind.JSON),
        ('$!{p}[{"v": "$v"}]', FieldKind.JSON),
        ('\ufeff{"v": "$v"}', FieldKind.JSON),
        ('\u00a0\u200b\u2060\n {"v": "$v"}', FieldKind.JSON),
        ("$n<a>$v</a>", FieldKind.XML),
        ("v=$v;r=$r", FieldKind.FORM),
        ("${p}v=$v;r=1", FieldKind.FORM),
        # JSON or XML text before a hole shapes the body wherever it starts
        ('Report:\n{"v": "$v"}', FieldKind.JSON),
        ('Report: "name": $v', FieldKind.JSON),
        ("Dear <b>$v</b>", FieldKind.XML),
        ("Dear $v,\nsee </p>", None),  # no hole after the mark
        ("Hello $v, your chat (a=b; c) is {ready} at <$u>", None),
    ],
)
def test_body_shape(body: str, shape: FieldKind | None) -> None:
    assert body_shape(parse(body)) == shape


@pytest.mark.parametrize(
    ("body", "shape", "at", "leading"),
    [
        # from the body's start: the offset of its first visible literal character, which a
        # contradicting Content-Type is reported at (XD211)
        ('{"a": $v}', FieldKind.JSON, 0, True),
        ('$p{"v": "$v"}', FieldKind.JSON, 2, True),
        ("## c\n[$v]", FieldKind.JSON, 5, True),  # offsets count the comment's text
        ("<a>$v</a>", FieldKind.XML, 0, True),
        ("\n<a>$v</a>", FieldKind.XML, 1, True),
        ("$v=1", FieldKind.FORM, 0, True),  # a form starting with a hole: the hole's offset
        ("## c\n$v=1", FieldKind.FORM, 5, True),
        ("a=$v&b=1\n", FieldKind.FORM, 0, True),  # a trailing line break is no part of a pair
        # a control character is invisible too: what follows it starts the body
        ('\x01{"v": "$v"}', FieldKind.JSON, 1, True),
        ("\x7f<a>$v</a>", FieldKind.XML, 1, True),
        # from marks inside the body: not leading, at the first mark before the last hole
        ('Report: {"v": "$v"}', FieldKind.JSON, 8, False),
        ("Dear $n, <b>$v</b>", FieldKind.XML, 9, False),  # a mark between two holes counts
        ('": $v', FieldKind.JSON, 0, False),  # a key's end at the very start
        ('Hi $n: "a": 1, <b>$v</b>', FieldKind.JSON, 9, False),  # the first of two marks
    ],
)
def test_shape_of_says_where_the_shape_shows(
    body: str, shape: FieldKind, at: int, leading: bool
) -> None:
    assert shape_of(parse(body)) == BodyShape(shape, at, leading)
