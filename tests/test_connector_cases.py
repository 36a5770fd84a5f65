"""Connectors, data-driven: tests/cases/connectors.json (given -> expected), one loader.

A case gives a connector file (as a list of lines) and expects either its compile diagnostics
(code, line, column, a part of the message), or, rendered with the given variables, a request (a
part of it) or a render error (a part of the message, its position, and text it must not quote).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import exportdsl
from exportdsl.compiler.plan import RenderedRequest

CASES = json.loads(
    (Path(__file__).parent / "cases" / "connectors.json").read_text(encoding="utf-8")
)


def connector(case: dict[str, Any]) -> exportdsl.Connector:
    return exportdsl.parse_connector("\n".join(case["given"]["connector"]) + "\n", "c.yaml")


def render(case: dict[str, Any]) -> RenderedRequest:
    given = case["given"]
    plan = exportdsl.compile_connector(connector(case))
    request = plan.token if given.get("request") == "token" else plan.export
    assert request is not None
    return request.render(plan.connector_variables() | given.get("variables", {}))


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_case(case: dict[str, Any]) -> None:
    expected = case["expected"]
    if "diagnostics" in expected:
        found = exportdsl.check_connector(connector(case))
        assert [
            (d.code, d.location.line, d.location.column) if d.location else (d.code,) for d in found
        ] == [(want["code"], want["line"], want["column"]) for want in expected["diagnostics"]]
        for diagnostic, want in zip(found, expected["diagnostics"], strict=True):
            assert want["message"] in diagnostic.message
            assert want.get("hint", "") in (diagnostic.hint or "")
    elif "error" in expected:
        want = expected["error"]
        with pytest.raises(exportdsl.RenderError) as caught:
            render(case)
        error = caught.value
        assert want["message"] in error.message, error.message
        assert error.location is not None
        assert (error.location.line, error.location.column) == (want["line"], want["column"])
        for secret in want.get("not_quoted", []):
            assert secret not in error.message and secret not in (error.hint or "")
    else:
        rendered = render(case)._asdict()
        rendered["headers"] = [list(header) for header in rendered["headers"]]
        assert {key: rendered[key] for key in expected["request"]} == expected["request"]
