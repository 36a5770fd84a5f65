"""The intake's limits: what a client can make the server hold, and for how long.

uvicorn's HTTP protocols leave a server open to slow and greedy clients: the httptools protocol
(the fast one, which `serve` uses) reads a request head of any size, waits for a head or a body as
long as a client trickles it, and after an early answer (a 401 before the body) reads and throws
away whatever body is still coming. `LimitedHttpToolsProtocol` adds, per connection:

- a head (request line and headers) larger than `Limits.max_head` is answered 431 and closed;
- a head that is not complete `Limits.head_timeout` seconds after its first byte (or after the
  connection was opened) is answered 408 (or closed, when nothing came) — slowloris;
- a body that is not complete `Limits.body_timeout` seconds after its head is answered 408;
- at most `Limits.max_connections` connections: a new one beyond that closes the connection that
  has waited longest for a request head (a slow or idle client), or is answered 503 when every
  connection is in the middle of a request.

`close_unread_bodies` answers `Connection: close` when the application answered without reading the
whole body, so the connection is closed rather than drained; `BodySlots` bounds the bodies read at
once. uvicorn's own `limit_concurrency` is not used: it counts open connections but refuses only
requests whose head is complete, so slow clients holding connections would make real hooks get 503.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import resource
import socket
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from exportdsl.delivery.logs import fields
from exportdsl.errors import ServeError

__all__ = [
    "DESCRIPTOR_RESERVE",
    "MIN_CONNECTIONS",
    "RECEIVE_BUFFER",
    "BodySlots",
    "LimitedHttpToolsProtocol",
    "Limits",
    "bound_receive_buffers",
    "close_unread_bodies",
    "connection_cap",
    "log_connection_cap",
    "proxy_options",
    "server_config",
]

# The kernel's receive buffer of each client connection (it books twice this): without it, Linux
# grows the buffer to 6 MiB for a client that keeps sending, memory outside the process that the
# limits here would not bound. 128 KiB still takes a body at 2.5 MB/s over a 100 ms round trip.
RECEIVE_BUFFER = 128 << 10

# Descriptors the server needs besides its clients' connections: the outbox's SQLite files (a
# connection per thread, each with its WAL and shared memory), the workers' HTTP connections, logs.
DESCRIPTOR_RESERVE = 128
MIN_CONNECTIONS = 16  # a default cap is lowered no further: a server this small is a mistake

log = logging.getLogger("exportdsl.intake")


@dataclass(frozen=True)
class Limits:
    """What one client may make the server hold; `docs/serve.md` ("Limits") explains each."""

    max_head: int = 16 << 10  # bytes of request line and headers; more is 431
    head_timeout: float = 10.0  # seconds from a head's first byte (or the connection) to its end
    body_timeout: float = 30.0  # seconds from the head's end to the body's last byte
    max_connections: int = 1000  # open client connections
    max_bodies: int = 8  # hook bodies read at once, per kind (token-checked; signed)
    body_wait: float = 2.0  # seconds a hook waits for a free body slot before its 503
    # seconds a new (or newly idle) connection is not closed to make room: a real client's head
    # comes a round trip after it connects, and closing it then would leave it without an answer
    eviction_grace: float = 0.5


class BodySlots:
    """At most `size` bodies read at once. A reader that finds none free waits `wait` seconds at
    most, then is refused: a waiting reader costs little (its body waits in the kernel's buffers
    and uvicorn's 64 KiB), but an unbounded wait would hold its connection for ever."""

    def __init__(self, size: int, wait: float) -> None:
        self._free = asyncio.Semaphore(size)
        self._wait = wait

    async def acquire(self) -> bool:
        if not self._free.locked():  # a slot is free: taken at once, with no timer to arm
            await self._free.acquire()  # does not wait: nothing runs between the check and this
            return True
        try:
            async with asyncio.timeout(self._wait):
                await self._free.acquire()
        except TimeoutError:
            return False
        return True

    def release(self) -> None:
        self._free.release()


def close_unread_bodies(app: ASGIApp) -> ASGIApp:
    """``app``, but an answer given before the request's body was read whole says
    ``Connection: close``: uvicorn would otherwise keep the connection and read the rest of the body
    (up to whatever length the client announced) only to throw it away."""

    async def closing(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await app(scope, receive, send)
            return
        read_whole = False

        async def watched_receive() -> Message:
            nonlocal read_whole
            event = await receive()
            if event["type"] == "http.disconnect" or not event.get("more_body", False):
                read_whole = True
            return event

        async def closing_send(event: Message) -> None:
            if event["type"] == "http.response.start" and not read_whole:
                event = {**event, "headers": [*event.get("headers", []), (b"connection", b"close")]}
            await send(event)

        await app(scope, watched_receive, closing_send)

    return closing


def _has_body(scope: Scope) -> bool:
    headers = dict(scope.get("headers", []))
    length = headers.get(b"content-length", b"0").strip()
    return b"transfer-encoding" in headers or length not in (b"", b"0")


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of this module's docstring. `limits` is set on
    a subclass made by `server_config` (uvicorn builds its protocols itself, from the class)."""

    limits: ClassVar[Limits] = Limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_bytes = 0  # of the head being read
        self.in_body = False  # between a head's end and its body's end
        self.chunked = False  # the body being read has chunk framing, and may have trailers
        self.body_left = 0  # of a Content-Length body being read
        self.refused = False  # a head was refused while an earlier request is being answered
        self.upgrade_ignored = False  # the body of a request asking to upgrade, read by hand
        self.body_received = 0  # of the body being read (what the parser gave as body)
        self.framing = 0  # bytes of a chunked body since its last body byte: framing, trailers
        self.waiting_since = 0.0  # when the connection began waiting for a head
        self.head_timer: asyncio.TimerHandle | None = None
        self.body_timer: asyncio.TimerHandle | None = None

    # --- connections -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.waiting_since = time.monotonic()  # not the loop's time: one per loop turn
        self._arm_head_timer()
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def _make_room(self) -> None:
        """Over the cap: close the connection that has waited longest for a request head (a slow
        client's, or an idle keep-alive) once it has had its grace, or refuse this one (503, an
        answer its sender can retry) when every other is busy or has just connected."""
        now = time.monotonic()
        waiting = [
            other
            for other in self.connections
            if isinstance(other, LimitedHttpToolsProtocol)
            and other is not self
            and other.waiting()
            and now - other.waiting_since >= self.limits.eviction_grace
            and not other.transport.is_closing()
        ]
        if waiting:
            min(waiting, key=lambda other: other.waiting_since).cut_off()
        else:
            self._answer_and_close(503, "too many connections; try again")

    def waiting(self) -> bool:
        """Waiting for a request head, or reading one: no request of this connection is running."""
        return not self.in_body and (self.cycle is None or self.cycle.response_complete)

    def cut_off(self) -> None:
        if self.head_bytes:
            self._answer_and_close(408, "the request head did not arrive in time")
        else:
            self.transport.close()

    # --- the request head --------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        # The parser is fed no further than the limits: httptools keeps a header (or a chunked
        # body's trailer) being read in memory whatever its length, so what exceeds the limit is
        # never handed to it.
        while data and not self.refused and self.parser is not None:
            if self.transport.is_closing():
                return
            data = self._feed_body(data) if self.in_body else self._feed_head(data)

    def _feed_head(self, data: bytes) -> bytes:
        """Feeds ``data`` to the parser up to the head's limit (431 beyond it); returns the rest."""
        if self.head_timer is None:
            self._arm_head_timer()
        room = self.limits.max_head - self.head_bytes
        piece, rest = data[:room], data[room:]
        self.head_bytes += len(piece)
        rest = self._parse(piece) + rest
        if (
            not self.transport.is_closing()
            and not self.in_body
            and self.head_bytes >= self.limits.max_head
        ):
            self._refuse_head()
        return rest

    def _refuse_head(self) -> None:
        """431 for a head over the limit. A pipelined one behind a request still being answered
        is not read further: that answer goes first (a 431 now would be taken for it), then the
        connection is closed."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self._answer_and_close(431, "the request head is larger than the limit")
            return
        self.refused = True
        cycle.keep_alive = False
        self._cancel_timers()

    def _feed_body(self, data: bytes) -> bytes:
        """Feeds the body being read; returns what follows it, or what is left to feed. A
        Content-Length body is fed to its end and no further: what follows is the next request's
        head (pipelined), and is counted as a head. A chunked body is fed in pieces, and what is
        not body in them is counted: its trailers are headers at its end, which the parser keeps
        in memory as any header (and uvicorn adds to the request's headers), and framing without
        body holds a body slot for nothing: the head's limit bounds both (431)."""
        if self.upgrade_ignored:
            return self._feed_upgrade_body(data)
        if not self.chunked:
            if self.body_left <= 0:  # no length to go by: the parser ends the body as it sees fit
                return self._parse(data)
            piece, rest = data[: self.body_left], data[self.body_left :]
            return self._parse(piece) + rest
        piece, rest = data[: self.limits.max_head], data[self.limits.max_head :]
        before = self.body_received
        rest = self._parse(piece) + rest
        if self.transport.is_closing() or not self.in_body:
            return rest
        body = self.body_received - before
        self.framing = len(piece) - body if body else self.framing + len(piece)
        if self.framing >= self.limits.max_head:
            self._refuse_body(
                431, "the request's chunk framing or trailers are larger than the limit"
            )
        return rest

    def _parse(self, data: bytes) -> bytes:
        """uvicorn's `data_received` (the parser fed, a malformed request answered 400), but what
        follows the head of a request asking to upgrade to what this server does not speak (h2c:
        `curl --http2`) is returned, to be read on as HTTP/1.1 (RFC 9110 §7.8 lets a server ignore
        Upgrade). uvicorn drops it, and the request's body with it: the hook was read as empty."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
        except httptools.HttpParserUpgrade as upgrade:
            if self._should_upgrade():  # a websocket, when uvicorn has a library for them
                self.handle_websocket_upgrade()
            elif self.upgrade_ignored and self.chunked:  # no parser left to read its chunks
                self._refuse_body(400, "send a request asking to upgrade with a Content-Length")
            else:
                return data[upgrade.args[0] :]
        return b""

    def _feed_upgrade_body(self, data: bytes) -> bytes:
        """The Content-Length body of a request asking to upgrade: the parser took the request as
        ending with its head (httptools has it skip the body of an upgrade), so it is given to
        the application here; returns what follows it."""
        piece, rest = data[: self.body_left], data[self.body_left :]
        if piece:
            self.on_body(piece)
        if self.body_left <= 0:
            self.upgrade_ignored = False
            self.on_message_complete()
        return rest

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self.head_bytes = 0
        self.in_body = True
        headers = dict(self.headers)
        self.chunked = b"transfer-encoding" in headers
        length = headers.get(b"content-length", b"").strip()
        self.body_left = int(length) if length.isdigit() else 0
        self.body_received = self.framing = 0
        self.upgrade_ignored = (
            self.parser.should_upgrade()
            and not self._should_upgrade()
            and (self.chunked or self.body_left > 0)
        )
        self.body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self.body_received += len(body)
        self.body_left -= len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self.upgrade_ignored:  # the parser's end of an upgrade's head: its body is to come
            return
        self.in_body = False
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self.waiting_since = time.monotonic()  # idle now: keep-alive, until the next head
        super().on_response_complete()

    def _arm_head_timer(self) -> None:
        self.head_timer = self.loop.call_later(self.limits.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_head_timer()
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if not self.transport.is_closing() and self.waiting():
            self.cut_off()

    def _body_timed_out(self) -> None:
        self.body_timer = None
        self._refuse_body(408, "the request body did not arrive in time")

    def _refuse_body(self, status: int, message: str) -> None:
        """Answers ``status`` for a request whose body is being read, and closes."""
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None:
            return
        if cycle.response_started:  # answered already: only the connection is left to close
            self.transport.close()
            return
        cycle.disconnected = True  # the application reading the body is told the client went away
        cycle.message_event.set()
        self._answer_and_close(status, message)

    def _answer_and_close(self, status: int, message: str) -> None:
        """An answer written by the protocol itself, then the connection is closed at once: nothing
        more the client sends is read. Only the connection is closed when a response is already
        being written (a pipelined request's): the two would mix."""
        self._cancel_timers()
        cycle = self.cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            self.transport.close()
            return
        text = message.encode()
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.append(
            b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n" % len(text)
        )
        content.append(text)
        self.transport.write(b"".join(content))
        self.transport.close()


def bound_receive_buffers(listener: socket.socket) -> None:
    """Connections accepted by ``listener`` get `RECEIVE_BUFFER` (set before any is accepted)."""
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)


def connection_cap(limits: Limits, *, asked: bool) -> Limits:
    """``limits`` with its connection cap checked against the descriptors this process may open
    (the soft limit is raised towards the hard one when the cap needs it): a server that runs out of
    descriptors cannot accept anything, health checks included. A cap the operator ``asked`` for is
    an error when it does not fit; the default one is lowered to what fits, and logged."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = limits.max_connections + DESCRIPTOR_RESERVE
    if needed > soft and (hard == resource.RLIM_INFINITY or needed <= hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        soft = needed
    if needed <= soft:
        return limits
    room = soft - DESCRIPTOR_RESERVE
    if not asked and room >= MIN_CONNECTIONS:
        return dataclasses.replace(limits, max_connections=room)
    raise ServeError(
        f"--max-connections {limits.max_connections} needs {needed} file descriptors "
        f"({DESCRIPTOR_RESERVE} for the server itself); this process may open {soft}",
        hint=(
            f"lower --max-connections to {room} or raise the limit"
            if room >= MIN_CONNECTIONS
            else "raise the limit"
        )
        + " (ulimit -n, LimitNOFILE= in a systemd unit)",
    )


def log_connection_cap(limits: Limits, default: int) -> None:
    """A default cap lowered to the descriptors allowed is worth a warning: the operator may want
    to raise the limit."""
    if limits.max_connections < default:
        log.warning(
            "connection cap lowered to fit the file descriptor limit",
            extra=fields(
                max_connections=limits.max_connections,
                descriptors=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            ),
        )


def server_config(app: ASGIApp, limits: Limits, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` under ``limits`` (``options`` go to `uvicorn.Config`)."""
    protocol = type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})
    return uvicorn.Config(close_unread_bodies(app), http=protocol, **options)


def proxy_options(forwarded_allow_ips: str | None) -> dict[str, Any]:
    """uvicorn's options for the reverse proxies to believe: none unless named. uvicorn believes
    127.0.0.1's X-Forwarded-For by default, and any client's header then chose the address the
    console's login throttle counts by (docs/serve.md, ``--forwarded-allow-ips``)."""
    if not forwarded_allow_ips:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": forwarded_allow_ips}
