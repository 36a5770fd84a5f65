"""Three `exportdsl serve` nodes on one PostgreSQL outbox, one killed with SIGKILL mid-delivery and
never restarted (issue 13): every hook that got a 2xx is delivered, duplicates only under the same
Idempotency-Key, the per-target limit never exceeded across the nodes (the receiver counts the
requests it is answering at once), and the dead node's work rescued within 10 s.

Real processes, a real PostgreSQL cluster (tests/conftest.py), a real receiver; loopback only.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.test_serve import (
    INTAKE_SECRET,
    chat_json,
    free_port,
    start_process,
    wait_for,
    write_connectors,
)

pytestmark = pytest.mark.timeout(180)

PER_TARGET = 2
ANSWER_DELAY = 0.2  # seconds the receiver takes over each report: deliveries overlap


class Receiver:
    """The back end: a token endpoint, and a report endpoint that counts how many requests it is
    answering at once (the per-target limit, seen from the target)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0  # requests being answered at this moment
        self.keys: list[str] = []
        self.answered: list[tuple[str, float, float]] = []  # (Idempotency-Key, start, end)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/token"):
                    self.reply({"access_token": "t0k3n-for-the-test", "expires_in": 3600})
                    return
                started = time.time()
                key = self.headers.get("Idempotency-Key", "")
                with receiver.lock:
                    receiver.now += 1
                try:
                    time.sleep(ANSWER_DELAY)
                finally:
                    with receiver.lock:
                        receiver.now -= 1
                        receiver.keys.append(key)
                        receiver.answered.append((key, started, time.time()))
                self.reply({}, 201)

            def reply(self, body: object, status: int = 200) -> None:
                content = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def most_at_once(self, leaving_out: set[str], before: float) -> int:
        """The most requests answered at once, leaving out those under `leaving_out`'s keys that
        started before `before`: a killed node's request in flight, which the back end goes on
        answering after the node is gone (docs/serve.md, "Nodes")."""
        with self.lock:
            counted = [
                (start, end)
                for key, start, end in self.answered
                if not (key in leaving_out and start < before)
            ]
        events = sorted([(start, 1) for start, _ in counted] + [(end, -1) for _, end in counted])
        most = now = 0
        for _, change in events:  # an end before a start at the same instant
            now += change
            most = max(most, now)
        return most

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as connection:
        return connection.execute(sql).fetchall()


def test_three_nodes_one_killed_every_accepted_chat_delivered_within_the_limit(
    tmp_path: Path, receiver: Receiver, postgres_url: str
) -> None:
    folder = write_connectors(tmp_path / "c", receiver.base_url)
    options = ("--lease", "120", "--per-target", str(PER_TARGET), "--node-timeout", "3")
    ports = [free_port() for _ in range(3)]
    nodes = [start_process(folder, postgres_url, port, *options) for port in ports]
    try:
        accepted = []
        with httpx.Client(timeout=10) as client:
            for number, chat_id in enumerate(range(1000, 1060)):  # spread over the three
                answer = client.post(
                    f"http://127.0.0.1:{ports[number % 3]}/hooks/crm",
                    content=chat_json(chat_id),
                    params={"token": INTAKE_SECRET},
                )
                if answer.status_code == 202:
                    accepted.append(answer.json()["delivery"])
        assert len(accepted) == 60

        holding: list[tuple[str, int]] = []

        def someone_holds_a_delivery() -> bool:  # whichever node is mid-delivery now
            holding[:] = query(
                postgres_url,
                "SELECT n.id, n.pid FROM nodes AS n WHERE n.state = 'alive' AND EXISTS (SELECT 1"
                " FROM deliveries AS d WHERE d.status = 'pending'"
                " AND starts_with(d.lease_owner, n.id || '/'))",
            )
            return bool(holding)

        wait_for(someone_holds_a_delivery, seconds=60)
        node_id, pid = holding[0]
        (victim,) = [node for node in nodes if node.pid == pid]

        def held() -> list[int]:
            return [
                row[0]
                for row in query(
                    postgres_url,
                    "SELECT id FROM deliveries WHERE status = 'pending'"
                    f" AND starts_with(lease_owner, '{node_id}/')",
                )
            ]

        victim.send_signal(signal.SIGKILL)
        killed_at = time.time()
        victim.wait(10)
        rescued = held()
        assert rescued, "the kill should catch deliveries in flight"

        def delivered() -> int:
            return query(
                postgres_url, "SELECT COUNT(*) FROM deliveries WHERE status = 'delivered'"
            )[0][0]

        wait_for(lambda: delivered() == 60, seconds=60)
        finished = query(
            postgres_url,
            f"SELECT MAX(finished_at) FROM deliveries WHERE id IN ({', '.join(map(str, rescued))})",
        )[0][0]
        assert finished - killed_at < 10, f"rescued {finished - killed_at:.1f} s after the kill"
        cut_short = {
            row[0]
            for row in query(
                postgres_url,
                "SELECT idempotency_key FROM deliveries"
                f" WHERE id IN ({', '.join(map(str, rescued))})",
            )
        }
        most = receiver.most_at_once(cut_short, killed_at)
        assert most <= PER_TARGET, f"{most} requests at once to one target"
        stored = {row[0] for row in query(postgres_url, "SELECT idempotency_key FROM deliveries")}
        sent = Counter(receiver.keys)
        assert set(sent) == stored and len(stored) == 60  # each chat delivered, under its own key
        repeats = {key for key, times in sent.items() if times > 1}
        assert len(repeats) <= len(rescued)  # only a cut-short attempt is sent again
        (dead,) = query(postgres_url, f"SELECT state FROM nodes WHERE id = '{node_id}'")
        assert dead == ("dead",)
    finally:
        for node in nodes:
            if node.poll() is None:
                node.send_signal(signal.SIGTERM)
        for node in nodes:
            try:
                node.wait(30)
            except subprocess.TimeoutExpired:
                node.kill()
