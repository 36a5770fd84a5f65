"""The intake's hot path made cheaper, and what it must still do (issue 13, the intake benchmark).

Behaviour only, never timing: the log's INFO lines are written by a thread of their own (a write
releases the GIL, and the event loop then waited for it behind the workers), a token request that
reads no chat value is rendered once per connector, a free body slot is taken without a timer, the
nesting check writes a path only for its error, and a presented secret is checked once.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from test_serve import CHAT, INTAKE_SECRET, Running, chat_json, serve, wait_for
from test_serve_accept import chat_with
from test_serve_logs import log_stream

from exportdsl.chat.reader import MAX_NESTING, parse_chat
from exportdsl.compiler.analysis import compile_connector
from exportdsl.compiler.plan import RequestPlan
from exportdsl.connector.reader import parse_connector
from exportdsl.delivery import logs
from exportdsl.delivery.admission import Admission
from exportdsl.delivery.limits import BodySlots
from exportdsl.errors import ChatError, RenderError
from exportdsl.export.redact import REDACTED, Redactor
from exportdsl.vocabulary import Phase

__all__ = ["log_stream", "serve"]  # fixtures from the other serve tests

# --- the log: INFO lines written by a thread of their own -------------------------------------


@pytest.fixture
def slow_writer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The writer thread waits a minute between two writes: what is written before that was
    written by the thread that logged."""
    monkeypatch.setattr(logs, "WRITE_EVERY", 60.0, raising=False)
    yield


@pytest.mark.usefixtures("slow_writer")
def test_an_info_line_is_queued_and_a_warning_writes_the_queue_then_itself(
    log_stream: io.StringIO,
) -> None:
    handler = logs.install("text", None, log_stream)
    try:
        intake = logging.getLogger("exportdsl.intake")
        intake.info("hook accepted", extra=logs.fields(connector="crm", chat="1", delivery=1))
        intake.info("hook accepted", extra=logs.fields(connector="crm", chat="2", delivery=2))
        assert log_stream.getvalue() == ""  # the event loop did not write it
        intake.warning("storage failed")
        lines = log_stream.getvalue().splitlines()
        assert [line.split(" ", 3)[3] for line in lines] == [
            "hook accepted connector=crm chat=1 delivery=1",
            "hook accepted connector=crm chat=2 delivery=2",
            "storage failed",
        ]
    finally:
        handler.close()


@pytest.mark.usefixtures("slow_writer")
def test_a_queued_line_is_redacted_and_written_by_flush_and_close(
    log_stream: io.StringIO,
) -> None:
    secret = "queued-SECRET-0123456789"
    handler = logs.install("json", Redactor([secret]), log_stream)
    logging.getLogger("exportdsl.delivery").info(
        "delivered %s", secret, extra=logs.fields(k=secret)
    )
    handler.flush()
    assert f'"message": "delivered {REDACTED}"' in log_stream.getvalue()
    assert f'"k": "{REDACTED}"' in log_stream.getvalue() and secret not in log_stream.getvalue()
    logging.getLogger("exportdsl.delivery").info("stopped")
    handler.close()  # what `logging.shutdown` does at exit
    assert log_stream.getvalue().splitlines()[-1].endswith('"message": "stopped"}')


def test_the_writer_thread_writes_queued_lines_by_itself(log_stream: io.StringIO) -> None:
    handler = logs.install("text", None, log_stream)
    try:
        logging.getLogger("exportdsl.intake").info("hook accepted")
        wait_for(lambda: "hook accepted" in log_stream.getvalue(), seconds=5)  # 20 ms, at most
        assert log_stream.getvalue().endswith("INFO exportdsl.intake hook accepted\n")
    finally:
        handler.close()


def test_a_replaced_handler_writes_what_it_queued(
    log_stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "WRITE_EVERY", 60.0, raising=False)
    first = io.StringIO()
    logs.install("text", None, first)
    logging.getLogger("exportdsl.intake").info("before the reinstall")
    handler = logs.install("text", None, log_stream)
    try:
        assert first.getvalue().endswith("before the reinstall\n")
    finally:
        handler.close()


# --- the render check: a token request that reads no chat value, rendered once ----------------

CONSTANT_TOKEN = """connector: {{id: 13, name: Token}}
client: {{id: 1001}}
pdata: {{user: "{user}"}}
token:
  url: https://auth.example/token
  auth: {{basic: {{username: $pdata.user, password: $env.TOKEN_SECRET}}}}
  headers: {{X-Visitor: "{visitor}"}}
  body: grant_type=client_credentials
export:
  url: https://crm.example/in
  headers: {{X-Name: $chat.visitor.name}}
  body: $report.encoded.base64
"""


def admission_of(text: str) -> Admission:
    return Admission(compile_connector(parse_connector(text, "token.yaml")))


@pytest.fixture
def token_renders(monkeypatch: pytest.MonkeyPatch) -> list[Phase]:
    """One item for every token request rendered (the real render, counted)."""
    rendered: list[Phase] = []
    render = RequestPlan.render

    def counted(self: RequestPlan, variables: Any) -> Any:
        if self.phase is Phase.TOKEN:
            rendered.append(self.phase)
        return render(self, variables)

    monkeypatch.setattr(RequestPlan, "render", counted)
    return rendered


def test_a_token_request_of_connector_values_is_rendered_for_the_first_chat_only(
    token_renders: list[Phase],
) -> None:
    admission = admission_of(CONSTANT_TOKEN.format(user="api", visitor="fixed"))
    for number in range(3):
        admission(chat_json(number + 1))
    assert len(token_renders) == 1
    with pytest.raises(ChatError) as refusal:  # the export request is still checked every time
        admission(chat_with(visitor=CHAT["visitor"] | {"name": "two\nlines"}))
    assert refusal.value.json_path == "visitor.name"


def test_a_token_request_reading_the_chat_is_rendered_and_checked_for_every_chat(
    token_renders: list[Phase],
) -> None:
    admission = admission_of(CONSTANT_TOKEN.format(user="api", visitor="$chat.visitor.name"))
    admission(chat_json(1))
    admission(chat_json(2))
    assert len(token_renders) == 2
    with pytest.raises(ChatError) as refusal:
        admission(chat_with(visitor=CHAT["visitor"] | {"name": "two\nlines"}))
    assert refusal.value.json_path == "visitor.name"


@pytest.mark.parametrize("visitor", ["$dateTime", "#set($v = 'x')$v"])
def test_a_token_request_reading_anything_but_connector_values_is_rendered_every_time(
    token_renders: list[Phase], visitor: str
) -> None:
    admission = admission_of(CONSTANT_TOKEN.format(user="api", visitor=visitor))
    admission(chat_json(1))
    admission(chat_json(2))
    assert len(token_renders) == 2


def test_a_token_request_failing_for_every_chat_fails_alike_and_the_hooks_are_accepted(
    token_renders: list[Phase],
) -> None:
    # a Basic user name with ':' fails whatever the chat: the check stops there, as before, and
    # what stops it is not the sender's to fix
    admission = admission_of(CONSTANT_TOKEN.format(user="a:b", visitor="fixed"))
    check = admission.render_check
    assert check is not None
    failures = []
    for number in range(3):
        with pytest.raises(RenderError) as failure:
            check(parse_chat(CHAT | {"channel": CHAT["channel"] | {"id": number}}))
        failures.append(failure.value)
    assert {failure.message for failure in failures} == {
        "token.auth.basic.username: a Basic user name cannot hold ':' (RFC 7617)"
    }
    assert all(failure.location == failures[0].location for failure in failures)
    assert len(token_renders) == 1
    assert admission(chat_json(4)).chat.channel.id == 4


# --- body slots: a free one is taken at once ----------------------------------------------------


def test_a_free_body_slot_is_taken_at_once_and_a_full_pool_refuses_after_its_wait() -> None:
    async def scenario() -> list[bool]:
        slots = BodySlots(2, 0.05)
        taken = [await slots.acquire(), await slots.acquire(), await slots.acquire()]
        slots.release()
        taken.append(await slots.acquire())
        waiting = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0)
        slots.release()  # a reader waiting for a slot gets the one let go
        taken.append(await waiting)
        return taken

    assert asyncio.run(scenario()) == [True, True, False, True, True]


# --- the nesting check: a path written only for its error ---------------------------------------


def test_too_deep_a_chat_is_named_by_its_whole_path_with_quoted_keys_and_indexes() -> None:
    deep: list[Any] = []
    value: list[Any] = deep
    for _ in range(MAX_NESTING):
        value.append([])
        value = value[0]
    variables = {"odd key": {"label": "Odd", "value": [{"x": deep}]}}
    with pytest.raises(ChatError, match=f"nested deeper than {MAX_NESTING} levels") as caught:
        parse_chat({"messages": [], "visitor": {"variables": variables}})
    assert caught.value.json_path.startswith('visitor.variables["odd key"].value[0].x[0][0]')


# --- the secret: a presented one is checked once, before the body --------------------------------


def test_a_hook_with_the_right_token_and_a_bogus_signature_is_accepted(
    serve: Callable[..., Running],
) -> None:
    running = serve(workers=0)
    signature = {"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,AA"}
    answer = running.hook("crm", chat_json(1), params={"token": INTAKE_SECRET}, headers=signature)
    assert answer.status_code == 202, answer.text
    wrong = running.hook("crm", chat_json(2), params={"token": "wrong"}, headers=signature)
    assert wrong.status_code == 401
