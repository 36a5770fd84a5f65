"""Benchmark: whole exports (PDF, render, token, report POST) against a receiver on 127.0.0.1.

Run from the repository root: ``.venv/bin/python -m bench.bench_export``.

The receiver is a raw-socket HTTP/1.1 keep-alive responder in a *separate process*: a stdlib
``http.server`` in a thread of this process would cost more than the client and, sharing the GIL,
would be measured with it. The baseline is the same two requests sent by hand-written httpx code
over the same kind of client: the same PDF (`render_transcript`), base64, an f-string XML template
with its escaping, ``json.dumps`` for the body, the token fetched once. exportdsl does the same work
plus its own: the compiled templates, the Idempotency-Key, answer reading with limits, redaction
bookkeeping. Both run interleaved, in rounds; the figures are medians over rounds.

Targets: a 6-message chat >= 200 exports/s with the token cached and <= 1.5 ms over the
baseline per export; a 1,000-message chat >= 5 exports/s; ``exportdsl export`` of one chat from a
cold start <= 300 ms (a subprocess, byte code cached as on a real install).
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import httpx

from bench.bench_transcript import sample_chat
from bench.timing import cold_seconds
from exportdsl.chat.model import ChatSession
from exportdsl.chat.reader import load_chat, parse_chat
from exportdsl.compiler.analysis import compile_connector
from exportdsl.connector.reader import parse_connector
from exportdsl.export.exporter import Exporter
from exportdsl.transcript.pdf import render_transcript
from exportdsl.transcript.settings import TranscriptSettings

__all__ = ["CONNECTOR", "SAMPLE", "SECRET", "TOKEN_ANSWER", "Baseline", "main"]

ROOT = Path(__file__).parent.parent
SAMPLE = ROOT / "exportdsl" / "data" / "sample-chat.json"
TARGET_RATE_SMALL, TARGET_OVERHEAD_MS, TARGET_RATE_LARGE, TARGET_COLD_MS = 200.0, 1.5, 5.0, 300.0
SECRET = "bench-client-secret-0123456789"
TOKEN_ANSWER = json.dumps(
    {"access_token": "bench-access-token-abcdef", "token_type": "Bearer", "expires_in": 3600}
).encode()

CONNECTOR = """connector: {{id: 7, name: ACME web chat}}
client: {{id: 1001}}
timezone: Europe/Berlin
pdata: {{tenant: acme, contact: John Doe}}
token:
  url: {base}/oauth2/token
  headers: {{Content-Type: application/x-www-form-urlencoded}}
  body: grant_type=client_credentials&client_id=$pdata.tenant&client_secret=$env.BENCH_SECRET
export:
  url: {base}/api/v2/tenants/$pdata.tenant/chat-reports
  headers:
    Authorization: Bearer $tokenResponse.body.JSON.access_token
    Content-Type: application/json
  body: |
    {{"client": "$ClientsID", "exportedAt": "$dateTime", "chatId": $chat.channel.id,
     "visitor": {{"name": "$!chat.visitor.name", "email": "$!chat.visitor.email"}},
     "report": {{"fileName": "chat-${{chat.channel.id}}.pdf", "size": $report.bytes, \
"data": "$report.encoded.base64"}},
     "metadata": "$xmlTemplate.encoded.base64"}}
xml_template: |
  <chatReport tenant="$pdata.tenant"><chat id="$chat.channel.id"/>\
<visitor>$!chat.visitor.name</visitor>
  <exportedAt>$dateTime</exportedAt></chatReport>
"""


# -- the receiver (a separate process) -------------------------------------------------------------


def _serve_connection(connection: socket.socket) -> None:
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = b""
    with connection:
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = connection.recv(262144)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(buffer) < length:
                chunk = connection.recv(max(262144, length - len(buffer)))
                if not chunk:
                    return
                buffer += chunk
            buffer = buffer[length:]
            body = TOKEN_ANSWER if b"/oauth2/token" in head.split(b"\r\n", 1)[0] else b'{"id":"r1"}'
            status = b"200 OK" if body is TOKEN_ANSWER else b"201 Created"
            connection.sendall(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )


@contextmanager
def receiving() -> Iterator[tuple[str, int]]:
    """The raw-socket receiver in a process of its own: its base URL and its pid."""
    parent, child = multiprocessing.Pipe()
    receiver = multiprocessing.Process(target=_receiver, args=(child,), daemon=True)
    receiver.start()
    try:
        yield f"http://127.0.0.1:{parent.recv()}", receiver.pid or 0
    finally:
        receiver.terminate()
        receiver.join()


def _receiver(port_out: Any) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port_out.send(listener.getsockname()[1])
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=_serve_connection, args=(connection,), daemon=True).start()


# -- the baseline: the same two requests by hand ---------------------------------------------------


class Baseline:
    def __init__(self, base: str, client: httpx.Client) -> None:
        self.base, self.client = base, client
        answer = client.post(
            f"{base}/oauth2/token",
            content=f"grant_type=client_credentials&client_id=acme&client_secret={SECRET}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        self.token = answer.json()["access_token"]

    def export(self, chat: ChatSession) -> None:
        pdf = render_transcript(chat, TranscriptSettings(timezone="Europe/Berlin"))
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        visitor = chat.visitor.name or ""
        xml = (
            f"<chatReport tenant={quoteattr('acme')}><chat id={quoteattr(str(chat.channel.id))}/>"
            f"<visitor>{escape(visitor)}</visitor><exportedAt>{now}</exportedAt></chatReport>\n"
        )
        body = json.dumps(
            {
                "client": "1001",
                "exportedAt": now,
                "chatId": chat.channel.id,
                "visitor": {"name": visitor, "email": chat.visitor.email or ""},
                "report": {
                    "fileName": f"chat-{chat.channel.id}.pdf",
                    "size": len(pdf),
                    "data": base64.b64encode(pdf).decode(),
                },
                "metadata": base64.b64encode(xml.encode()).decode(),
            },
            ensure_ascii=False,
        )
        response = self.client.post(
            f"{self.base}/api/v2/tenants/acme/chat-reports",
            content=body.encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        assert response.status_code == 201


# -- measuring -------------------------------------------------------------------------------------


def _per_call(function: Callable[[], Any], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        function()
    return (time.perf_counter() - started) / count


def _compare(
    ours: Callable[[], Any], baseline: Callable[[], Any], count: int, rounds: int
) -> tuple[float, float]:
    """Median seconds per call of each, measured interleaved so both see the same machine."""
    ours(), baseline()
    pairs = [(_per_call(ours, count), _per_call(baseline, count)) for _ in range(rounds)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def _cold_start(base: str, folder: Path) -> float:
    connector = folder / "bench.yaml"
    connector.write_text(CONNECTOR.format(base=base), encoding="utf-8")
    command = [
        str(Path(sys.executable).parent / "exportdsl"),
        "export",
        str(connector),
        str(SAMPLE),
    ]
    return cold_seconds(command, runs=11, env={"BENCH_SECRET": SECRET})


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    with receiving() as (base, _):
        _measure(base)


def _measure(base: str) -> None:
    plan = compile_connector(parse_connector(CONNECTOR.format(base=base), "bench.yaml"))
    small, large = load_chat(SAMPLE), parse_chat(sample_chat(1_000))
    with httpx.Client() as client, httpx.Client() as baseline_client:
        exporter = Exporter(plan, client, env={"BENCH_SECRET": SECRET})
        baseline = Baseline(base, baseline_client)

        def ours_small() -> None:
            assert exporter.run(small).ok

        ours, by_hand = _compare(ours_small, lambda: baseline.export(small), count=40, rounds=7)
        pdf_only = statistics.median(
            _per_call(
                lambda: render_transcript(small, TranscriptSettings(timezone="Europe/Berlin")), 40
            )
            for _ in range(5)
        )
        rate, overhead_ms = 1 / ours, (ours - by_hand) * 1000
        print(
            f"6-message chat, token cached: {ours * 1000:.2f} ms/export = {rate:.0f} exports/s "
            f"(target >= {TARGET_RATE_SMALL:.0f}) {_verdict(rate >= TARGET_RATE_SMALL)}"
        )
        print(
            f"  hand-written httpx baseline: {by_hand * 1000:.2f} ms = "
            f"{1 / by_hand:.0f} exports/s; "
            f"ratio {ours / by_hand:.2f}x"
        )
        print(
            f"  overhead over the baseline: {overhead_ms:.2f} ms/export "
            f"(target <= {TARGET_OVERHEAD_MS} ms) "
            f"{_verdict(overhead_ms <= TARGET_OVERHEAD_MS)}"
        )
        print(
            f"  of which neither can avoid: the PDF transcript alone {pdf_only * 1000:.2f} ms "
            f"({pdf_only / ours:.0%} of an export); without it exportdsl would do "
            f"{1 / max(ours - pdf_only, 1e-9):.0f} exports/s"
        )

        def ours_large() -> None:
            assert exporter.run(large).ok

        ours_l, by_hand_l = _compare(ours_large, lambda: baseline.export(large), count=2, rounds=5)
        print(
            f"1,000-message chat: {ours_l * 1000:.1f} ms/export = {1 / ours_l:.1f} exports/s "
            f"(target >= {TARGET_RATE_LARGE:.0f}) {_verdict(1 / ours_l >= TARGET_RATE_LARGE)}; "
            f"baseline {by_hand_l * 1000:.1f} ms, ratio {ours_l / by_hand_l:.2f}x"
        )
    with tempfile.TemporaryDirectory() as folder:
        cold = _cold_start(base, Path(folder)) * 1000
    bare = cold_seconds([sys.executable, "-c", "pass"], runs=11) * 1000
    print(
        f"`exportdsl export` of one chat, cold process: {cold:.0f} ms "
        f"(bare python start {bare:.0f} ms, {cold / bare:.1f}x; target <= {TARGET_COLD_MS:.0f} ms) "
        f"{_verdict(cold <= TARGET_COLD_MS)}"
    )
    print("(receiver: raw-socket HTTP/1.1 keep-alive responder in a separate process)")


if __name__ == "__main__":
    main()
