"""A review of the intake's limits and admission (issue 11) as an attacker and a new integrator
would use them: each test is a defect found on a real server on 127.0.0.1, bounded in time."""

from __future__ import annotations

import json
import select
import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from backend import SAMPLE_CHAT
from test_outbox import UNVERSIONED_SCHEMA
from test_serve import CHAT, INTAKE_SECRET, Running, chat_json, serve
from test_serve_limits import (
    SIGNED_HOOK,
    TOKEN_HOOK,
    answer,
    connect,
    flood_until_refused,
    limited,
)

from exportdsl.delivery.sqlite import SqliteOutbox

__all__ = ["limited", "serve"]  # the fixtures, used here under their names


def test_a_chunked_body_s_trailers_are_bounded_as_a_head_is(
    limited: Callable[..., Running],
) -> None:
    """Trailers after a chunked body were read for as long as the body timeout allowed, and kept
    (uvicorn adds them to the request's headers): a hook with a made-up signature (its body is
    read before the signature is checked) took the server to 5.6 GB in 20 s."""
    running = limited(body_timeout=30.0)  # the limit, not the timeout, must stop it
    with connect(running) as connection:
        connection.sendall(SIGNED_HOOK + b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n0\r\n")
        flood_until_refused(connection, b"X-Trailer: " + b"a" * 1000 + b"\r\n")
    assert running.client.get("/healthz").status_code == 200


def test_a_chunked_hook_in_small_chunks_with_a_trailer_is_accepted(
    limited: Callable[..., Running],
) -> None:
    running = limited()
    body = chat_json(11)
    chunks = [body[start : start + 10] for start in range(0, len(body), 10)]
    framed = b"".join(b"%x;note=ok\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks)
    with connect(running) as connection:
        connection.sendall(
            TOKEN_HOOK + b"Transfer-Encoding: chunked\r\n\r\n" + framed + b"0\r\nX-Sum: 1\r\n\r\n"
        )
        assert answer_head(connection).startswith(b"HTTP/1.1 202 ")


def answer_head(connection: socket.socket, seconds: float = 3) -> bytes:
    """The head of the server's next answer on a connection it keeps open (its body is read)."""
    received, deadline = b"", time.monotonic() + seconds
    while b"\r\n\r\n" not in received or len(received) < _answer_length(received):
        assert time.monotonic() < deadline, f"no answer; got {received[:80]!r}"
        ready, _, _ = select.select([connection], [], [], 0.05)
        if ready:
            chunk = connection.recv(65536)
            assert chunk, f"closed; got {received[:80]!r}"
            received += chunk
    return received.split(b"\r\n\r\n")[0]


def _answer_length(received: bytes) -> int:
    head, _, _ = received.partition(b"\r\n\r\n")
    length = head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]
    return len(head) + 4 + int(length)


def test_a_head_pipelined_after_a_body_is_bounded_too(limited: Callable[..., Running]) -> None:
    """The head limit was counted only from the start of a read: a request head that came in the
    same read as the end of the previous request's body was parsed whole, whatever its size (a
    100 KB head was served under a 16 KiB limit)."""
    running = limited()  # max_head 4096
    body = chat_json(21)
    flood = b"".join(b"X-F%d: %s\r\n" % (n, b"a" * 1000) for n in range(12))
    with connect(running) as connection:
        connection.sendall(TOKEN_HOOK + b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
        time.sleep(0.2)  # the body's end comes in a read of its own, with the next head
        connection.sendall(body[10:] + b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + flood + b"\r\n")
        reply = answer(connection)
    # the hook is answered first, then the connection is closed: the oversized head never runs
    assert reply.startswith(b"HTTP/1.1 202 ") and reply.count(b"HTTP/1.1 ") == 1, reply


def test_a_chat_id_with_a_lone_surrogate_is_refused_with_its_path(
    serve: Callable[..., Running],
) -> None:
    """A chat id holding a lone surrogate passed admission and broke the commit: SQLite cannot
    store it, so the hook got 503 "send it again" (for ever), the outbox was marked unhealthy, and
    every other hook committed in the same group got 503 too."""
    running = serve()
    chat = CHAT | {"channel": CHAT["channel"] | {"id": "chat-\ud83d"}}
    answer = running.hook("crm", json.dumps(chat).encode(), params={"token": INTAKE_SECRET})
    assert answer.status_code == 400, answer.text
    assert answer.json()["path"] == "channel.id"
    assert "lone surrogate" in answer.json()["error"]
    assert running.client.get("/healthz").status_code == 200
    assert running.hook("crm", chat_json(31), params={"token": INTAKE_SECRET}).status_code == 202


# How a process of the exportdsl before chats had versions stored a hook's chat (its outbox.py): a
# row ignored was a duplicate.
UNVERSIONED_ACCEPT = (
    "INSERT OR IGNORE INTO chats (connector, chat_id, body, received_at, hook_key)"
    " VALUES (?, ?, ?, ?, ?)"
)


def test_an_older_process_still_running_cannot_store_into_an_upgraded_outbox(
    tmp_path: Path,
) -> None:
    """Two processes serve one outbox; the first upgraded to the versioned schema upgrades the
    file while the older one runs on. The older one then stored chats with the default version
    -1: a replayed hook was a chat beside the stored one, delivered a second time. Its insert must
    fail (its hook gets 503: nothing stored), not be ignored (answered as a duplicate, lost)."""
    path = tmp_path / "queue.db"
    sample = SAMPLE_CHAT.read_bytes()
    with sqlite3.connect(path) as db:
        db.executescript(UNVERSIONED_SCHEMA)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("INSERT INTO chats VALUES ('crm', '55039', ?, 1.0, 'key', 0)", (sample,))
    older = sqlite3.connect(path, isolation_level=None)  # the older process, still running
    SqliteOutbox(path)  # a newer process starts on the file: it is upgraded
    for chat_id in ("55039", "55040"):  # a replayed hook, a new chat
        with pytest.raises(sqlite3.IntegrityError, match="an older exportdsl cannot store"):
            older.execute(UNVERSIONED_ACCEPT, ("crm", chat_id, sample, 2.0, "key"))
    older.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT chat_id, end_at FROM chats").fetchall() == [
            ("55039", json.loads(sample)["endAt"])
        ]


def test_a_hook_asking_to_upgrade_to_http2_is_read_as_http_1_1(
    limited: Callable[..., Running],
) -> None:
    """`curl --http2 http://…` asks to upgrade (Connection: Upgrade, Upgrade: h2c) and sends its
    body at once. httptools takes an upgrade's body for the new protocol, and uvicorn threw it
    away: a valid hook was answered 400 "invalid JSON at line 1, column 1"."""
    running = limited()
    body = chat_json(41)
    upgrade = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n"
    with connect(running) as connection:
        for expected in (b"HTTP/1.1 202 ", b"HTTP/1.1 200 "):  # accepted, then a duplicate
            head = TOKEN_HOOK + upgrade + b"Content-Length: %d\r\n\r\n" % len(body)
            connection.sendall(head + body[:100])
            time.sleep(0.05)  # the rest of the body in a read of its own
            connection.sendall(body[100:])
            answered = answer_head(connection)
            assert answered.startswith(expected), answered
