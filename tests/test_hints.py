"""Hints that fit the mistake (issue 10, item 12): a misindented key names its siblings'
indentation, a tab is called a tab, a JSON trailing comma is pointed at, an unclosed quote in a
pdata literal is shown where it opened, and jtel's pdata literal pasted without YAML quotes is
recognised and shown quoted. Each suggested fix is applied in the test and must read as the author
meant.

The golden examples in tests/lint/examples (yaml-*, json-trailing-comma, pdata-*) show the whole
output; these tests hold the mechanism to it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exportdsl import ConnectorError, parse_connector
from exportdsl.errors import Diagnostic, LoadError

ROOT = Path(__file__).parent.parent
HEAD = "connector: {id: 6, name: hints}\nclient: {id: 1}\n"


def load_error(text: str, file: str = "c.yaml") -> LoadError:
    with pytest.raises(LoadError) as caught:
        parse_connector(text, file)
    return caught.value


def config_error(text: str) -> Diagnostic:
    with pytest.raises(ConnectorError) as caught:
        parse_connector(text, "c.yaml")
    (diagnostic,) = caught.value.diagnostics
    return diagnostic


def suggested_line(hint: str, key: str) -> str:
    """The ``key: value`` line a hint suggests (it ends the hint)."""
    return hint[hint.rindex(f"{key}: ") :]


# --- indentation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body_line", "depth", "siblings"),
    [("   body: oops", 3, 2), (" body: oops", 1, 2)],
)
def test_a_misindented_key_names_its_siblings_indentation(
    body_line: str, depth: int, siblings: int
) -> None:
    error = load_error(HEAD + "export:\n  url: https://crm.example/\n" + body_line + "\n")
    spaces = f"{depth} space{'s' if depth != 1 else ''}"
    assert (
        error.hint
        == f"this key is indented {spaces}; its siblings {siblings}: line it up with them"
    )
    assert error.location is not None
    assert (error.location.line, error.location.column) == (5, depth + 1)  # at the key
    assert error.location.end_column == depth + len("body")


def test_the_siblings_are_counted_past_a_block_scalar_text() -> None:
    """Lines inside a `|` block are text, however much they look like keys."""
    text = HEAD + "export:\n  body: |\n        name: x\n  url: https://x.example/\n   method: PUT\n"
    assert load_error(text).hint == (
        "this key is indented 3 spaces; its siblings 2: line it up with them"
    )


def test_a_tab_in_the_indentation_is_named() -> None:
    error = load_error(HEAD + "export:\n  url: https://crm.example/\n\tbody: oops\n")
    assert error.hint == (
        "this line is indented with a tab; YAML indents with spaces (its siblings: 2 spaces)"
    )
    assert error.location is not None and (error.location.line, error.location.column) == (5, 1)


@pytest.mark.parametrize(
    ("lines", "hint"),
    [
        (  # the keys of export are at 6: the one at 2 missed them, not the top level's 0
            "export:\n      url: https://x.example/\n  body: x\n",
            "this key is indented 2 spaces; its siblings 6: line it up with them",
        ),
        (
            "export:\n  headers:\n    A: b\n body: x\n",
            "this key is indented 1 space; its siblings 2: line it up with them",
        ),
        (
            "export:\n  url: https://x.example/\n  body: |\n\t{}\n",
            "this line is indented with a tab; YAML indents with spaces (the text of a | or > block"
            " too)",
        ),
    ],
)
def test_the_siblings_are_the_level_the_key_missed(lines: str, hint: str) -> None:
    assert load_error(HEAD + lines).hint == hint


def test_a_line_inside_brackets_gets_no_indentation_hint() -> None:
    """Inside a flow collection indentation means nothing to YAML."""
    error = load_error(HEAD + "pdata: {a: 1,\n  b: [1, 2}\n")
    assert error.hint is not None and "indented" not in error.hint


def test_a_nested_key_is_not_taken_for_a_misindented_one() -> None:
    """A key deeper than its parent opens a mapping; its error is the value's (': ' unquoted)."""
    error = load_error(HEAD + "export:\n    url: https://x.example/: y\n")
    assert error.hint is not None and "indented" not in error.hint
    assert "needs quotes" in error.hint


# --- JSON ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column", "what"),
    [
        ('{"connector": {"id": 1, "name": "x",},\n "client": {"id": 1}}', 1, 36, "an object"),
        (
            '{"connector": {"id": 1, "name": "x"},\n "client": {"id": 1},\n'
            ' "pdata": {"a": [1,\n ]}}',
            3,
            19,
            "a list",
        ),
    ],
)
def test_a_json_trailing_comma_is_pointed_at(text: str, line: int, column: int, what: str) -> None:
    error = load_error(text, "c.json")
    assert error.message == f"JSON syntax error: a comma after the last item of {what}"
    assert error.location is not None
    assert (error.location.line, error.location.column) == (line, column)
    assert text.splitlines()[line - 1][column - 1] == ","
    assert error.hint == "JSON allows no comma before '}' or ']': remove it"


# --- jtel's pdata literal -----------------------------------------------------------------------

JTEL = "{name:'John Doe', email:'john.doe@example.com'}"  # as jtel's documentation writes it
MEANT = {"name": "John Doe", "email": "john.doe@example.com"}


def test_jtels_literal_pasted_without_quotes_is_recognised_and_shown_quoted() -> None:
    diagnostic = config_error(HEAD + f"pdata: {JTEL}\n")
    assert diagnostic.code == "XD002"
    assert "YAML read jtel's literal as keys without values" in diagnostic.message
    assert diagnostic.location is not None and diagnostic.location.column == len("pdata: ") + 1
    assert diagnostic.hint is not None
    fixed = HEAD + suggested_line(diagnostic.hint, "pdata") + "\n"
    assert parse_connector(fixed, "c.yaml").pdata == MEANT


def test_a_glued_mapping_that_is_no_jtel_literal_is_shown_as_yaml() -> None:
    """`{tenant:acme}` is no valid literal either (its value has no quotes): the YAML mapping it
    was meant to be is suggested instead."""
    diagnostic = config_error(HEAD + "pdata: {tenant:acme, id:5}\n")
    assert diagnostic.hint is not None
    fixed = HEAD + suggested_line(diagnostic.hint, "pdata") + "\n"
    assert parse_connector(fixed, "c.yaml").pdata == {"tenant": "acme", "id": 5}


def test_jtels_literal_in_single_quotes_is_shown_in_double_quotes() -> None:
    error = load_error(HEAD + f"pdata: '{JTEL}'\n")
    assert error.hint is not None and error.hint.startswith("jtel's pdata literal is text to YAML")
    fixed = HEAD + suggested_line(error.hint, "pdata") + "\n"
    assert parse_connector(fixed, "c.yaml").pdata == MEANT


def test_a_literal_with_a_colon_and_space_inside_is_shown_quoted() -> None:
    literal = "{note:'call me: later', tags:['a','b']}"
    error = load_error(HEAD + f"pdata: {literal}\n")
    assert error.hint is not None
    fixed = HEAD + suggested_line(error.hint, "pdata") + "\n"
    assert parse_connector(fixed, "c.yaml").pdata == {"note": "call me: later", "tags": ["a", "b"]}


def test_a_proper_yaml_mapping_is_still_a_mapping() -> None:
    text = HEAD + 'pdata: {name: \'John Doe\', "id":"5"}\n'
    assert parse_connector(text, "c.yaml").pdata == {"name": "John Doe", "id": "5"}


@pytest.mark.parametrize(
    ("literal", "message", "hint"),
    [
        (
            "{name:'John Doe, email:'john@example.com'}",
            "the ' opened here closes only after ', email:'",
            "a ' is missing before the ',': 'John Doe'",
        ),
        ("{name:'John Doe}", "the ' opened here is never closed", "close the string with a '"),
        ('{id:5, name:"John}', 'the " opened here is never closed', 'close the string with a "'),
    ],
)
def test_an_unclosed_quote_in_a_pdata_literal_is_shown_where_it_opened(
    literal: str, message: str, hint: str
) -> None:
    written = f"pdata: {literal!r}\n".replace("\\'", "''") if '"' in literal else None
    line = written or f'pdata: "{literal}"\n'
    diagnostic = config_error(HEAD + line)
    assert diagnostic.message == f"pdata literal: {message}"
    assert diagnostic.hint == hint
    assert diagnostic.location is not None
    opened = re.search(r"""name:(['"])""", line)
    assert opened is not None
    assert diagnostic.location.column == opened.start(1) + 1


def test_a_json_body_yaml_took_for_a_mapping_is_shown_quoted() -> None:
    body = '{"name":"$chat.visitor.name","id":"5"}'
    diagnostic = config_error(HEAD + f"export:\n  url: https://x.example/\n  body: {body}\n")
    assert diagnostic.hint is not None and "quote it whole" in diagnostic.hint
    fixed = (
        HEAD + "export:\n  url: https://x.example/\n  " + suggested_line(diagnostic.hint, "body")
    )
    export = parse_connector(fixed + "\n", "c.yaml").export
    assert export is not None and export.body is not None and export.body.source == body


def test_no_hint_suggests_a_quiet_env_reference() -> None:
    """A quiet `$!{env.X}` would send an empty credential without a word: no hint of the golden
    outputs suggests it."""
    quiet_env = re.compile(r"\$!\{?env\.")
    hints = [
        line
        for path in (ROOT / "tests" / "lint" / "examples").glob("*.out")
        for line in path.read_text().splitlines()
        if line.startswith("  hint: ")
    ]
    assert hints and not [hint for hint in hints if quiet_env.search(hint)]
