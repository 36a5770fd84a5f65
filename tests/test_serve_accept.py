"""Issue 11, item 2: the intake accepts only what can be delivered (a real server on 127.0.0.1,
a real outbox, a real receiver; loopback only, bounded). The serve fixtures are test_serve's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from backend import Backend, Reply
from click.testing import CliRunner
from test_serve import INTAKE_SECRET, Running, counts, serve, wait_for

from exportdsl.cli.main import main
from exportdsl.compiler.analysis import compile_connector
from exportdsl.connector.reader import parse_connector

__all__ = ["serve"]  # the fixture, imported for the tests below

AUTH = {"token": INTAKE_SECRET}

# The chat as a sender may write it: keys in an order of its own, white space, escapes
# (\u00e9, \/) that a re-serialisation would change
PECULIAR = (
    b'{ "messages" : [ {"sentAt":1700000000000, "type":"visitor",\n'
    b'  "content":"caf\\u00e9 \\/ ok"} ],\n'
    b'  "channel": {"id": "peculiar-1"}, "accountId" : 42 ,"visitor":{"name":"Ren\\u00e9e"}}\n'
)


# --- forward mode sends the bytes as posted -----------------------------------------------------


def test_forward_mode_sends_the_posted_bytes(
    serve: Callable[..., Running], real_backend: Backend, tmp_path: Path
) -> None:
    real_backend.on("/forward", Reply(200, json={}))
    running = serve(workers=1)
    assert running.hook("forward", PECULIAR, params=AUTH).status_code == 202
    wait_for(lambda: counts(tmp_path / "queue.db").get("delivered") == 1)
    (forwarded,) = real_backend.requests_to("/forward")
    assert forwarded.body == PECULIAR


def test_forward_export_of_a_file_sends_its_bytes(tmp_path: Path, real_backend: Backend) -> None:
    real_backend.on("/forward", Reply(200, json={}))
    connector = tmp_path / "forward.yaml"
    connector.write_text(
        "connector: {id: 8, name: Forward}\nclient: {id: 1001}\n"
        f"export:\n  url: {real_backend.base_url}/forward\n"
        "  headers: {Content-Type: application/json}\n  body: $chat\n"
    )
    chat = tmp_path / "chat.json"
    chat.write_bytes(b"\xef\xbb\xbf" + PECULIAR)  # a byte-order mark: allowed in, never sent
    result = CliRunner().invoke(main, ["export", str(connector), str(chat)])
    assert result.exit_code == 0, result.output
    (forwarded,) = real_backend.requests_to("/forward")
    assert forwarded.body == PECULIAR


def test_the_chat_model_keeps_the_bytes_it_was_read_from() -> None:
    from exportdsl.chat.reader import parse_chat, parse_chat_bytes

    assert parse_chat_bytes(PECULIAR).posted == PECULIAR
    assert parse_chat(json.loads(PECULIAR)).posted is None


@pytest.mark.parametrize(
    ("body", "forwards"),
    [
        ("$chat", True),
        ("  ${chat}\n", True),
        ("$!chat #* the chat as posted *#", True),
        ("$chat.visitor", False),
        ("[$chat]", False),
        ('{"chat": $chat}', False),
    ],
)
def test_forward_mode_is_a_body_of_exactly_the_chat(body: str, forwards: bool) -> None:
    text = (
        "connector: {id: 8, name: Forward}\nclient: {id: 1001}\n"
        "export:\n  url: https://crm.example/in\n"
        f"  headers: {{Content-Type: application/json}}\n  body: {json.dumps(body)}\n"
    )
    plan = compile_connector(parse_connector(text, "forward.yaml"))
    assert plan.export is not None and plan.export.forwards_chat is forwards
