"""A scripted back end for the export tests (fixtures and helpers, imported by the test modules).

It comes twice: as an `httpx.MockTransport` and as a real threaded HTTP/1.1 server on 127.0.0.1.
A test says what each path answers, in order; the last answer repeats.

The real server really sleeps (past the client's timeout) and really resets connections; the mock
raises the errors httpx would raise for those.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from exportdsl.chat.model import ChatSession
from exportdsl.chat.reader import parse_chat
from exportdsl.compiler.analysis import compile_connector
from exportdsl.compiler.plan import Plan
from exportdsl.connector.reader import parse_connector
from exportdsl.errors import ConnectorError

__all__ = [
    "ACCESS_TOKEN",
    "API_KEY",
    "CLIENT_SECRET",
    "ENV",
    "SAMPLE_CHAT",
    "TOKEN",
    "Backend",
    "Received",
    "Reply",
    "backend_fixture",
    "connector_text",
    "make_plan",
    "real_backend_fixture",
    "sample_chat",
    "secret_forms",
]

SAMPLE_CHAT = Path(__file__).parent.parent / "exportdsl" / "data" / "sample-chat.json"
CLIENT_SECRET = 'cl1ent-S3CRET/+&="ü'  # characters that every encoding changes
ACCESS_TOKEN = "acc3ss-T0KEN.abc/+xyz"
API_KEY = "api-K3Y-0123456789"


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # the real server sleeps this long before answering; the mock times out
    reset: bool = False  # the connection is reset instead of answered

    def content(self) -> bytes:
        return json.dumps(self.json).encode() if self.json is not None else self.body

    def all_headers(self) -> dict[str, str]:
        defaults = {"Content-Type": "application/json"} if self.json is not None else {}
        return defaults | self.headers


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Backend:
    """What the exporter talks to: ``base_url``, a ``client``, a script, and what was received."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.script: dict[str, list[Reply]] = {}
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.base_url = "http://backend.test"
        self.client = httpx.Client()
        self.server: ThreadingHTTPServer | None = None

    def on(self, path: str, *replies: Reply) -> None:
        self.script[path] = list(replies)

    def next_reply(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self.lock:
            self.received.append(Received(method, path, headers, body))
            replies = self.script.get(path) or [Reply(404, json={"error": "not scripted"})]
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def requests_to(self, path: str) -> list[Received]:
        return [item for item in self.received if item.path == path]

    # -- the mock -------------------------------------------------------------------------------
    def start_mock(self) -> None:
        def handle(request: httpx.Request) -> httpx.Response:
            assert request.url.host == "backend.test", f"connected to {request.url.host}"
            headers = {name.lower(): value for name, value in request.headers.items()}
            reply = self.next_reply(request.method, request.url.path, headers, request.read())
            if reply.reset:
                raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
            if reply.delay:
                raise httpx.ReadTimeout("timed out", request=request)
            return httpx.Response(
                reply.status, headers=reply.all_headers(), content=reply.content()
            )

        self.client = httpx.Client(transport=httpx.MockTransport(handle))

    # -- the real server ------------------------------------------------------------------------
    def start_server(self) -> None:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                # http.server reads header bytes as latin-1; the exporter sends UTF-8
                headers = {
                    name.lower(): value.encode("latin-1").decode("utf-8", "replace")
                    for name, value in self.headers.items()
                }
                reply = backend.next_reply(self.command, self.path, headers, body)
                if reply.reset:  # RST instead of FIN: SO_LINGER with a zero timeout
                    self.request.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    self.request.close()
                    return
                time.sleep(reply.delay)
                content = reply.content()
                self.send_response(reply.status)
                for name, value in reply.all_headers().items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = answer

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (timeout test) is expected

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        host, port = self.server.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"
        self.client = httpx.Client()

    def close(self) -> None:
        self.client.close()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture(name="backend", params=["mock", "real"])
def backend_fixture(request: pytest.FixtureRequest) -> Iterator[Backend]:
    server = Backend(request.param)
    if request.param == "mock":
        server.start_mock()
    else:
        server.start_server()
    yield server
    server.close()


@pytest.fixture(name="real_backend")
def real_backend_fixture() -> Iterator[Backend]:
    server = Backend("real")
    server.start_server()
    yield server
    server.close()


def connector_text(
    base: str, *, token: bool = True, extra: str = "", export_url: str | None = None
) -> str:
    """A jtel-style connector against ``base``.

    Form-encoded token POST, JSON report with the XML template.
    """
    token_section = (
        f"""
token:
  url: {base}/token
  headers: {{Content-Type: application/x-www-form-urlencoded}}
  body: grant_type=client_credentials&client_id=$pdata.tenant&client_secret=$env.CLIENT_SECRET
"""
        if token
        else ""
    )
    auth = "Bearer $tokenResponse.body.JSON.access_token" if token else "Bearer $env.CLIENT_SECRET"
    url = f"{base}/report" if export_url is None else export_url
    url_line = f"  url: {url}\n" if url else ""
    return f"""connector: {{id: 7, name: Test connector}}
client: {{id: 1001}}
timezone: Europe/Prague
pdata: {{tenant: acme}}
{token_section}
export:
{url_line}  headers:
    Authorization: {auth}
    X-Api-Key: $env.API_KEY
    Content-Type: application/json
  body: |
    {{"at": "$dateTime", "pdf": "$report.encoded.base64", "size": $report.bytes,
     "xml": "$xmlTemplate.encoded.base64", "visitor": "$!chat.visitor.name"}}
xml_template: |
  <chat at="$dateTime"><visitor>$!chat.visitor.name</visitor><key>$env.API_KEY</key></chat>
retry: {{attempts: 3, backoff: 0.5, max_delay: 4}}
timeout: {{connect: 2, total: 5}}
{extra}
"""


def make_plan(base: str, **options: Any) -> Plan:
    return compile_connector(parse_connector(connector_text(base, **options), "test.yaml"))


def sample_chat(**visitor: Any) -> ChatSession:
    return parse_chat(_sample_chat_data(visitor))


def sample_chat_file(folder: Path, **visitor: Any) -> Path:
    """The sample chat with these visitor fields, as a file for the CLI."""
    path = folder / "chat.json"
    path.write_text(json.dumps(_sample_chat_data(visitor)), encoding="utf-8")
    return path


def _sample_chat_data(visitor: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE_CHAT.read_text(encoding="utf-8"))
    data["visitor"].update(visitor)
    return data


ENV = {"CLIENT_SECRET": CLIENT_SECRET, "API_KEY": API_KEY}
TOKEN = Reply(json={"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600})


def secret_forms(secret: str) -> list[str]:
    """The forms a secret can take in output: as is, percent- and form-encoded, JSON-escaped,
    base64 (standard and URL-safe). Redaction must catch every one."""
    data = secret.encode()
    return [
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        base64.b64encode(data).decode(),
        base64.urlsafe_b64encode(data).decode(),
    ]


def loader_diagnostics(text: str) -> list[tuple[int, int, str, str | None]]:
    """The loader's diagnostics of a connector text that must fail: line, column, message, hint."""
    with pytest.raises(ConnectorError) as raised:
        parse_connector(text, "c.yaml")
    return [
        (d.location.line, d.location.column, d.message, d.hint)
        for d in raised.value.diagnostics
        if d.location is not None
    ]
