"""Issue 11, item 2: the intake accepts only what can be delivered (a real server on 127.0.0.1,
a real outbox, a real receiver; loopback only, bounded). The serve fixtures are test_serve's.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from backend import Backend, Reply
from click.testing import CliRunner
from test_serve import CHAT, INTAKE_SECRET, Running, counts, serve, wait_for

from exportdsl.chat.reader import parse_chat, parse_chat_bytes
from exportdsl.cli.main import main
from exportdsl.compiler.analysis import compile_connector
from exportdsl.connector.reader import parse_connector
from exportdsl.delivery.admission import Admission
from exportdsl.errors import ChatError
from exportdsl.export.build import idempotency_key

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


# --- the render check: a chat the connector cannot send is refused with the value's path ---------

HEADERS_CONNECTOR = """connector: {{id: 10, name: Headers}}
client: {{id: 1001}}
intake: {{secret: $env.INTAKE_SECRET}}
export:
  url: {base}/headers
  headers: {{Content-Type: application/json, X-Visitor: $chat.visitor.name}}
  body: '{{"vars": $chat.visitor.variables, "pdf": "$report.encoded.base64"}}'
"""


def chat_with(**changes: Any) -> bytes:
    """The sample chat with top-level blocks changed (``visitor={...}`` is merged)."""
    chat = dict(CHAT)
    for name, value in changes.items():
        chat[name] = chat[name] | value if isinstance(value, dict) else value
    return json.dumps(chat).encode()


@pytest.fixture
def headers_connector(tmp_path: Path, real_backend: Backend) -> None:
    folder = tmp_path / "connectors"
    folder.mkdir()
    (folder / "headers.yaml").write_text(HEADERS_CONNECTOR.format(base=real_backend.base_url))


def refused(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json().get("path")


def test_a_lone_surrogate_that_would_be_sent_is_refused_with_its_path(
    serve: Callable[..., Running], tmp_path: Path
) -> None:
    running = serve(workers=1)
    # crm puts visitor.name in its JSON body and its XML template: neither can carry it
    answer = running.hook("crm", chat_with(visitor={"name": "Ren\ud800e"}), params=AUTH)
    assert refused(answer) == (400, "visitor.name")
    assert "lone surrogate" in answer.json()["error"] or "U+D800" in answer.json()["error"]
    assert counts(tmp_path / "queue.db") == {}  # nothing stored, nothing to go dead


def test_a_lone_surrogate_only_the_transcript_shows_is_accepted(
    serve: Callable[..., Running], tmp_path: Path
) -> None:
    running = serve(workers=0)
    messages = [CHAT["messages"][0] | {"content": "cut emoji \ud83d"}, *CHAT["messages"][1:]]
    answer = running.hook("crm", chat_with(messages=messages), params=AUTH)
    assert answer.status_code == 202, answer.text


@pytest.mark.usefixtures("headers_connector")
def test_values_a_header_or_a_body_cannot_carry_are_refused_with_their_paths(
    serve: Callable[..., Running], tmp_path: Path
) -> None:
    running = serve(workers=0)
    nested = {"plan": {"label": "Plan", "value": ["ok", "bad \udc00"]}}
    cases = {
        "visitor.name": chat_with(visitor={"name": "two\nlines"}),  # a header: no line break
        "visitor.variables.plan.value[1]": chat_with(visitor={"variables": nested}),
    }
    for path, body in cases.items():
        assert refused(running.hook("headers", body, params=AUTH)) == (400, path)
    without_name = {key: value for key, value in CHAT["visitor"].items() if key != "name"}
    answer = running.hook(
        "headers", json.dumps(CHAT | {"visitor": without_name}).encode(), params=AUTH
    )
    assert refused(answer) == (400, "visitor.name")  # a value the connector needs is missing
    assert "visitor has no 'name'" in answer.json()["error"]
    assert running.hook("headers", chat_with(), params=AUTH).status_code == 202
    assert counts(tmp_path / "queue.db") == {"pending": 1}


def test_forward_mode_passes_a_lone_surrogate_on_as_posted(
    serve: Callable[..., Running], real_backend: Backend, tmp_path: Path
) -> None:
    real_backend.on("/forward", Reply(200, json={}))
    running = serve(workers=1)
    body = chat_with(visitor={"name": "Ren\ud800e"})  # json.dumps writes it as \ud800
    assert running.hook("forward", body, params=AUTH).status_code == 202
    wait_for(lambda: counts(tmp_path / "queue.db").get("delivered") == 1)
    (forwarded,) = real_backend.requests_to("/forward")
    assert forwarded.body == body


def test_the_render_check_names_a_list_item_by_its_index() -> None:
    text = (
        "connector: {id: 11, name: Second}\nclient: {id: 1001}\n"
        "export:\n  url: https://crm.example/in\n"
        "  headers: {X-Second: '$chat.messages[1].content'}\n  body: $report.encoded.base64\n"
    )
    admission = Admission(compile_connector(parse_connector(text, "second.yaml")))
    messages = [CHAT["messages"][0], CHAT["messages"][1] | {"content": "a\rb"}]
    with pytest.raises(ChatError) as refusal:
        admission(chat_with(messages=messages))
    assert refusal.value.json_path == "messages[1].content"
    assert admission(chat_with()).chat.channel.id == CHAT["channel"]["id"]


@pytest.mark.parametrize(
    ("connector", "content"),
    [("messages-json.yaml", "bad \ud800 text"), ("jtel-messages-xml.yaml", "bell \x07")],
)
def test_a_value_a_loop_cannot_carry_is_refused_with_its_item_path(
    connector: str, content: str
) -> None:
    # `$m.content` in `#foreach($m in $chat.messages)`: the render check failed at a hole of the
    # loop variable, not of `$chat`, so the hook was accepted (202) and its delivery went dead
    folder = Path(__file__).parent.parent / "connectors"
    plan = compile_connector(parse_connector((folder / connector).read_text(), connector))
    admission = Admission(plan)
    messages = [*CHAT["messages"][:2], CHAT["messages"][2] | {"content": content}]
    with pytest.raises(ChatError) as refusal:
        admission(chat_with(messages=messages))
    assert refusal.value.json_path == "messages[2].content"
    assert admission(chat_with()).chat.channel.id == CHAT["channel"]["id"]


def test_a_loop_value_refused_is_named_before_one_a_branch_skips() -> None:
    # `trigger="$m.triggeredBy"` is rendered only #if($m.triggeredBy): the first message has none,
    # and that is no fault; the third's holds a character XML cannot carry
    folder = Path(__file__).parent.parent / "connectors"
    text = (folder / "jtel-messages-xml.yaml").read_text()
    admission = Admission(compile_connector(parse_connector(text, "x.yaml")))
    messages = [*CHAT["messages"][:2], CHAT["messages"][2] | {"triggeredBy": "bell \x07"}]
    assert CHAT["messages"][0].get("triggeredBy") is None
    with pytest.raises(ChatError) as refusal:
        admission(chat_with(messages=messages))
    assert refusal.value.json_path == "messages[2].triggeredBy"


def test_a_value_set_from_the_chat_is_refused_with_its_path() -> None:
    text = (
        "connector: {id: 12, name: Set}\nclient: {id: 1001}\n"
        "export:\n  url: https://crm.example/in\n"
        "  headers: {X-Name: '#set($n = $chat.visitor.name)$n'}\n"
        "  body: $report.encoded.base64\n"
    )
    admission = Admission(compile_connector(parse_connector(text, "set.yaml")))
    with pytest.raises(ChatError) as refusal:
        admission(chat_with(visitor=CHAT["visitor"] | {"name": "a\nb"}))
    assert refusal.value.json_path == "visitor.name"


# --- parsing off the event loop -------------------------------------------------------------------


def test_health_is_answered_while_a_large_hook_is_parsed(serve: Callable[..., Running]) -> None:
    running = serve(workers=0)
    message = {"type": "visitor", "sentAt": 1700000000000, "content": "x" * 120, "from": "v:1"}
    last = {"type": "visitor", "content": "no time"}  # refused only once all is read (~0.3 s)
    body = json.dumps(CHAT | {"messages": [message] * 45000 + [last]}).encode()
    assert 8_000_000 < len(body) < 10_000_000
    head = (
        f"POST /hooks/crm?token={INTAKE_SECRET} HTTP/1.1\r\nHost: intake\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    host, port = running.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as hook:
        hook.sendall(head.encode() + body)
        time.sleep(0.05)  # the last bytes are read; the chat is being parsed
        assert running.client.get("/healthz").status_code == 200
        readable, _, _ = select.select([hook], [], [], 0)
        assert not readable, "the hook was answered before /healthz: its parse held the loop"
        answer = hook.recv(65536)  # bounded by the socket's timeout
    assert answer.startswith(b"HTTP/1.1 400") and b"messages[45000].sentAt" in answer


# --- a re-opened chat is a new delivery -----------------------------------------------------------


def test_a_reopened_chat_is_delivered_again_with_a_key_of_its_own(
    serve: Callable[..., Running], real_backend: Backend, tmp_path: Path
) -> None:
    real_backend.on("/forward", Reply(200, json={}))
    running = serve(workers=1)
    first = json.dumps(CHAT).encode()
    more = [*CHAT["messages"], CHAT["messages"][-1] | {"sentAt": CHAT["endAt"] + 60_000}]
    reopened = json.dumps(CHAT | {"endAt": CHAT["endAt"] + 60_000, "messages": more}).encode()
    earlier = json.dumps(CHAT | {"endAt": CHAT["endAt"] - 1}).encode()
    assert running.hook("forward", first, params=AUTH).status_code == 202
    assert running.hook("forward", reopened, params=AUTH).status_code == 202
    for again in (first, reopened, earlier):  # nothing later than what is stored: duplicates
        answer = running.hook("forward", again, params=AUTH)
        assert answer.status_code == 200 and answer.json()["status"] == "duplicate"
    wait_for(lambda: counts(tmp_path / "queue.db").get("delivered") == 2)
    pressed = running.client.post(f"/connectors/forward/chats/{CHAT['channel']['id']}/export")
    assert pressed.status_code == 401  # (the button wants the secret too)
    url = f"/connectors/forward/chats/{CHAT['channel']['id']}/export"
    assert running.client.post(url, params=AUTH).status_code == 202
    wait_for(lambda: counts(tmp_path / "queue.db").get("delivered") == 3)

    sent = real_backend.requests_to("/forward")
    assert [request.body for request in sent] == [first, reopened, reopened]  # the latest
    keys = [request.headers["idempotency-key"] for request in sent]
    assert len(set(keys)) == 3 and keys[2] == f"{keys[1]}.export-1"
    plan = running.intake.endpoints["forward"].plan
    assert keys[:2] == [  # what `exportdsl export` sends for each version
        idempotency_key(plan, parse_chat_bytes(first)),
        idempotency_key(plan, parse_chat_bytes(reopened)),
    ]
