"""How values are looked up and become text (exportdsl.compiler.values), unit by unit."""

from __future__ import annotations

from collections import OrderedDict
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exportdsl import RenderError, Template
from exportdsl.compiler.values import (
    MISSING,
    SafeText,
    TextValue,
    describe_missing,
    hole_function,
    list_names,
    looks_like_a_name,
    step,
    to_json,
    to_text,
)
from exportdsl.errors import MissingValue

# -- TextValue and SafeText --------------------------------------------------------------------


def test_text_value_is_its_text_with_fields() -> None:
    value = TextValue('{"a": 1}', {"JSON": {"a": 1}})
    assert value == '{"a": 1}'
    assert isinstance(value, str)
    assert value.fields == {"JSON": {"a": 1}}
    assert to_text(value) == '{"a": 1}'


def test_safe_text_behaves_like_its_text() -> None:
    safe = SafeText("QUJD")
    assert str(safe) == "QUJD"
    assert f"[{safe}]" == "[QUJD]"
    assert f"{safe:>6}" == "  QUJD"
    assert safe == "QUJD"
    assert safe == SafeText("QUJD")
    assert safe != SafeText("QUJE")
    assert safe != "QUJE"
    assert hash(safe) == hash("QUJD")
    assert len({safe, SafeText("QUJD")}) == 1


def test_safe_text_repr_is_short() -> None:
    assert repr(SafeText("abc")) == "SafeText('abc')"
    assert repr(SafeText("x" * 40)) == f"SafeText({'x' * 40!r})"
    assert repr(SafeText("x" * 41)) == f"SafeText({'x' * 40!r}…)"


def test_missing_has_a_readable_repr() -> None:
    assert repr(MISSING) == "<missing>"


# -- step --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "key", "found"),
    [
        ({"a": 1}, "a", 1),
        ({"a": 1}, "b", MISSING),
        ({0: "zero"}, 0, "zero"),
        (MappingProxyType({"a": 2}), "a", 2),
        (OrderedDict(a=3), "a", 3),
        ([10, 20, 30], 0, 10),
        ([10, 20, 30], 2, 30),
        ([10, 20, 30], 3, MISSING),
        ([10, 20, 30], -1, 30),
        ([10, 20, 30], -3, 10),
        ([10, 20, 30], -4, MISSING),
        ((10, 20), 1, 20),
        ([], 0, MISSING),
        ([10], "a", MISSING),
        ("abc", 0, MISSING),  # a string is not a list of its characters
        (5, "a", MISSING),
        (None, "a", MISSING),
        (TextValue("raw", {"JSON": {"a": 1}}), "JSON", {"a": 1}),
        (TextValue("raw", {"JSON": {"a": 1}}), "nope", MISSING),
        (TextValue("raw", {0: "x"}), 0, MISSING),  # a TextValue's fields are named
    ],
)
def test_step(value: Any, key: str | int, found: Any) -> None:
    assert step(value, key) is found or step(value, key) == found


def test_step_never_reads_python_attributes() -> None:
    assert step("text", "upper") is MISSING
    assert step({"a": 1}, "keys") is MISSING
    assert step(SafeText("x"), "text") is MISSING


# -- hole_function: lookup fused with the escaper ----------------------------------------------


def shout(value: Any) -> str:
    return f"<{value}>"


def hole(head: Any, rest: tuple[str | int, ...], quiet: bool, number: int) -> Any:
    """A hole made per call: one made at import time would escape a mutation run's mutants."""
    return hole_function(shout)(head, rest, quiet, number)


@pytest.mark.parametrize(
    ("head", "rest", "found"),
    [
        ({"a": {"b": "x"}}, ("a", "b"), "x"),
        ({"a": [1, {"b": "y"}]}, ("a", 1, "b"), "y"),
        (TextValue("raw", {"JSON": {"t": "z"}}), ("JSON", "t"), "z"),
        ({"r": TextValue("raw", {"JSON": {"t": "w"}})}, ("r", "JSON", "t"), "w"),
        (MappingProxyType({"a": "v"}), ("a",), "v"),
        ("plain", (), "plain"),
        (0, (), 0),
        (False, (), False),
        ("", (), ""),
    ],
)
def test_hole_looks_the_value_up_and_finishes_it(
    head: Any, rest: tuple[Any, ...], found: Any
) -> None:
    assert hole(head, rest, False, 0) == f"<{found}>"
    assert hole(head, rest, True, 0) == f"<{found}>"


@pytest.mark.parametrize(
    ("head", "rest"),
    [
        (MISSING, ()),
        (None, ()),
        ({"a": None}, ("a",)),
        ({"a": {}}, ("a", "b")),
        (TextValue("raw", {}), ("JSON",)),
        ([1], (5,)),
    ],
)
def test_a_quiet_miss_hands_none_to_the_escaper(head: Any, rest: tuple[Any, ...]) -> None:
    assert hole(head, rest, True, 0) == "<None>"


@pytest.mark.parametrize(
    ("head", "rest", "depth", "null", "keys"),
    [
        (MISSING, (), 0, False, ()),
        (None, (), 1, True, ()),
        ({"a": 1, "c": 2}, ("b",), 1, False, ("a", "c")),
        ({"a": None}, ("a",), 2, True, ()),
        ({"a": None}, ("a", "b"), 2, True, ()),
        ({"a": {"b": {}}}, ("a", "b", "c"), 3, False, ()),
        ({"a": {"b": {"d": 1}}}, ("a", "b", "c"), 3, False, ("d",)),
        ({"a": [1]}, ("a", 1), 2, False, ()),  # a list has no names to show
        ({"a": "text"}, ("a", "b"), 2, False, ()),
        (TextValue("raw", {"JSON": None}), ("JSON", "x"), 2, True, ()),
        (TextValue("raw", {"JSON": {}}), ("JSONN", "x"), 1, False, ("JSON",)),  # its fields
        ({"a": {1: "x"}}, ("a", "b"), 2, False, ("1",)),
    ],
)
def test_a_loud_miss_says_how_far_the_path_got_and_what_names_were_there(
    head: Any, rest: tuple[Any, ...], depth: int, null: bool, keys: tuple[str, ...]
) -> None:
    with pytest.raises(MissingValue) as caught:
        hole(head, rest, False, 4)
    assert (caught.value.depth, caught.value.null, caught.value.keys) == (depth, null, keys)
    assert caught.value.hole == 4  # type: ignore[attr-defined]


def test_a_loud_miss_keeps_the_first_thousand_names_of_a_huge_value() -> None:
    """A token answer with a million fields costs no more than one with a thousand."""
    answer = {f"k{index}": index for index in range(1500)}
    with pytest.raises(MissingValue) as caught:
        hole(answer, ("token",), False, 0)
    assert caught.value.keys == tuple(f"k{index}" for index in range(1000))


def test_an_escaper_error_leaves_tagged_with_the_hole_number() -> None:
    def refuse(value: Any) -> str:
        raise RenderError(f"no {value}")

    with pytest.raises(RenderError, match="no v") as caught:
        hole_function(refuse)({"a": "v"}, ("a",), False, 7)
    assert caught.value.hole == 7  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("path", "depth", "null", "message"),
    [
        (("nope",), 0, False, "$nope: there is no variable 'nope'"),
        (("x",), 1, True, "$x is null"),
        (("a", "b"), 2, True, "$a.b is null"),
        (("a", "b", "c"), 2, True, "$a.b.c: a.b is null"),
        (("a", "b"), 1, False, "$a.b: a has no 'b'"),
        (("a", 3), 1, False, "$a[3]: a has no '[3]'"),
        (("a", "x-y", "c"), 1, False, "$a['x-y'].c: a has no \"['x-y']\""),
        (("a", "b", "c"), 2, False, "$a.b.c: a.b has no 'c'"),
        (("a", "Xray"), 1, False, "$a.Xray: a has no 'Xray'"),
    ],
)
def test_missing_value_messages(
    path: tuple[str | int, ...], depth: int, null: bool, message: str
) -> None:
    error = describe_missing(MissingValue(depth, null), path)
    assert error.message == message
    assert error.hint == f"write $!{{{path_text(path)}}} if it may be missing"


@pytest.mark.parametrize(
    ("path", "depth", "null", "message"),
    [
        (("env", "CRM"), 1, False, "$env.CRM: the environment variable CRM is not set"),
        (("env", "CRM"), 1, True, "$env.CRM: env is null"),  # not a missing variable
        (("env", "CRM", "x"), 1, False, "$env.CRM.x: env has no 'CRM'"),
        (("envy", "CRM"), 1, False, "$envy.CRM: envy has no 'CRM'"),
        (("x", "env"), 1, False, "$x.env: x has no 'env'"),
    ],
)
def test_an_unset_environment_variable_is_named_as_one(
    path: tuple[str | int, ...], depth: int, null: bool, message: str
) -> None:
    error = describe_missing(MissingValue(depth, null), path)
    assert error.message == message
    if message.endswith("is not set"):
        assert (
            error.hint == "set CRM where the export runs; `exportdsl check --env` finds these first"
        )
    elif path[0] == "env":  # a quiet `$env` value would send an empty credential (review D8)
        assert error.hint is not None and error.hint.startswith("set it where the export runs")
    else:
        assert error.hint == f"write $!{{{path_text(path)}}} if it may be missing"


HINT = "write $!{%s} if it may be missing"


@pytest.mark.parametrize(
    ("path", "depth", "keys", "hint"),
    [
        (
            ("tokenResponse", "body", "JSON", "acess_token"),
            3,
            ("access_token", "token_type"),
            # after a "did you mean" nothing else: never a quiet misspelt credential
            "did you mean access_token? it has: access_token, token_type",
        ),
        (
            ("tokenResponse", "body", "JSONN"),
            2,
            ("JSON",),
            "did you mean JSON? it has: JSON",
        ),
        # nothing close: only the names
        (("r", "body", "zzz"), 2, ("a", "b"), "it has: a, b; " + HINT % "r.body.zzz"),
        # a list index missing from a mapping: no "did you mean" for a number
        (("r", "body", 3), 2, ("a3",), "it has: a3; " + HINT % "r.body[3]"),
        # the environment's names are nobody's business, at any depth; never a quiet secret
        (
            ("env", "HOME", "x"),
            2,
            ("PATH", "HOME"),
            "set it where the export runs; `exportdsl check --env` finds unset variables first",
        ),
        # a variable's own names are checked at compile time
        (("pdata", "tennant"), 1, ("tenant",), HINT % "pdata.tennant"),
        # a value without names: the plain hint
        (("r", "body", "x"), 2, (), HINT % "r.body.x"),
    ],
)
def test_a_missing_name_is_hinted_with_the_names_the_value_has(
    path: tuple[str | int, ...], depth: int, keys: tuple[str, ...], hint: str
) -> None:
    error = describe_missing(MissingValue(depth, null=False, keys=keys), path)
    assert error.hint == hint


@pytest.mark.parametrize(("count", "ellipsis"), [(20, False), (21, True)])
def test_a_missing_name_hint_shows_at_most_twenty_names(count: int, ellipsis: bool) -> None:
    keys = tuple(f"k{index}" for index in range(count))
    error = describe_missing(MissingValue(2, null=False, keys=keys), ("r", "body", "x"))
    shown = ", ".join(keys[:20]) + (" and 1 other field" if ellipsis else "")
    assert error.hint == f"it has: {shown}; " + HINT % "r.body.x"


@pytest.mark.parametrize(
    ("path", "depth", "null", "hint"),
    [
        # a token answer's field: never "write $!{…}", which would send an empty credential
        (
            ("tokenResponse", "body", "JSON", "access_token"),
            3,
            True,
            "the token endpoint answered null for it: no credential is sent empty",
        ),
        (
            ("tokenResponse", "body", "JSON", "access_token"),
            3,
            False,
            "check the name against what the token endpoint answers "
            "(`exportdsl render --token-response FILE` renders with a saved answer)",
        ),
        (("tokenresponse", "x"), 1, True, "write $!{tokenresponse.x} if it may be missing"),
    ],
)
def test_a_missing_token_field_is_never_hinted_quiet(
    path: tuple[str | int, ...], depth: int, null: bool, hint: str
) -> None:
    assert describe_missing(MissingValue(depth, null), path).hint == hint


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("access_token", True),
        ("tokenType", True),
        ("x-request.id", True),
        ("abcdefghijklmnop_abcdefghijklmno", True),  # 32 characters
        ("abcdefghijklmnop_abcdefghijklmnop", False),  # 33
        ("abcdefghijklmnop", True),  # a word of 16 letters
        ("abcdefghijklmnopq", False),  # 17
        ("accessTokenValueForTheClient", True),  # words end at a change of case
        ("PLAINSECRETTOKENVALUE", False),
        ("k123", True),  # 3 digits
        ("k1234", False),  # 4
        ("k12_v34", False),  # 4 in all
        ("1abc", False),  # starts with a letter
        ("a b", False),
        ("a__b", False),
        ("_a", False),
        ("a-", False),
        ("", False),
        ("0123456789abcdef0123456789abcdef", False),  # 32 characters of hex: no name
    ],
)
def test_which_field_names_may_be_shown(name: str, shown: bool) -> None:
    assert looks_like_a_name(name) is shown


@pytest.mark.parametrize(
    ("names", "most", "listed"),
    [
        (["a", "b"], 20, "a, b"),
        (["a", "b", "c"], 2, "a, b and 1 other field"),
        (["a", "b", "c", "d"], 2, "a, b and 2 other fields"),
        (["a", "PLAINSECRETTOKENVALUE", "b"], 20, "a, b and 1 other field"),  # counted, not shown
        (["PLAINSECRETTOKENVALUE"], 20, "1 other field"),
        (["PLAINSECRETTOKENVALUE", "k1234", "_x"], 20, "3 other fields"),
        ([], 20, ""),
    ],
)
def test_names_are_listed_up_to_a_number_the_others_counted(
    names: list[str], most: int, listed: str
) -> None:
    assert list_names(names, most) == listed


def test_missing_value_has_a_message_of_its_own() -> None:
    """What it says if it ever leaves without `describe` (the plan always describes it)."""
    assert MissingValue(0, null=False).message == "a referenced value is missing"


def path_text(path: tuple[str | int, ...]) -> str:
    from exportdsl.language.nodes import format_path

    return format_path(path)


@pytest.mark.parametrize(
    ("template", "variables", "message"),
    [
        ("$a.b.c", {"a": {"b": None}}, "$a.b.c: a.b is null"),
        ("$a.b.c", {"a": {}}, "$a.b.c: a has no 'b'"),
        ("$a[1]", {"a": [0]}, "$a[1]: a has no '[1]'"),
        ("$a", {}, "$a: there is no variable 'a'"),
        ("$a", {"a": None}, "$a is null"),
    ],
)
def test_missing_values_through_a_template(
    template: str, variables: dict[str, Any], message: str
) -> None:
    with pytest.raises(RenderError) as caught:
        Template(template).render(variables)
    assert caught.value.message == message


# -- to_text and to_json -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("s", "s"),
        ("", ""),
        (SafeText("QUJD"), "QUJD"),
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-12, "-12"),
        (2**70, "1180591620717411303424"),
        (2.5, "2.5"),
        (-0.0, "-0.0"),
        (1e20, "100000000000000000000"),
        (1.5e-7, "0.00000015"),
        (1e16, "10000000000000000"),
        (1e15, "1000000000000000.0"),
        (123456.789, "123456.789"),
        ({"a": [1, None]}, '{"a":[1,null]}'),
        ([], "[]"),
        ((1, "\u00e9"), '[1,"\u00e9"]'),
    ],
)
def test_to_text(value: Any, text: str) -> None:
    assert to_text(value) == text


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_a_float_that_no_request_can_carry_is_refused(number: float) -> None:
    with pytest.raises(RenderError) as caught:
        to_text(number)
    assert caught.value.message == f"{number} is not a number a request can carry"


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_is_written_in_plain_decimals_with_its_exact_value(number: float) -> None:
    text = to_text(number)
    assert "e" not in text.lower()
    assert float(text) == number


@pytest.mark.parametrize(
    ("value", "json_text"),
    [
        (None, "null"),
        ({"a": 1, "b": [True, None]}, '{"a":1,"b":[true,null]}'),
        ("caf\u00e9 \U0001f600", '"caf\u00e9 \U0001f600"'),
        ({"r": SafeText("QUJD")}, '{"r":"QUJD"}'),
        (SafeText("QUJD"), '"QUJD"'),
        (MappingProxyType({"a": 1}), '{"a":1}'),
        ({"t": (1, 2)}, '{"t":[1,2]}'),
        ({"x": TextValue("raw", {"JSON": 1})}, '{"x":"raw"}'),
        ({"r": range(3)}, '{"r":[0,1,2]}'),  # a Sequence that is not a list
    ],
)
def test_to_json_is_compact_and_keeps_unicode(value: Any, json_text: str) -> None:
    assert to_json(value) == json_text


def test_to_json_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(RenderError) as caught:
        to_json({"a": {1, 2}})
    assert caught.value.message == "cannot render a set as JSON"
    with pytest.raises(RenderError) as caught:
        to_json([float("nan")])
    assert caught.value.message.startswith("cannot render as JSON: Out of range float")
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(RenderError, match="cannot render as JSON: Circular reference"):
        to_json(loop)


def test_to_json_refuses_a_value_nested_too_deeply() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(RenderError, match="cannot render as JSON"):
        to_json(deep)


@pytest.mark.parametrize(
    ("credential", "hint"),
    [
        (True, "it fills a credential, which is never sent empty: take the credential from $env"),
        (False, "write $!{chat.visitor.variables.apiToken.value} if it may be missing"),
    ],
)
def test_a_chat_value_that_fills_a_credential_is_never_hinted_quiet(
    credential: bool, hint: str
) -> None:
    path = ("chat", "visitor", "variables", "apiToken", "value")
    error = describe_missing(MissingValue(3, null=False), path, credential=credential)
    assert error.hint == hint
