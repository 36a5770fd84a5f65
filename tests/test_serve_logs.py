"""The serve log (issue 11, item 5): normal traffic logged with connector, chat and delivery, text
or JSON, every record and traceback redacted, and a shutdown that says what it waits for.

A real `exportdsl serve` process on 127.0.0.1 where the process matters (its handler, uvicorn's
logging, SIGTERM); in-process where it adds nothing (a worker meeting a bug)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from backend import ACCESS_TOKEN, API_KEY, CLIENT_SECRET, TOKEN, Backend, Reply, secret_forms
from test_serve import (
    INTAKE_SECRET,
    SERVE_ENV,
    chat_json,
    free_port,
    serve_command,
    wait_for,
    write_connectors,
)

from exportdsl.delivery import logs
from exportdsl.delivery.deliver import ExportDeliverer
from exportdsl.delivery.outbox import Incoming, Schedule
from exportdsl.delivery.service import load_connectors
from exportdsl.delivery.sqlite import SqliteOutbox
from exportdsl.delivery.workers import PoolSettings, WorkerPool
from exportdsl.export.redact import REDACTED, Redactor

SECRETS = (ACCESS_TOKEN, API_KEY, CLIENT_SECRET, INTAKE_SECRET)
_FIELD = re.compile(r' (\w+)=("(?:[^"\\]|\\.)*"|\S+)')


class Served:
    """`exportdsl serve` in its own process, its standard error in a file."""

    def __init__(self, tmp_path: Path, backend: Backend, *options: str) -> None:
        self.port = free_port()
        self.stderr = tmp_path / "stderr.log"
        folder = write_connectors(tmp_path / "connectors", backend.base_url)
        command = serve_command(folder, tmp_path / "q.db", self.port, *options)
        with self.stderr.open("wb") as sink:
            self.process = subprocess.Popen(command, env=os.environ | SERVE_ENV, stderr=sink)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)
        wait_for(self._healthy, seconds=30)

    def _healthy(self) -> bool:
        assert self.process.poll() is None, self.stderr.read_text()
        try:
            return self.client.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def hook(self, chat_id: int) -> httpx.Response:
        return self.client.post(
            "/hooks/crm", content=chat_json(chat_id), params={"token": INTAKE_SECRET}
        )

    def text(self) -> str:
        return self.stderr.read_text(encoding="utf-8")

    def stop(self) -> str:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)
        return self.text()


def records(text: str, log_format: str) -> list[dict[str, Any]]:
    """The log's records as dicts (message, logger, level and the fields), in either format."""
    found = []
    for line in text.splitlines():
        if log_format == "json":
            found.append(json.loads(line))
            continue
        if line.startswith(" "):  # a traceback's lines
            continue
        when, level, logger, rest = line.split(" ", 3)
        first = _FIELD.search(rest)
        message = rest[: first.start()] if first else rest
        record: dict[str, Any] = {"time": when, "level": level, "logger": logger}
        record["message"] = message
        for key, value in _FIELD.findall(rest[len(message) :]):
            record[key] = json.loads(value) if value.startswith('"') else _scalar(value)
        found.append(record)
    return found


def _scalar(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def the(found: list[dict[str, Any]], message: str, **match: object) -> dict[str, Any]:
    """The one record with this message (and these fields)."""
    hits = [
        r
        for r in found
        if r["message"] == message and all(str(r.get(k)) == str(v) for k, v in match.items())
    ]
    assert len(hits) == 1, (message, match, found)
    return hits[0]


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        for form in secret_forms(secret):
            assert form not in text, form


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_normal_traffic_is_logged_with_connector_chat_and_delivery(
    tmp_path: Path, real_backend: Backend, log_format: str
) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(503), Reply(201, json={}), Reply(410))
    options = ["--retry-schedule", "0.2,0.2", "--workers", "1", "--log-format", log_format]
    served = Served(tmp_path, real_backend, *options)
    try:
        assert served.hook(1).status_code == 202
        wait_for(lambda: '"delivered"' in served.text() or " delivered " in served.text())
        assert served.hook(1).status_code == 200  # the duplicate
        assert served.hook(2).status_code == 202  # 410: dead at once
        wait_for(lambda: '"dead"' in served.text() or " dead " in served.text())
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as garbage:
            garbage.sendall(b"NOT HTTP\r\n\r\n")  # uvicorn's own warning
            garbage.recv(100)
        wait_for(lambda: "uvicorn.error" in served.text(), seconds=10)
    finally:
        text = served.stop()
    if log_format == "json":  # every line is one JSON object, the first one too
        assert all(isinstance(json.loads(line), dict) for line in text.splitlines())
    found = records(text, log_format)
    listening = the(found, "listening", url=f"http://127.0.0.1:{served.port}")
    assert "/hooks/crm" in listening["hooks"] and listening["outbox"].endswith("q.db")
    chat1 = {"connector": "crm", "chat": "1", "delivery": 1}
    assert the(found, "hook accepted", **chat1)["logger"] == "exportdsl.intake"
    assert the(found, "hook duplicate", connector="crm", chat="1")["level"] == "INFO"
    failed = the(found, "attempt", **chat1, attempt=1)
    assert failed["status"] == 503 and "503" in failed["error"]
    assert isinstance(failed["duration_ms"], float) and failed["duration_ms"] >= 0
    retry = the(found, "retry scheduled", **chat1)
    assert retry["next_attempt"] >= retry["time"] and 0 < retry["in_s"] <= 0.2
    assert the(found, "attempt", **chat1, attempt=2)["status"] == 201
    delivered = the(found, "delivered", **chat1)
    assert (delivered["logger"], delivered["status"], delivered["attempt"]) == (
        "exportdsl.delivery",
        201,
        2,
    )
    dead = the(found, "dead", connector="crm", chat="2", delivery=2)
    assert dead["level"] == "WARNING" and "410" in dead["reason"] and dead["status"] == 410
    # the shutdown says what it waits for, and when it is done
    stopping = the(found, "shutting down: no new connections; waiting for the hooks in flight")
    assert (stopping["hooks"], stopping["deliveries"], stopping["wait_s"]) == (0, 0, 30)
    assert the(found, "workers stopping: waiting for the deliveries in flight")["wait_s"] == 30
    assert the(found, "workers stopped")["deliveries"] == 0
    assert found[-1]["message"] == "stopped"
    # uvicorn's records come through the same handler, in the same format
    assert any(r["logger"] == "uvicorn.error" and r["level"] == "WARNING" for r in found)
    assert_no_secret(text)


def test_shutdown_says_how_many_hooks_and_deliveries_it_waits_for(
    tmp_path: Path, real_backend: Backend
) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, json={}, delay=1.5))  # in flight at the SIGTERM
    served = Served(tmp_path, real_backend, "--workers", "1")
    assert served.hook(1).status_code == 202
    wait_for(lambda: len(real_backend.requests_to("/report")) == 1)
    body = chat_json(2)
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as hook:
        # a hook in flight: its headers sent, its body not yet
        hook.sendall(
            b"POST /hooks/crm HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + INTAKE_SECRET.encode()
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body[:10]
        )
        wait_for(lambda: served.client.get("/metrics").status_code == 200)  # headers are read
        time.sleep(0.2)
        served.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "shutting down" in served.text(), seconds=10)
        hook.sendall(body[10:])  # the server waited for it: it is answered
        assert hook.recv(100).startswith(b"HTTP/1.1 202")
    text = served.stop()
    found = records(text, "text")
    stopping = the(found, "shutting down: no new connections; waiting for the hooks in flight")
    assert (stopping["hooks"], stopping["deliveries"], stopping["wait_s"]) == (1, 1, 30)
    assert the(found, "hook accepted", chat="2")
    assert the(found, "workers stopped")["deliveries"] == 0
    assert found[-1]["message"] == "stopped"


# --- redaction: in process, a worker meeting a bug that quotes secrets ----------------------------


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "stream", None) is stream:
            root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("exportdsl").setLevel(logging.NOTSET)


def _quoting_secrets(request: httpx.Request) -> httpx.Response:
    """A back end whose token answer is real and whose report request meets a bug: an exception
    (not an HTTP error) quoting the request's token and API key in every encoding there is."""
    if request.url.path == "/token":
        return httpx.Response(200, json=TOKEN.json)
    quoted = [
        *secret_forms(request.headers["authorization"].removeprefix("Bearer ")),
        *secret_forms(request.headers["x-api-key"]),
    ]
    raise RuntimeError("the transport broke on " + " ".join(quoted))


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_worker_exception_quoting_secrets_is_redacted_in_message_and_traceback(
    tmp_path: Path, log_stream: io.StringIO, log_format: str
) -> None:
    endpoints, _ = load_connectors(
        write_connectors(tmp_path / "c", "http://127.0.0.1:9"), SERVE_ENV
    )
    logs.install(log_format, logs.serve_secrets(endpoints.values(), SERVE_ENV), log_stream)
    deliverer = ExportDeliverer(
        {name: endpoint.plan for name, endpoint in endpoints.items()},
        env=SERVE_ENV,
        client_factory=lambda: httpx.Client(transport=httpx.MockTransport(_quoting_secrets)),
    )
    database = tmp_path / "q.db"
    outbox = SqliteOutbox(database)
    outbox.accept_many([Incoming("crm", "1", chat_json(1), "t", "key-1")])
    pool = WorkerPool(
        str(database),
        deliverer,
        PoolSettings(workers=1),
        outbox_factory=lambda path: SqliteOutbox(path, schedule=Schedule((60,))),
    )
    pool.start()
    try:
        wait_for(lambda: "retry scheduled" in log_stream.getvalue())
    finally:
        pool.stop(10)
        outbox.close()
    text = log_stream.getvalue()
    bug = the(records(text, log_format), "attempt failed unexpectedly", connector="crm")
    assert bug["level"] == "ERROR" and bug["delivery"] == 1
    traceback = bug["exception"] if log_format == "json" else text
    assert "Traceback" in traceback and "RuntimeError: the transport broke on" in traceback
    assert REDACTED in traceback
    for secret in (ACCESS_TOKEN, API_KEY):  # a token answer's, and a $env value
        for form in secret_forms(secret):
            assert form not in text, form


@pytest.mark.parametrize(
    "logger", ["exportdsl.delivery.workers", "exportdsl.some.child", "httpx", "uvicorn.error"]
)
def test_every_logger_record_and_traceback_goes_through_redaction(
    log_stream: io.StringIO, logger: str
) -> None:
    secret = "s3rvice-wide-SECRET/+="
    logs.install("text", Redactor([secret]), log_stream)
    try:
        raise ValueError(f"failed with {secret}")
    except ValueError:
        logging.getLogger(logger).error(
            "bad %s", secret, exc_info=True, stack_info=True, extra=logs.fields(key=secret)
        )
    text = log_stream.getvalue()
    assert "ValueError: failed with [REDACTED]" in text and "Stack (most recent call last)" in text
    assert "bad [REDACTED]" in text and "key=[REDACTED]" in text
    for form in secret_forms(secret):
        assert form not in text


def test_a_message_cannot_forge_a_record(log_stream: io.StringIO) -> None:
    logs.install("text", None, log_stream)
    logging.getLogger("exportdsl.intake").warning(
        "x\n2026-01-01T00:00:00.000Z INFO exportdsl.delivery delivered"
    )
    (line,) = log_stream.getvalue().splitlines()
    assert line.endswith("x\\n2026-01-01T00:00:00.000Z INFO exportdsl.delivery delivered")
