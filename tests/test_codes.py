"""The code registry: every code once, one meaning a code, each documented."""

from __future__ import annotations

import re

import pytest

from exportdsl import errors
from exportdsl.lint.registry import all_codes, all_rules


def test_every_code_and_name_is_defined_once() -> None:
    codes = all_codes()
    names = [rule.name for rule in codes.values()]
    assert len(set(names)) == len(names), "two codes share a name"
    assert all(re.fullmatch(r"XD\d{3}", code) for code in codes)
    assert set(all_rules()) < set(codes)


def test_every_error_class_has_a_documented_code_of_its_own() -> None:
    classes = errors.error_classes()
    assert len({cls.code for cls in classes}) == len(classes)
    for cls in classes:
        assert all_codes()[cls.code].doc.strip(), cls


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.ExportDisabled("x"), "XD601"),
        (errors.TokenAnswerError("x"), "XD602"),
        (errors.SigningError("x"), "XD603"),
        (errors.MissingValue(0, null=False), "XD300"),
        (errors.ConnectorError("f", ()), "XD000"),
    ],
)
def test_subclasses_keep_their_family_and_code(error: errors.ExportDslError, code: str) -> None:
    assert error.code == code
    assert isinstance(error, errors.ExportDslError)
