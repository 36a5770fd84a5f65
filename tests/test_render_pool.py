"""PDF transcripts rendered in processes of their own (`serve --render-processes`, issue 13 item 4):
the same bytes as in the worker's thread, no secret in the processes, a process killed mid-render
costs one attempt (tried again) and nothing else, bad option values refused, and `serve` delivers
end to end with them. Real processes, a real back end on 127.0.0.1."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import signal
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from backend import API_KEY, CLIENT_SECRET, ENV, SAMPLE_CHAT, TOKEN, Backend, Reply, make_plan
from backend import sample_chat as make_sample_chat
from click.testing import CliRunner
from test_serve import (
    INTAKE_SECRET,
    chat_json,
    counts,
    free_port,
    start_process,
    wait_for,
    write_connectors,
)

from exportdsl.chat.model import ChatSession
from exportdsl.chat.reader import parse_chat, parse_chat_bytes
from exportdsl.cli.main import main
from exportdsl.delivery.deliver import ExportDeliverer
from exportdsl.delivery.outbox import Incoming
from exportdsl.delivery.rendering import InThread, RenderPool
from exportdsl.delivery.sqlite import SqliteOutbox
from exportdsl.errors import ExportDslError
from exportdsl.transcript import pdf
from exportdsl.transcript.pdf import render_transcript
from exportdsl.transcript.settings import TranscriptSettings

SAMPLE = parse_chat_bytes(SAMPLE_CHAT.read_bytes())
CHAT_OF_ALL = json.loads(SAMPLE_CHAT.read_text(encoding="utf-8")) | {
    "messages": [
        {"type": "visitor", "content": "".join(map(chr, range(32, 600))), "sentAt": 1427470440000}
    ]
}


@pytest.fixture
def pool() -> Iterator[RenderPool]:
    rendering = RenderPool(1)
    yield rendering
    rendering.close()


def long_chat(messages: int) -> bytes:
    """A chat whose transcript takes a while (hundreds of pages)."""
    chat = json.loads(SAMPLE_CHAT.read_text(encoding="utf-8"))
    first = chat["messages"][0]
    chat["messages"] = [
        first | {"content": f"message {number} " * 8, "sentAt": first["sentAt"] + number}
        for number in range(messages)
    ]
    return json.dumps(chat).encode()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def dead(pid: int) -> bool:
    """Gone, or a zombie waiting for its parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


# -- the same PDF, no secrets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "chat",
    [
        SAMPLE,
        make_sample_chat(name="Žofie 🐎 <Dvořáková>"),
        parse_chat(json.loads(SAMPLE.posted or b"")),
    ],
    ids=["as posted", "non-ASCII", "built from a dict"],
)
def test_a_render_process_makes_the_same_bytes_as_the_thread(
    pool: RenderPool, chat: ChatSession
) -> None:
    for zone in ("Europe/Prague", "UTC"):
        assert pool(chat, TranscriptSettings(timezone=zone)) == InThread()(
            chat, TranscriptSettings(timezone=zone)
        )


def test_render_processes_hold_none_of_the_servers_environment(
    pool: RenderPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's environment holds its connectors' secrets; a render process reads chats from
    anyone and needs none of them, not even in its initial environment (/proc/PID/environ)."""
    monkeypatch.setenv("CRM_CLIENT_SECRET", CLIENT_SECRET)
    pool.start()
    (pid,) = pool.pids()
    assert pool(SAMPLE, TranscriptSettings(timezone="UTC")).startswith(b"%PDF")
    environment = Path(f"/proc/{pid}/environ").read_bytes()
    assert CLIENT_SECRET.encode() not in environment
    assert set(environment.split(b"\0")) <= {b""} | {
        f"{name}={os.environ[name]}".encode()
        for name in ("HOME", "XDG_CACHE_HOME")
        if name in os.environ
    }


def test_an_error_of_ours_in_a_render_process_comes_back_as_ours(pool: RenderPool) -> None:
    """The exporter takes an `ExportDslError` for the chat's or the connector's fault, as when the
    thread renders; its code and message cross the pipe (bytes, never a pickle)."""
    unreadable = dataclasses.replace(SAMPLE, posted=b'{"messages": 7}')
    with pytest.raises(ExportDslError) as raised:
        pool(unreadable, TranscriptSettings(timezone="UTC"))
    assert raised.value.code == "XD400" and "messages" in raised.value.message


def test_the_cached_number_arrays_of_a_transcript_change_no_byte(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The render is cheaper (the font subsets' width arrays formatted once): the same PDFs, chats
    of other characters (other subsets) in between included."""
    chats = [SAMPLE, make_sample_chat(name="Žofie 🐎 Dvořáková"), SAMPLE, parse_chat(CHAT_OF_ALL)]
    cached = [
        render_transcript(chat, TranscriptSettings(timezone="Europe/Prague")) for chat in chats
    ]
    monkeypatch.setattr(pdf, "_format_array", pdf._ARRAY_FORMAT)  # reportlab's own, each time
    assert cached == [
        render_transcript(chat, TranscriptSettings(timezone="Europe/Prague")) for chat in chats
    ]


# -- a render process that dies -------------------------------------------------------------------


def test_a_render_process_killed_mid_render_fails_the_attempt_for_another_try(
    pool: RenderPool, tmp_path: Path, real_backend: Backend
) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, json={}))
    deliver = ExportDeliverer({"acme": make_plan(real_backend.base_url)}, env=ENV, render=pool)
    outbox = SqliteOutbox(str(tmp_path / "queue.db"))
    body = long_chat(20_000)
    outbox.accept_many([Incoming("acme", "1", body, "backend", "key-1")])
    delivery = outbox.claim("w")
    assert delivery is not None
    assert pool(
        SAMPLE, TranscriptSettings(timezone="UTC")
    )  # started and warmed up: from now on its CPU is the chat's
    (pid,) = pool.pids()
    idle = cpu_seconds(pid)
    outcomes = []
    attempt = threading.Thread(target=lambda: outcomes.append(deliver(delivery, body)))
    attempt.start()
    wait_for(lambda: cpu_seconds(pid) > idle + 0.2)  # it is rendering the long chat
    os.kill(pid, signal.SIGKILL)
    attempt.join(30)
    (failed,) = outcomes
    assert not failed.delivered and not failed.permanent and not failed.held
    assert "render process died" in failed.error and "killed by SIGKILL" in failed.error
    assert real_backend.requests_to("/report") == []  # nothing was sent
    assert pool.pids() != [pid]  # replaced

    again = deliver(delivery, SAMPLE_CHAT.read_bytes())  # the next attempt, on a new process
    assert again.delivered and again.status == 201
    (report,) = real_backend.requests_to("/report")
    assert report.headers["idempotency-key"] == "key-1"
    assert base64.b64decode(report.json["pdf"]) == InThread()(
        SAMPLE, TranscriptSettings(timezone="Europe/Prague")
    )


def test_a_render_process_found_dead_while_idle_is_replaced_before_it_gets_a_chat(
    pool: RenderPool,
) -> None:
    """Its death had nothing to do with any chat: no attempt fails for it."""
    pool.start()
    (pid,) = pool.pids()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: dead(pid))
    assert pool(SAMPLE, TranscriptSettings(timezone="UTC")) == InThread()(
        SAMPLE, TranscriptSettings(timezone="UTC")
    )
    (new,) = pool.pids()
    assert new != pid


# -- the option and serve -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "-1 is not in the range 0<=x<=64"),
        ("65", "65 is not in the range 0<=x<=64"),
        ("two", "'two' is not a valid integer"),
    ],
)
def test_bad_render_processes_are_refused_by_name(tmp_path: Path, value: str, message: str) -> None:
    arguments = ["serve", "--connectors", str(tmp_path), "--db", str(tmp_path / "q.db")]
    result = CliRunner().invoke(main, [*arguments, "--render-processes", value])
    assert result.exit_code == 2
    assert f"Invalid value for '--render-processes': {message}" in result.output


def test_serve_with_two_render_processes_delivers_end_to_end(
    tmp_path: Path, real_backend: Backend
) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, json={}))
    folder = write_connectors(tmp_path / "connectors", real_backend.base_url)
    database, port = tmp_path / "q.db", free_port()
    process = start_process(folder, database, port, "--render-processes", "2")
    try:
        renderers = children(process.pid)
        assert len(renderers) == 2
        for pid in renderers:  # the intake secret, the connectors' secrets: none of them
            environment = Path(f"/proc/{pid}/environ").read_bytes()
            assert not {INTAKE_SECRET, API_KEY, CLIENT_SECRET} & {
                part.decode().partition("=")[2] for part in environment.split(b"\0")
            }
        with httpx.Client(timeout=10) as client:
            for chat_id in range(10):
                answer = client.post(
                    f"http://127.0.0.1:{port}/hooks/crm",
                    content=chat_json(chat_id),
                    params={"token": INTAKE_SECRET},
                )
                assert answer.status_code == 202
        wait_for(lambda: counts(database) == {"delivered": 10})
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises it once stopped
    assert all(dead(pid) for pid in renderers)  # ended with serve
    reports = real_backend.requests_to("/report")
    assert len(reports) == 10
    expected = InThread()(
        parse_chat_bytes(chat_json(3)), TranscriptSettings(timezone="Europe/Prague")
    )
    assert any(base64.b64decode(report.json["pdf"]) == expected for report in reports)
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT COUNT(*) FROM deliveries WHERE attempts = 1").fetchone() == (10,)


def test_render_processes_end_when_serve_is_killed(tmp_path: Path, real_backend: Backend) -> None:
    """kill -9 leaves serve no time to stop them: the kernel closes their pipe, and they end."""
    folder = write_connectors(tmp_path / "connectors", real_backend.base_url)
    process = start_process(folder, tmp_path / "q.db", free_port(), "--render-processes", "2")
    renderers = children(process.pid)
    assert len(renderers) == 2
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    wait_for(lambda: all(dead(pid) for pid in renderers), seconds=10)
