"""Connectors, data-driven: tests/cases/connectors.json (given -> expected), one loader.

A case gives a connector file (as a list of lines) and expects either its compile diagnostics
(code, line, column, a part of the message), or, rendered with the given variables, a request (a
part of it) or a render error (a part of the message, its position, and text it must not quote).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import exportdsl
from exportdsl.compiler.plan import RenderedRequest
from exportdsl.errors import ConnectorError

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
        try:
            found = exportdsl.check_connector(connector(case))
        except ConnectorError as error:  # the loader's own diagnostics (XD002)
            found = list(error.diagnostics)
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
        assert want.get("hint", "") in (error.hint or "")
        for secret in want.get("not_quoted", []):
            assert secret not in error.message and secret not in (error.hint or "")
    else:
        rendered = render(case)._asdict()
        rendered["headers"] = [list(header) for header in rendered["headers"]]
        assert {key: rendered[key] for key in expected["request"]} == expected["request"]


@pytest.mark.parametrize(
    ("url", "env"),
    [
        ("http://$env.CRM_HOST/exp", {"CRM_HOST": "127.0.0.1:99999"}),  # 34463 modulo 65536
        ("$env.CRM_BASE/exp", {"CRM_BASE": "http://127.0.0.1:0"}),
    ],
)
def test_a_port_out_of_range_is_never_sent(url: str, env: dict[str, str]) -> None:
    """The export fails where the render does, before anything goes out."""
    from backend import sample_chat

    from exportdsl.export.client import make_client
    from exportdsl.export.exporter import Exporter

    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    text = "\n".join(
        ["connector: {id: 1, name: cases}", "client: {id: 7}", "export:", f"  url: {url}"]
    )
    plan = exportdsl.compile_connector(exportdsl.parse_connector(text + "\n", "c.yaml"))
    with make_client(transport=httpx.MockTransport(answer)) as client:
        result = Exporter(plan, client, env=env, render_pdf=lambda *_: b"%PDF").run(sample_chat())
    assert isinstance(result.error, exportdsl.RenderError)
    assert "export.url: the URL's port is" in result.error.message
    assert result.error.location is not None and result.error.location.line == 4
    assert sent == []
