"""The real-time intake: an ASGI app (Starlette) over the outbox and its workers.

    POST /hooks/{connector}                          a Smartsupp-style chat JSON (the POST hook)
    POST /connectors/{connector}/chats/{id}/export   the Report Export button: export a stored chat
    GET  /healthz                                    the database answers
    GET  /metrics                                    Prometheus text

A hook is answered 2xx only after its chat passed admission (`admission`: it can be delivered) and
it and its delivery are committed to disk (group commit); a chat already accepted for the
connector (same ``channel.id``, same or later ``endAt``) is acknowledged without a second
delivery. Authentication is the connector's intake secret: ``?token=``, ``Authorization: Bearer``,
or a Standard Webhooks signature.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import time
from collections import Counter as Tally
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from exportdsl.compiler.plan import Plan
from exportdsl.delivery.admission import INLINE_ADMISSION, Admission
from exportdsl.delivery.groupcommit import GroupCommitter
from exportdsl.delivery.health import StorageHealth
from exportdsl.delivery.limits import BodySlots, Limits
from exportdsl.delivery.logs import fields
from exportdsl.delivery.nodes import Membership
from exportdsl.delivery.outbox import Incoming, Outbox
from exportdsl.delivery.rendering import InThread, Renderer
from exportdsl.delivery.store import open_outbox
from exportdsl.delivery.workers import Outcome, WorkerPool
from exportdsl.errors import ExportDslError, OutboxError
from exportdsl.export.webhooks import verify

__all__ = ["MAX_BODY", "RETRY_LATER", "Endpoint", "Intake", "Metrics", "Unavailable"]

MAX_BODY = 10 << 20  # a chat with 50,000 messages is ~5 MB of JSON
RETRY_LATER = {"Retry-After": "5"}  # 503s the sender should send again: seconds

log = logging.getLogger("exportdsl.intake")


@dataclass(frozen=True)
class Endpoint:
    """A connector as the intake sees it."""

    name: str
    plan: Plan
    intake_secret: str | None  # None: the connector accepts no hooks
    target: str  # the back end's host, for the per-target concurrency limit

    @property
    def export_enabled(self) -> bool:
        return self.plan.export_enabled

    @functools.cached_property
    def admission(self) -> Admission:
        """What its hooks must pass: the chat model and the render check (`admission`)."""
        return Admission(self.plan)


@dataclass(frozen=True)
class Unavailable:
    """A connector whose file is in the folder but does not serve now (connectors.py), and why."""

    name: str
    intake_secret: str | None  # None: not known, so nobody can be told more than 401
    reasons: tuple[str, ...]


def _nothing_unavailable(_: str) -> Unavailable | None:
    return None


class Metrics(Collector):
    def __init__(self, outbox: Outbox, membership: Membership) -> None:
        self.outbox = outbox
        self.membership = membership
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "exportdsl_hooks_accepted",
            "Hooks accepted and stored",
            ["connector"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "exportdsl_hooks_duplicate",
            "Hooks for chats accepted before",
            ["connector"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "exportdsl_hooks_rejected", "Hooks refused", ["reason"], registry=self.registry
        )
        self.attempts = Counter(
            "exportdsl_delivery_attempts", "Delivery attempts", ["result"], registry=self.registry
        )
        self.accept_latency = Histogram(
            "exportdsl_accept_latency_seconds",
            "From request to durable 2xx",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.delivery_latency = Histogram(
            "exportdsl_delivery_latency_seconds",
            "One delivery attempt",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.registry.register(self)

    def collect(self) -> list[Metric]:
        counts = self.outbox.counts()
        family = GaugeMetricFamily(
            "exportdsl_deliveries", "Deliveries in the outbox by state", labels=["state"]
        )
        for state in ("pending", "retrying", "delivered", "dead"):
            family.add_metric([state], counts[state])
        nodes = GaugeMetricFamily(
            "exportdsl_nodes", "Nodes working the outbox by state", labels=["state"]
        )
        states = Tally([node.state for node in self.membership.peers()])
        for state in ("alive", "dead", "stopped"):
            nodes.add_metric([state], states[state])
        rescues = self.membership.rescues
        rescued = CounterMetricFamily(
            "exportdsl_rescued_deliveries",
            "Deliveries this node took back from dead nodes",
            labels=["result"],
        )
        rescued.add_metric(["released"], rescues.released)
        rescued.add_metric(["dead"], rescues.dead)
        return [family, nodes, rescued]

    def observe(self, _: object, outcome: Outcome, seconds: float) -> None:
        result = "delivered" if outcome.delivered else "permanent" if outcome.permanent else "retry"
        self.attempts.labels(result).inc()
        self.delivery_latency.observe(seconds)


class Intake:
    def __init__(
        self,
        endpoints: Mapping[str, Endpoint],
        location: str,
        pool: WorkerPool,
        clock: Callable[[], float] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.outbox = open_outbox(location, clock=clock)  # thread-safe
        self.committer = GroupCommitter(open_outbox(location, clock=clock))
        self.pool = pool
        self.clock = clock or time.time  # signatures' timestamps are checked against it
        self.metrics = Metrics(self.outbox, pool.membership)
        self.accepting = True
        self.hooks_in_flight = 0  # what a shutdown waits for (logged)
        self.unavailable: Callable[[str], Unavailable | None] = _nothing_unavailable
        self.storage = StorageHealth()
        self.monitoring_token: str | None = None  # required by /healthz and /metrics when set
        self.render: Renderer = InThread()  # the workers' PDFs: started and stopped with them
        self.mounts: list[BaseRoute] = []  # apps served beside the intake (the console)
        # Bodies read at once, in two pools: a token is checked before its body is read, a signature
        # only after, so unverified senders trickling bodies cannot take the slots of verified ones.
        bounds = limits or Limits()
        self.body_slots = {
            verified: BodySlots(bounds.max_bodies, bounds.body_wait) for verified in (True, False)
        }

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/hooks/{connector}", self._counted_hook, methods=["POST"]),
                Route(
                    "/connectors/{connector}/chats/{chat_id}/export", self.button, methods=["POST"]
                ),
                Route("/healthz", self.health, methods=["GET"]),
                Route("/metrics", self.prometheus, methods=["GET"]),
                *self.mounts,
            ],
            lifespan=self.lifespan,
        )

    @asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        self.render.start()
        self.pool.start()
        try:
            yield
        finally:  # uvicorn has stopped accepting connections and finished the requests in flight
            self.accepting = False
            await asyncio.to_thread(self.committer.close)
            await asyncio.to_thread(self.pool.stop)
            await asyncio.to_thread(self.render.close)

    async def _counted_hook(self, request: Request) -> Response:
        self.hooks_in_flight += 1  # the event loop's thread alone changes it
        try:
            return await self.hook(request)
        finally:
            self.hooks_in_flight -= 1

    async def hook(self, request: Request) -> Response:
        started = time.perf_counter()
        endpoint = self.endpoints.get(request.path_params["connector"])
        if endpoint is None or endpoint.intake_secret is None:
            return await self._not_served(request, signatures=True)
        unauthorized = self._refuse_unauthorized
        presented = _presented_secret(request)
        if presented is None and not request.headers.get("webhook-signature"):
            return unauthorized()  # no credential at all: refused before any body is read
        if presented is not None and not _matches(endpoint.intake_secret, presented):
            return unauthorized()  # decided before reading a body nobody asked for
        body = await self._read_in_turn(request, verified=presented is not None)
        if isinstance(body, Response):
            return body
        # a presented secret was checked above; without one, the signature covers the body
        if presented is None and not self._authorized(endpoint.intake_secret, request, body):
            return unauthorized()
        try:  # a large chat off the event loop: 10 MB take ~0.3 s to read, check and key
            if len(body) <= INLINE_ADMISSION:
                admitted = endpoint.admission(body)
            else:
                admitted = await asyncio.to_thread(endpoint.admission, body)
        except ExportDslError as error:
            return self._refuse("invalid", 400, error.message, path=getattr(error, "json_path", ""))
        if not self.accepting:
            return self._refuse("shutting down", 503, "shutting down; send it again", RETRY_LATER)
        damage = self.storage.problem
        if damage is not None and damage.damaged:  # a write may succeed; reading it back may not
            return self._refuse("storage", 503, "the outbox is damaged; send it again", RETRY_LATER)
        chat = admitted.chat  # its key is the export's own: a CLI export of this chat matches
        incoming = Incoming(
            endpoint.name, str(chat.channel.id), body, endpoint.target, admitted.key, chat.end_at
        )
        try:
            accepted = await asyncio.wrap_future(self.committer.submit(incoming))
        except Exception as error:  # nothing was stored: the sender must try again
            self.storage.failed(error)
            return self._refuse(
                "storage", 503, "could not store the chat; send it again", RETRY_LATER
            )
        self.storage.succeeded()
        self.metrics.accept_latency.observe(time.perf_counter() - started)
        log.info(
            "hook duplicate" if accepted.duplicate else "hook accepted",
            extra=fields(
                connector=endpoint.name, chat=incoming.chat_id, delivery=accepted.delivery_id
            ),
        )
        if accepted.duplicate:
            self.metrics.duplicates.labels(endpoint.name).inc()
            return JSONResponse({"status": "duplicate", "chat": incoming.chat_id}, status_code=200)
        self.metrics.accepted.labels(endpoint.name).inc()
        self.pool.wake()
        return JSONResponse(
            {"status": "accepted", "chat": incoming.chat_id, "delivery": accepted.delivery_id},
            status_code=202,
        )

    async def button(self, request: Request) -> Response:
        endpoint = self.endpoints.get(request.path_params["connector"])
        if endpoint is None:
            return await self._not_served(request, signatures=False)
        # ?token= or Bearer only: a signature over an empty body would cover neither the chat nor
        # the path, and could be replayed to export any chat again
        if endpoint.intake_secret is None or not _secret_matches(endpoint.intake_secret, request):
            return self._refuse_unauthorized()
        if not endpoint.export_enabled:  # said only to the secret's holder, as the rest
            return JSONResponse(
                {"error": "no Report Export for this connector (export.url is not set)"}, 404
            )
        chat_id = request.path_params["chat_id"]
        try:
            delivery = await asyncio.to_thread(
                self.outbox.request_export, endpoint.name, chat_id, endpoint.target
            )
        except OutboxError:
            return JSONResponse({"error": f"no chat {chat_id} stored for this connector"}, 404)
        except Exception as error:  # the outbox failed: nothing was stored, press again
            self.storage.failed(error)
            return self._refuse(
                "storage", 503, "could not store the export; press again", RETRY_LATER
            )
        self.storage.succeeded()
        self.pool.wake()
        return JSONResponse(
            {"status": "accepted", "chat": chat_id, "delivery": delivery}, status_code=202
        )

    async def health(self, request: Request) -> Response:
        refused = self._monitoring_refused(request)
        if refused is not None:
            return refused
        problem = await asyncio.to_thread(self.storage.check, self.outbox)
        if problem is not None:
            since = _iso(problem.since)
            return JSONResponse(
                {"status": "unhealthy", "error": problem.describe(), "since": since}, 503
            )
        try:
            counts = await asyncio.to_thread(self.outbox.counts)
        except Exception as error:
            return JSONResponse({"status": "error", "error": type(error).__name__}, 503)
        workers = {"alive": self.pool.alive(), "configured": self.pool.size}
        healthy = workers["alive"] == workers["configured"] or not self.accepting
        status = "stopping" if not self.accepting else "ok" if healthy else "degraded"
        nodes = await asyncio.to_thread(self._nodes)
        return JSONResponse(
            {"status": status, "deliveries": counts, "workers": workers, **nodes},
            200 if healthy else 503,
        )

    def _nodes(self) -> dict[str, object]:
        """This node, its peers as the outbox knows them, and what this node has rescued."""
        membership = self.pool.membership
        rescues = membership.rescues
        try:
            peers = [
                {"id": node.id, "state": node.state, "heartbeat_at": _iso(node.heartbeat_at)}
                for node in membership.peers()
                if node.id != membership.id and node.state == "alive"
            ]
        except Exception as error:  # the counts answered: say what failed, keep the rest
            peers = [{"error": type(error).__name__}]
        return {
            "node": membership.id,
            "peers": peers,
            "rescues": {
                "nodes": rescues.nodes,
                "deliveries": rescues.released,
                "dead": rescues.dead,
                "last": _iso(rescues.last) if rescues.last is not None else None,
                "rejoined": rescues.rejoined,
            },
        }

    async def prometheus(self, request: Request) -> Response:
        refused = self._monitoring_refused(request)
        if refused is not None:
            return refused
        return Response(
            await asyncio.to_thread(generate_latest, self.metrics.registry),
            media_type=CONTENT_TYPE_LATEST,
        )

    async def _not_served(self, request: Request, *, signatures: bool) -> Response:
        """A connector that does not serve: its reasons (503) for whoever presents its secret; to
        anyone else, and for names that are no connector, what a wrong secret gets (401), so the
        answers tell no outsider which connectors exist.

        A signed hook's body is read whatever the name, as a served connector's is before its
        signature can be checked: else a large declared length (413 or 401), a body held back
        (a wait or 401 at once) or full body slots (503 or 401) would tell the names apart."""
        unavailable = self.unavailable(request.path_params["connector"])
        secret = unavailable.intake_secret if unavailable is not None else None
        body: bytes | None = None
        signed = _presented_secret(request) is None and request.headers.get("webhook-signature")
        if signatures and signed:
            read = await self._read_in_turn(request, verified=False)
            if isinstance(read, Response):
                return read
            body = read
        if unavailable is None or secret is None:  # counted as a wrong secret too: an open
            return self._refuse_unauthorized()  # /metrics must not tell which names exist
        authorized = (
            self._authorized(secret, request, body)
            if body is not None
            else _secret_matches(secret, request)
        )
        if not authorized:
            return self._refuse_unauthorized()
        self.metrics.rejected.labels("not served").inc()
        message = f"connector {unavailable.name} is not served now; send it again later"
        return JSONResponse(
            {"error": message, "problems": list(unavailable.reasons)}, 503, headers=RETRY_LATER
        )

    async def _read_in_turn(self, request: Request, *, verified: bool) -> bytes | Response:
        """The body, read when one of its kind's `BodySlots` is free; or the answer when it cannot
        be: 503 when no slot came in time, 413 when too large, 400 when the sender went away."""
        slots = self.body_slots[verified]
        if not await slots.acquire():
            return self._refuse(
                "busy", 503, "too many hooks being received; send it again", {"Retry-After": "1"}
            )
        try:
            body = await _read(request)
        except ClientDisconnect:
            return Response(status_code=400)  # the sender went away; nobody reads this answer
        finally:
            slots.release()
        if body is None:
            return self._refuse("too large", 413, f"the body is larger than {MAX_BODY} bytes")
        return body

    def _monitoring_refused(self, request: Request) -> Response | None:
        """/healthz and /metrics: None when open, or when the monitoring token is presented."""
        token = self.monitoring_token
        given = _bearer(request.headers.get("authorization", ""))
        if token is None or hmac.compare_digest(given.encode(), token.encode()):
            return None
        return JSONResponse(
            {"error": "missing or wrong monitoring token (Authorization: Bearer)"},
            401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    def _refuse_unauthorized(self, reason: str = "unauthorized") -> Response:
        return self._refuse(
            reason, 401, "missing or wrong intake secret", {"WWW-Authenticate": "Bearer"}
        )

    def _authorized(self, secret: str, request: Request, body: bytes) -> bool:
        if _presented_secret(request) is not None:
            return _secret_matches(secret, request)
        signature = request.headers.get("webhook-signature")
        if signature:
            return verify(
                secret,
                request.headers.get("webhook-id", ""),
                request.headers.get("webhook-timestamp", ""),
                signature,
                body,
                self.clock(),
            )
        return False

    def _refuse(
        self,
        reason: str,
        status: int,
        message: str,
        headers: Mapping[str, str] | None = None,
        path: str | None = None,
    ) -> Response:
        self.metrics.rejected.labels(reason).inc()
        content: dict[str, str] = {"error": message}
        if path is not None:
            content["path"] = path
        return JSONResponse(content, status, headers=dict(headers or {}))


def _presented_secret(request: Request) -> str | None:
    return (
        request.query_params.get("token")
        or _bearer(request.headers.get("authorization", ""))
        or None
    )


def _secret_matches(secret: str, request: Request) -> bool:
    given = _presented_secret(request)
    return given is not None and _matches(secret, given)


def _matches(secret: str, given: str) -> bool:
    return hmac.compare_digest(given.encode(), secret.encode())


def _bearer(header: str) -> str:
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def _read(request: Request) -> bytes | None:
    """The body, or None when it is larger than `MAX_BODY` (read no further than that)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
