"""``exportdsl demo``: a real export, end to end, on this machine and nothing else.

A receiver (stdlib ``http.server`` in a thread, on 127.0.0.1 and a free port) plays the customer's
back end: a token endpoint that checks the client secret, and a report endpoint that checks the
bearer token and the Standard Webhooks signature, decodes the PDF and saves it. The sample chat
and the connector ship inside the package (``exportdsl/data``), so the demo works from a wheel.
The chat is exported twice: the second run takes the token from the cache, and the receiver
recognises the repeated ``Idempotency-Key`` and keeps one copy.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from exportdsl.chat.reader import load_chat
from exportdsl.compiler.analysis import compile_connector
from exportdsl.connector.reader import load_connector
from exportdsl.export.client import make_client
from exportdsl.export.exporter import Exporter
from exportdsl.export.redact import Redactor
from exportdsl.export.results import ExportResult
from exportdsl.export.webhooks import verify

__all__ = ["DEMO_CONNECTOR", "SAMPLE_CHAT", "DemoRun", "Receiver", "run_demo"]

DATA = Path(__file__).parent.parent / "data"
SAMPLE_CHAT = DATA / "sample-chat.json"
DEMO_CONNECTOR = DATA / "demo-connector.yaml"
MAX_BODY = 64 << 20


@dataclass
class DemoRun:
    """What the demo did: both exports, what the receiver saw, and where the PDF went."""

    results: list[ExportResult]
    receiver_log: list[str]
    saved: list[Path]
    redact: Redactor


class Receiver:
    """The stand-in back end. Use as a context manager: it serves until the block ends."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.client_secret = secrets.token_urlsafe(24)
        self.signing_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")
        self.tokens: set[str] = set()
        self.deliveries: dict[str, dict[str, Any]] = {}  # Idempotency-Key -> first answer
        self.log: list[str] = []
        self.saved: list[Path] = []
        self.lock = threading.RLock()  # save() notes while report() holds it
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.receiver = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), name="exportdsl-demo", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    # -- the endpoints (called from the handler thread) --------------------------------------------
    def token(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if form.get("client_secret") != [self.client_secret]:
            self.note("token endpoint: wrong client secret, answered 401")
            return 401, {"error": "invalid_client"}
        token = secrets.token_urlsafe(32)
        self.tokens.add(token)
        self.note(
            "token endpoint: client secret checked, issued a bearer token (expires in 3600 s)"
        )
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}

    def report(self, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        authorization = str(headers.get("Authorization", ""))
        if authorization.removeprefix("Bearer ") not in self.tokens:
            self.note("report endpoint: unknown bearer token, answered 401")
            return 401, {"error": "invalid_token"}
        if not self.signature_ok(headers, body):
            self.note("report endpoint: bad webhook signature, answered 401")
            return 401, {"error": "bad signature"}
        key = str(headers.get("Idempotency-Key", ""))
        with self.lock:
            if key in self.deliveries:
                self.note(
                    f"report endpoint: Idempotency-Key {key} seen before, "
                    "kept one copy (answered 200)"
                )
                return 200, self.deliveries[key]
            status, answer = self.save(json.loads(body))
            if status == 201:
                self.deliveries[key] = answer
        return status, answer

    def signature_ok(self, headers: Any, body: bytes) -> bool:
        """Checked with the intake server's verifier.

        That is an implementation independent of the signer's.
        """
        return verify(
            self.signing_secret,
            str(headers.get("webhook-id", "")),
            str(headers.get("webhook-timestamp", "")),
            str(headers.get("webhook-signature", "")),
            body,
            time.time(),
        )

    def save(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        report = payload.get("report", {})
        try:
            pdf = base64.b64decode(report.get("data", ""), validate=True)
        except (binascii.Error, ValueError):
            return 422, {"error": "report.data is not base64"}
        if not pdf.startswith(b"%PDF-") or len(pdf) != report.get("size"):
            return 422, {"error": "report.data is not the PDF announced by report.size"}
        target = self.output / Path(str(report.get("fileName", "chat.pdf"))).name
        target.write_bytes(pdf)
        self.saved.append(target)
        self.note(
            f"report endpoint: token and signature checked, "
            f"decoded a {len(pdf):,}-byte PDF, saved {target}"
        )
        return 201, {"id": f"rep-{len(self.saved)}", "pdfBytes": len(pdf)}

    def note(self, line: str) -> None:
        with self.lock:
            self.log.append(line)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real back end

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes; without this, Nagle and delayed ACKs add 40 ms
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        receiver: Receiver = self.server.receiver  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(min(length, MAX_BODY))
        if self.path == "/oauth/token":
            status, answer = receiver.token(parse_qs(body.decode("utf-8", "replace")))
        elif self.path.endswith("/chat-reports"):
            status, answer = receiver.report(self.headers, body)
        else:
            status, answer = 404, {"error": "not found"}
        data = json.dumps(answer).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the demo prints what the receiver did, not an access log."""


def run_demo(output: Path) -> DemoRun:
    """Export the sample chat twice to a local receiver; PDFs land in ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    chat = load_chat(SAMPLE_CHAT)
    plan = compile_connector(load_connector(DEMO_CONNECTOR))
    with Receiver(output) as receiver:
        plan = dataclasses.replace(plan, pdata={**plan.pdata, "receiver": receiver.url})
        env = {
            "DEMO_CLIENT_SECRET": receiver.client_secret,
            "DEMO_SIGNING_SECRET": receiver.signing_secret,
        }
        with make_client() as client:
            exporter = Exporter(plan, client, env=env)
            results = [exporter.run(chat), exporter.run(chat)]
    redact = Redactor()  # the demo prints both exports: it hides what either of them met
    for result in results:
        redact.merge(result.redact)
    return DemoRun(results, list(receiver.log), list(receiver.saved), redact)
