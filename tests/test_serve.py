"""The real-time intake end to end: a real uvicorn server on 127.0.0.1, a real SQLite outbox, real
workers exporting to a real receiver (tests/backend.py), loopback only, bounded."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from backend import ENV, SAMPLE_CHAT, TOKEN, Backend, Reply, connector_text

from exportdsl.delivery.outbox import Schedule
from exportdsl.delivery.server import Intake
from exportdsl.delivery.service import Settings, build
from exportdsl.export.webhooks import headers as signed
from exportdsl.export.webhooks import key_bytes

INTAKE_SECRET = "intake-S3CRET-0123456789"
SERVE_ENV = ENV | {"INTAKE_SECRET": INTAKE_SECRET}
CHAT = json.loads(SAMPLE_CHAT.read_text(encoding="utf-8"))
FAST = Schedule((0.05, 0.05, 0.05), jitter=0.0)  # four attempts, 50 ms apart


def chat_json(chat_id: int) -> bytes:
    return json.dumps(CHAT | {"channel": CHAT["channel"] | {"id": chat_id}}).encode()


def write_connectors(folder: Path, base: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "crm.yaml").write_text(
        connector_text(base, extra="intake: {secret: $env.INTAKE_SECRET}")
    )
    (folder / "forward.yaml").write_text(
        "connector: {id: 8, name: Forward}\nclient: {id: 1001}\n"
        "intake: {secret: $env.INTAKE_SECRET}\n"
        f"export:\n  url: {base}/forward\n  headers: {{Content-Type: application/json}}\n"
        "  body: $chat\n"
    )
    (folder / "nobutton.yaml").write_text(
        "connector: {id: 9, name: No button}\nclient: {id: 1001}\n"
        "intake: {secret: $env.INTAKE_SECRET}\n"
        "export: {headers: {X-A: b}}\n"
    )
    return folder


class Running:
    """An intake served by uvicorn in a thread of this process."""

    def __init__(self, intake: Intake, config: uvicorn.Config | None = None) -> None:
        self.intake = intake
        self.server = uvicorn.Server(
            config
            or uvicorn.Config(
                intake.app(), host="127.0.0.1", port=0, log_level="warning", access_log=False
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def hook(self, connector: str, body: bytes, **options: Any) -> httpx.Response:
        return self.client.post(f"/hooks/{connector}", content=body, **options)

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def serve(tmp_path: Path, real_backend: Backend) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(schedule: Schedule = FAST, **settings: Any) -> Running:
        folder = write_connectors(tmp_path / "connectors", real_backend.base_url)
        intake = build(
            Settings(folder, tmp_path / "queue.db", schedule=schedule, **settings), SERVE_ENV
        )
        started.append(Running(intake))
        return started[-1]

    yield start
    for running in started:
        running.stop()


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return dict(
            db.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall()
        )


def test_a_hook_is_stored_before_its_2xx_and_delivered(
    serve: Callable[..., Running], real_backend: Backend, tmp_path: Path
) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, json={"id": "r1"}))
    running = serve(workers=1)
    response = running.hook("crm", chat_json(1), params={"token": INTAKE_SECRET})
    assert response.status_code == 202 and response.json()["status"] == "accepted"
    with sqlite3.connect(
        tmp_path / "queue.db"
    ) as db:  # another connection sees it: it is committed
        assert db.execute("SELECT chat_id FROM chats").fetchall() == [("1",)]
    wait_for(lambda: counts(tmp_path / "queue.db").get("delivered") == 1)
    (report,) = real_backend.requests_to("/report")
    assert (
        report.headers["idempotency-key"] == running.intake.outbox.deliveries()[0].idempotency_key
    )


@pytest.mark.parametrize("how", ["query", "bearer", "signature"])
def test_the_intake_secret_in_any_of_three_forms(serve: Callable[..., Running], how: str) -> None:
    running = serve(workers=1)
    body = chat_json(2)
    if how == "query":
        options: dict[str, Any] = {"params": {"token": INTAKE_SECRET}}
    elif how == "bearer":
        options = {"headers": {"Authorization": f"Bearer {INTAKE_SECRET}"}}
    else:
        options = {"headers": signed(key_bytes(INTAKE_SECRET), "msg_1", int(time.time()), body)}
    assert running.hook("crm", body, **options).status_code == 202


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"params": {"token": "wrong"}},
        {"headers": {"Authorization": "Bearer wrong"}},
        {"headers": {"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}},
    ],
)
def test_no_or_wrong_secret_is_401_and_stores_nothing(
    serve: Callable[..., Running], tmp_path: Path, options: dict[str, Any]
) -> None:
    running = serve(workers=1)
    assert running.hook("crm", chat_json(3), **options).status_code == 401
    assert counts(tmp_path / "queue.db") == {}


def test_an_invalid_chat_is_400_with_its_json_path(serve: Callable[..., Running]) -> None:
    running = serve(workers=1)
    bad = json.dumps(CHAT | {"messages": [{"type": "visitor"}]}).encode()
    response = running.hook("crm", bad, params={"token": INTAKE_SECRET})
    assert response.status_code == 400
    assert response.json()["path"] == "messages[0].sentAt"
    assert running.hook("crm", b"{not json", params={"token": INTAKE_SECRET}).status_code == 400


def test_an_unknown_connector_and_a_wrong_secret_answer_alike(
    serve: Callable[..., Running],
) -> None:
    # the answers must not tell an outsider which connectors exist
    running = serve(workers=1)
    unknown = running.hook("nope", chat_json(1), params={"token": INTAKE_SECRET})
    wrong = running.hook("crm", chat_json(1), params={"token": "wrong-" + INTAKE_SECRET})
    assert (unknown.status_code, unknown.content) == (wrong.status_code, wrong.content)
    assert unknown.status_code == 401
    assert unknown.headers["www-authenticate"] == wrong.headers["www-authenticate"]


def test_a_hook_without_any_credential_is_refused_before_its_body_is_read(
    serve: Callable[..., Running],
) -> None:
    running = serve(workers=1)
    host, port = running.url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        # a body of 5 MB is announced and never sent: the answer cannot wait for it
        connection.sendall(
            b"POST /hooks/crm HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000000\r\n\r\n"
        )
        answer = connection.recv(4096)
    assert answer.startswith(b"HTTP/1.1 401 ")


@pytest.mark.parametrize(
    ("body", "path"),
    [
        # an empty channel.id would make every later chat with one a duplicate of this one
        (json.dumps(CHAT | {"channel": CHAT["channel"] | {"id": ""}}), "channel.id"),
    ],
)
def test_a_chat_no_export_could_carry_is_400_with_its_json_path(
    serve: Callable[..., Running], tmp_path: Path, body: str, path: str
) -> None:
    running = serve(workers=1)
    response = running.hook("crm", body.encode(), params={"token": INTAKE_SECRET})
    assert (response.status_code, response.json()["path"]) == (400, path)
    assert counts(tmp_path / "queue.db") == {}


def test_a_number_no_consumer_can_read_is_400_not_500(serve: Callable[..., Running]) -> None:
    running = serve(workers=1)
    for number in ("9" * 400, "1e999"):
        body = json.dumps(CHAT)[:-1] + f', "extra": {number}}}'
        response = running.hook("crm", body.encode(), params={"token": INTAKE_SECRET})
        assert response.status_code == 400, response.text


def test_the_same_chat_twice_is_delivered_once(
    serve: Callable[..., Running], real_backend: Backend, tmp_path: Path
) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, json={}))
    running = serve(workers=2)
    first = running.hook("crm", chat_json(4), params={"token": INTAKE_SECRET})
    second = running.hook("crm", chat_json(4), params={"token": INTAKE_SECRET})
    assert (first.status_code, second.status_code) == (202, 200) and second.json()[
        "status"
    ] == "duplicate"
    wait_for(lambda: counts(tmp_path / "queue.db").get("delivered") == 1)
    time.sleep(0.2)
    assert len(real_backend.requests_to("/report")) == 1


def test_failures_then_success_is_one_delivery_with_one_key(
    serve: Callable[..., Running], real_backend: Backend, tmp_path: Path
) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(503), Reply(503), Reply(201, json={}))
    running = serve(workers=1)
    running.hook("crm", chat_json(5), params={"token": INTAKE_SECRET})
    wait_for(lambda: counts(tmp_path / "queue.db").get("delivered") == 1)
    reports = real_backend.requests_to("/report")
    assert len(reports) == 3 and len({r.headers["idempotency-key"] for r in reports}) == 1
    assert running.intake.outbox.deliveries()[0].attempts == 3


def test_always_failing_is_dead_after_the_schedule(
    serve: Callable[..., Running], real_backend: Backend, tmp_path: Path
) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(500))
    running = serve(workers=1)
    running.hook("crm", chat_json(6), params={"token": INTAKE_SECRET})
    wait_for(lambda: counts(tmp_path / "queue.db").get("dead") == 1)
    assert len(real_backend.requests_to("/report")) == FAST.attempts
    metrics = running.client.get("/metrics").text
    assert 'exportdsl_deliveries{state="dead"} 1.0' in metrics
    assert (
        "exportdsl_hooks_accepted_total" in metrics
        and "exportdsl_accept_latency_seconds_bucket" in metrics
    )


def test_a_4xx_is_dead_at_once(
    serve: Callable[..., Running], real_backend: Backend, tmp_path: Path
) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(410))
    running = serve(workers=1)
    running.hook("crm", chat_json(7), params={"token": INTAKE_SECRET})
    wait_for(lambda: counts(tmp_path / "queue.db").get("dead") == 1)
    assert len(real_backend.requests_to("/report")) == 1


def test_report_export_button(
    serve: Callable[..., Running], real_backend: Backend, tmp_path: Path
) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, json={}))
    running = serve(workers=1)
    running.hook("crm", chat_json(8), params={"token": INTAKE_SECRET})
    auth = {"Authorization": f"Bearer {INTAKE_SECRET}"}
    pressed = running.client.post("/connectors/crm/chats/8/export", headers=auth)
    assert pressed.status_code == 202
    wait_for(lambda: counts(tmp_path / "queue.db").get("delivered") == 2)
    keys = [r.headers["idempotency-key"] for r in real_backend.requests_to("/report")]
    assert len(set(keys)) == 2 and keys[1].startswith(
        keys[0]
    )  # a press is a new export of the same chat
    assert running.client.post("/connectors/crm/chats/999/export", headers=auth).status_code == 404
    assert (
        running.client.post("/connectors/nobutton/chats/8/export", headers=auth).status_code == 404
    )
    assert running.client.post("/connectors/crm/chats/8/export").status_code == 401


def test_forward_mode_posts_the_chat_as_is(
    serve: Callable[..., Running], real_backend: Backend, tmp_path: Path
) -> None:
    real_backend.on("/forward", Reply(200, json={}))
    running = serve(workers=1)
    running.hook("forward", chat_json(9), params={"token": INTAKE_SECRET})
    wait_for(lambda: counts(tmp_path / "queue.db").get("delivered") == 1)
    (forwarded,) = real_backend.requests_to("/forward")
    assert forwarded.json == json.loads(chat_json(9))


def test_health(serve: Callable[..., Running]) -> None:
    running = serve(workers=1)
    health = running.client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"


# --- the serving process, killed -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_command(folder: Path, database: Path | str, port: int, *options: str) -> list[str]:
    """`exportdsl serve` as a separate process runs it."""
    executable = str(Path(sys.executable).with_name("exportdsl"))
    where = ["--connectors", str(folder), "--db", str(database), "--port", str(port)]
    return [executable, "serve", *where, *options]


def start_process(
    folder: Path, database: Path | str, port: int, *extra: str
) -> subprocess.Popen[bytes]:
    schedule = "0.2,0.2,0.2,0.2,0.2"
    options = ("--workers", "4", "--lease", "2", "--retry-schedule", schedule, *extra)
    command = serve_command(folder, database, port, *options)
    process = subprocess.Popen(
        command, env=os.environ | SERVE_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, (
            "exportdsl serve did not start"
        )
        time.sleep(0.05)


def post_hooks(port: int, chat_ids: range) -> list[str]:
    """Hooks for these chats to the serve process at ``port``; the ids of those accepted (202)."""
    accepted = []
    with httpx.Client(timeout=10) as client:
        for chat_id in chat_ids:
            answer = client.post(
                f"http://127.0.0.1:{port}/hooks/crm",
                content=chat_json(chat_id),
                params={"token": INTAKE_SECRET},
            )
            if answer.status_code == 202:
                accepted.append(str(chat_id))
    return accepted


def test_kill_9_mid_delivery_loses_nothing(tmp_path: Path, real_backend: Backend) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on(
        "/report", Reply(201, json={}, delay=0.15)
    )  # slow: deliveries are in flight at the kill
    folder, database, port = (
        write_connectors(tmp_path / "c", real_backend.base_url),
        tmp_path / "q.db",
        free_port(),
    )
    process = start_process(folder, database, port)
    accepted = post_hooks(port, range(100, 140))
    wait_for(lambda: len(real_backend.requests_to("/report")) >= 5)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    in_flight = counts(database)
    assert in_flight.get("pending", 0) > 0, "the kill should catch deliveries in flight"
    process = start_process(folder, database, port)  # same database: leases run out, work resumes
    try:
        wait_for(lambda: counts(database) == {"delivered": len(accepted)}, seconds=60)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert len(accepted) == 40
    received = {report.headers["idempotency-key"] for report in real_backend.requests_to("/report")}
    with sqlite3.connect(database) as db:
        stored = {key for (key,) in db.execute("SELECT idempotency_key FROM deliveries")}
    # every accepted chat arrived; a repeat (the kill cut an attempt short) carried the same key
    assert len(stored) == 40 and received == stored


def test_sigterm_stops_gracefully(tmp_path: Path, real_backend: Backend) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, json={}, delay=0.1))
    folder, database, port = (
        write_connectors(tmp_path / "c", real_backend.base_url),
        tmp_path / "q.db",
        free_port(),
    )
    process = start_process(folder, database, port)
    with httpx.Client(timeout=10) as client:
        for chat_id in range(200, 210):
            client.post(
                f"http://127.0.0.1:{port}/hooks/crm",
                content=chat_json(chat_id),
                params={"token": INTAKE_SECRET},
            )
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) in (
        0,
        -signal.SIGTERM,
    )  # uvicorn re-raises the signal after shutting down
    state = counts(database)
    assert sum(state.values()) == 10  # nothing lost: delivered, or pending for the next start
    with sqlite3.connect(database) as db:  # nothing left leased to the stopped process
        assert (
            db.execute("SELECT COUNT(*) FROM deliveries WHERE lease_owner IS NOT NULL").fetchone()[
                0
            ]
            == 0
        )


def test_a_signed_button_press_is_refused(serve: Callable[..., Running]) -> None:
    running = serve(workers=1)
    running.hook("crm", chat_json(11), params={"token": INTAKE_SECRET})
    signature = signed(key_bytes(INTAKE_SECRET), "msg_1", int(time.time()), b"")
    assert (
        running.client.post("/connectors/crm/chats/11/export", headers=signature).status_code == 401
    )


def test_a_wrong_token_is_refused_before_the_body_is_read(serve: Callable[..., Running]) -> None:
    running = serve(workers=1)
    with socket.create_connection(
        ("127.0.0.1", int(running.url.rsplit(":", 1)[1])), timeout=5
    ) as connection:
        connection.sendall(
            b"POST /hooks/crm?token=wrong HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n"
        )
        assert connection.recv(100).startswith(b"HTTP/1.1 401")  # no 10 MB were waited for


def test_a_taken_port_is_a_clear_error_not_an_internal_one(tmp_path: Path) -> None:
    folder = write_connectors(tmp_path / "connectors", "http://127.0.0.1:9")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            serve_command(folder, tmp_path / "q.db", port),
            env=os.environ | SERVE_ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1, result.stderr
    assert f"exportdsl serve: cannot listen on 127.0.0.1:{port}: Address already in use" in (
        result.stderr
    )
