"""Connector loading and compiling: positions, pdata forms, phases, rendering a whole plan."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from exportdsl import (
    ConnectorError,
    ExportDslError,
    compile_connector,
    load_connector,
    parse_connector,
)
from exportdsl.compiler.values import TextValue
from exportdsl.errors import LoadError
from exportdsl.source import Span

ROOT = Path(__file__).parent.parent


def variables(**extra: Any) -> dict[str, Any]:
    chat = (
        json.loads((ROOT.parent / "shared" / "fixtures" / "smartsupp-chat.json").read_text())
        if (ROOT.parent / "shared" / "fixtures" / "smartsupp-chat.json").exists()
        else {
            "channel": {"id": 55039},
            "visitor": {"name": "Dusan Kmet", "email": "d@example.com"},
            "accountId": 1,
        }
    )
    base: dict[str, Any] = {
        "ClientsID": 1001,
        "chatConnector": {"id": 7, "name": "ACME"},
        "dateTime": "2026-11-21 12:00:00",
        "pdata": {},
        "chat": chat,
        "env": {
            "ACME_CLIENT_SECRET": "s3cret",
            "ARCHIVE_API_KEY": "k",
            "HELPDESK_SECRET": "h",
            "CRM_API_TOKEN": "t",
        },
        "tokenResponse": {
            "status": 200,
            "headers": {},
            "body": TextValue('{"access_token": "tok"}', {"JSON": {"access_token": "tok"}}),
        },
        "report": {"encoded": {"base64": "JVBERi0="}, "bytes": 5},
        "xmlTemplate": TextValue("<x/>", {"encoded": {"base64": "PHgvPg=="}}),
    }
    base.update(extra)
    return base


def test_block_scalar_positions_map_to_the_file() -> None:
    text = (
        "connector: {id: 1, name: n}\nclient: {id: 1}\nexport:\n  url: https://x.example/\n"
        "  body: |\n    line one\n      indented $chat.visitor.name\n"
    )
    body = parse_connector(text, "c.yaml").export.body  # type: ignore[union-attr]
    assert body is not None
    start = body.source.index("$chat")
    location = body.location(Span(start, start + 5))
    assert (location.line, location.column) == (7, 16)


def test_quoted_scalar_with_escapes_maps_to_the_file() -> None:
    text = 'connector: {id: 1, name: n}\nclient: {id: 1}\nexport:\n  url: "https://x.example/\\u00e9/$ClientsID"\n'
    url = parse_connector(text, "c.yaml").export.url  # type: ignore[union-attr]
    assert url is not None
    start = url.source.index("$")
    assert url.location(Span(start, start + 1)).column == text.splitlines()[3].index("$") + 1


def test_pdata_literal_and_mapping_are_the_same() -> None:
    literal = parse_connector(
        "connector: {id: 1, name: n}\nclient: {id: 1}\n"
        "pdata: \"{name:'John Doe', email:'john.doe@example.com', n: 3}\"\n"
    )
    mapping = parse_connector(
        "connector: {id: 1, name: n}\nclient: {id: 1}\n"
        "pdata: {name: John Doe, email: john.doe@example.com, n: 3}\n"
    )
    assert (
        literal.pdata
        == mapping.pdata
        == {"name": "John Doe", "email": "john.doe@example.com", "n": 3}
    )


@pytest.mark.parametrize("path", sorted((ROOT / "connectors").glob("*.yaml")), ids=lambda p: p.name)
def test_example_connectors_render(path: Path) -> None:
    plan = compile_connector(load_connector(path))
    assert plan.export is not None
    context = variables(**plan.connector_variables())
    request = plan.export.render(context)
    assert request.url.startswith("https://")
    if plan.token:
        assert plan.token.render(context).method == "POST"
    kind = plan.export.body.kind if plan.export.body else "text"
    if kind == "json":
        json.loads(request.body or "")


def test_visitor_name_cannot_change_the_json_structure() -> None:
    plan = compile_connector(load_connector(ROOT / "connectors" / "jtel-oauth-json.yaml"))
    chat = {
        "channel": {"id": 1},
        "accountId": 2,
        "visitor": {"name": 'Eve", "role": "admin', "email": "<x>&"},
    }
    assert plan.export is not None and plan.xml_template is not None
    context = variables(chat=chat, **plan.connector_variables())
    body = json.loads(plan.export.render(context).body or "")
    assert body["visitor"] == {"name": 'Eve", "role": "admin', "email": "<x>&"}
    assert "role" not in body
    xml = plan.render_xml_template(context) or ""
    assert 'email="&lt;x&gt;&amp;"' in xml and "Eve&quot;, &quot;role&quot;" in xml


def test_forward_connector_posts_the_chat_as_json() -> None:
    plan = compile_connector(load_connector(ROOT / "connectors" / "smartsupp-forward.yaml"))
    assert plan.export is not None
    context = variables()
    assert json.loads(plan.export.render(context).body or "") == context["chat"]


def test_missing_export_url_disables_the_export() -> None:
    plan = compile_connector(
        parse_connector(
            "connector: {id: 1, name: n}\nclient: {id: 1}\nexport:\n  headers: {X-A: b}\n"
        )
    )
    assert not plan.export_enabled
    with pytest.raises(ExportDslError, match="no url"):
        plan.export.render(variables())  # type: ignore[union-attr]


def test_all_errors_of_a_file_are_reported_together() -> None:
    with pytest.raises(ConnectorError) as caught:
        compile_connector(
            parse_connector(
                "connector: {id: 1, name: n}\nclient: {id: 1}\nexport:\n  url: https://x.example/$nope\n"
                "  body: $chat.nope $pdata.nope\n",
                "c.yaml",
            )
        )
    assert [d.code for d in caught.value.diagnostics] == ["XD201", "XD202", "XD202"]
    assert [d.location.line for d in caught.value.diagnostics if d.location] == [4, 5, 5]


def test_dynamic_paths_are_checked_at_render_time() -> None:
    plan = compile_connector(
        parse_connector(
            "connector: {id: 1, name: n}\nclient: {id: 1}\ntoken: {url: 'https://a.example/'}\n"
            "export:\n  url: https://x.example/\n"
            "  headers: {Authorization: Bearer $tokenResponse.body.JSON.acess_token}\n"
        )
    )
    assert plan.export is not None
    with pytest.raises(
        ExportDslError, match=re.escape("tokenResponse.body.JSON has no 'acess_token'")
    ):
        plan.export.render(variables())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"connector: [1, 2\n", "YAML syntax error"),
        (b"a: 1\n---\nb: 2\n", "YAML syntax error"),
        (b"\xff\xfe", "invalid UTF-8"),
        (b"x: " + b"[" * 1000 + b"]" * 1000 + b"\n", "unknown key 'x'"),
        (
            b"connector: {id: 1, name: n}\nclient: {id: 1}\nexport: {url: '"
            + b"a" * (11 << 20)
            + b"'}\n",
            "larger than",
        ),
    ],
)
def test_bad_files_give_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ExportDslError) as caught:
        load_connector(path)
    assert message in str(caught.value)


def test_deep_pdata_nesting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "connector: {id: 1, name: n}\nclient: {id: 1}\npdata: {a: "
        + "[" * 1000
        + "]" * 1000
        + "}\n"
    )
    with pytest.raises(ConnectorError, match="nested deeper"):
        load_connector(path)


def test_deep_json_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"pdata": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(LoadError, match="nested too deeply"):
        load_connector(path)


def test_missing_file() -> None:
    with pytest.raises(LoadError, match="no such file"):
        load_connector("/nonexistent/connector.yaml")


_BOMB = (
    "connector: {id: 1, name: n}\nclient: {id: 1}\npdata:\n"
    "  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
)
_HEAD = "connector: {id: 1, name: n}\nclient: {id: 1}\n"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "floats.yaml",
            _HEAD + "pdata: {y: 1.5e3, z: 0x10}\nretry: {backoff: .inf}\n",
            "inf is not a finite number",
        ),
        ("bomb.yaml", _BOMB, "more than 10,000 values"),
        (
            "deep-literal.yaml",
            _HEAD + 'pdata: "{a: ' + "{a: " * 2000 + "1" + "}" * 2001 + '"\n',
            "nested deeper",
        ),
        ("long-number.yaml", _HEAD + 'pdata: "{a: ' + "9" * 5000 + '}"\n', "number too long"),
        (
            "long-index.yaml",
            _HEAD
            + "export: {url: 'https://a.example/${chat.messages["
            + "9" * 5000
            + "].content}'}\n",
            "is too large",
        ),
        ("timezone.yaml", _HEAD + "timezone: 5\n", "timezone must be text"),
    ],
)
def test_hostile_files_give_a_diagnostic_not_a_crash(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ExportDslError) as caught:
        compile_connector(load_connector(path))
    assert message in str(caught.value)
    assert len(caught.value.diagnostics) == 1


def test_json_connector_with_astral_escapes_and_exponents(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            {
                "connector": {"id": 1, "name": "j"},
                "client": {"id": 1},
                "pdata": {"e": "😀"},
                "retry": {"backoff": 1e-1},
                "export": {"url": "https://a.example/$pdata.e"},
            }
        )
    )
    connector = load_connector(path)
    assert connector.pdata == {"e": "😀"}


def test_carriage_return_line_endings_keep_lines_apart(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(
        b"connector: {id: 1, name: n}\rclient: {id: 1}\rexport: {url: 'https://a.example/$nope'}\r"
    )
    with pytest.raises(ConnectorError) as caught:
        compile_connector(load_connector(path))
    location = caught.value.diagnostics[0].location
    assert location is not None and (location.line, location.column) == (3, 35)


EVIL = 'Evil", "admin": true, "x": "'
_SHAPED = "connector: {id: 1, name: x}\nclient: {id: 2}\nexport:\n  url: https://crm.example/r\n"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ("", '{"visitor": "$chat.visitor.name"}'),
        ("  headers: {Content-Type: text/plain}\n", '{"visitor": "$chat.visitor.name"}'),
        ("", "[$chat.visitor.name]"),
        ("", "<chat>$chat.visitor.name</chat>"),
        ("  headers: {Content-Type: text/plain}\n", "name=$chat.visitor.name&x=1"),
    ],
)
def test_a_shaped_body_without_its_content_type_is_refused(headers: str, body: str) -> None:
    text = _SHAPED + headers + f"  body: '{body}'\n"
    with pytest.raises(ConnectorError) as caught:
        compile_connector(parse_connector(text, "shaped.yaml"))
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "XD211" and "add the header Content-Type" in (diagnostic.hint or "")


@pytest.mark.parametrize("media", ["text/json", "application/x-json", "application/ld+json"])
def test_every_json_media_type_escapes_as_json(media: str) -> None:
    text = (
        _SHAPED
        + f"  headers: {{Content-Type: {media}}}\n"
        + '  body: \'{"v": "$chat.visitor.name"}\'\n'
    )
    plan = compile_connector(parse_connector(text, "json.yaml"))
    assert plan.export is not None
    body = plan.export.render(variables(chat={"visitor": {"name": EVIL}})).body or ""
    assert json.loads(body) == {"v": EVIL}


@pytest.mark.parametrize(
    "body", ["Hello $chat.visitor.name", "{no holes here}", "x=1 and $chat.visitor.name", ""]
)
def test_text_bodies_and_bodies_without_holes_stay_text(body: str) -> None:
    compile_connector(parse_connector(_SHAPED + f"  body: '{body}'\n", "text.yaml"))
