"""The template language, data-driven: tests/cases/language.json (given -> expected), one loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import exportdsl
from exportdsl import errors

CASES = json.loads((Path(__file__).parent / "cases" / "language.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_case(case: dict[str, Any]) -> None:
    given, expected = case["given"], case["expected"]
    if "error" in expected:
        want = expected["error"]
        with pytest.raises(getattr(errors, want["type"])) as caught:
            exportdsl.Template(given["template"], given.get("context", "text")).render(
                given["variables"]
            )
        assert want["message"] in caught.value.message
        if "line" in want:
            location = caught.value.location
            assert location is not None
            assert (location.line, location.column) == (want["line"], want["column"])
        return
    template = exportdsl.Template(given["template"], given.get("context", "text"))
    assert template.render(given["variables"]) == expected["output"]
    if "references" in expected:
        assert list(template.references) == expected["references"]
