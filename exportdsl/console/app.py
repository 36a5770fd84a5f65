"""The console: server-rendered pages (Starlette, Jinja2) for the operators of an outbox.

    GET  /console/                          deliveries: filters, keyset pages, live updates
    GET  /console/deliveries/rows           the same list's rows and counts (the page polls it)
    GET  /console/deliveries/{id}           a delivery and its attempt history
    POST /console/deliveries/{id}/retry     send it again now (a retrying or dead one)
    POST /console/deliveries/{id}/purge     remove a finished one
    GET  /console/connectors                the served connectors and what stops the others
    GET|POST /console/login, POST /logout   the admin secret in, a session cookie out

Off unless an admin secret is configured (`security.console_secret`). Every page but the login
needs the session cookie; every POST its CSRF token; every answer carries a strict
Content-Security-Policy (`security.HEADERS`): the page's only script is the console's own file.
Jinja2 escapes every value (autoescape on for every template); what the outbox holds (errors,
answers) was redacted before it was stored.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exportdsl.compiler.plan import Plan
from exportdsl.console.dryrun import rendered, transcript
from exportdsl.console.playground import EXAMPLE, MAX_CHAT, MAX_SOURCE, check_source
from exportdsl.console.security import (
    COOKIE,
    HEADERS,
    LOGIN_COOKIE,
    SESSION_SECONDS,
    LoginThrottle,
    Session,
    Sessions,
    same_token,
)
from exportdsl.delivery.outbox import Delivery, DeliveryQuery, Outbox
from exportdsl.delivery.server import Endpoint
from exportdsl.errors import ExportDslError, OutboxError
from exportdsl.vocabulary import DeliveryStatus

__all__ = ["PAGE", "PREFIX", "ConnectorView", "Console"]

PREFIX = "/console"
PAGE = 50  # deliveries a page
MAX_FORM = 16 << 10  # bytes of a console form at most (a secret, a token)
STATES = ("pending", "retrying", "delivered", "dead")
HERE = Path(__file__).parent


@dataclass(frozen=True)
class ConnectorView:
    """A connector as the console lists it: served or not, and its problems as `check` gives
    them (``file:line:col: message [CODE]``)."""

    name: str
    served: bool
    takes_hooks: str  # "yes", or why not
    export: str  # "yes", or why the Report Export button does not show
    problems: tuple[str, ...] = ()
    explained: str = ""  # `exportdsl explain` of the plan that serves


class Console:
    """The console's pages over an outbox (shared by the requests' threads: both back ends are
    thread-safe); ``connectors`` lists what the connectors page shows, ``wake`` is called when a
    delivery was queued again (serve's workers then look at once)."""

    def __init__(
        self,
        outbox: Outbox,
        secret: str,
        *,
        connectors: Callable[[], Iterable[ConnectorView]] = tuple,
        wake: Callable[[], None] = lambda: None,
        served: Callable[[], Mapping[str, Endpoint]] = dict,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.outbox = outbox
        self.secret = secret
        self.sessions = Sessions(secret, clock)
        self.connectors = connectors
        self.wake = wake  # a retried delivery: the workers look now (serve)
        self.served = served  # the connectors served: a delivery's requests, PDF, export button
        self.env: Mapping[str, str] = {} if env is None else env  # their $env values
        self.clock = clock
        self.throttle = throttle or LoginThrottle()
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=True,  # every template, whatever its name: nothing is rendered raw
            undefined=StrictUndefined,
        )
        self.templates.filters["when"] = _when

    def app(self) -> ASGIApp:
        routes = [
            Route("/", self.deliveries, methods=["GET"]),
            Route("/deliveries/rows", self.rows, methods=["GET"]),
            Route("/deliveries/{delivery_id:int}", self.delivery, methods=["GET"]),
            Route("/deliveries/{delivery_id:int}/request", self.request_view, methods=["GET"]),
            Route("/deliveries/{delivery_id:int}/transcript.pdf", self.transcript, methods=["GET"]),
            Route("/deliveries/{delivery_id:int}/retry", self.retry, methods=["POST"]),
            Route("/deliveries/{delivery_id:int}/purge", self.purge, methods=["POST"]),
            Route("/deliveries/{delivery_id:int}/export", self.report_export, methods=["POST"]),
            Route("/connectors", self.connector_list, methods=["GET"]),
            Route("/playground", self.playground, methods=["GET"]),
            Route("/playground/check", self.playground_check, methods=["POST"]),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        return _Headers(Starlette(routes=routes))

    # --- pages -----------------------------------------------------------------------------------

    async def deliveries(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _to_login()
        query = _query(request)
        listed = await self._listing(query)
        return self._page(
            "deliveries.html",
            session,
            **listed,
            filters=_filters(request),
            connector_names=sorted(view.name for view in self.connectors()),
            states=STATES,
            rows_url=f"{PREFIX}/deliveries/rows?{urlencode(_filters(request) | _before(query))}",
        )

    async def rows(self, request: Request) -> Response:
        """The list's rows and counts for the live update: 401 without a session (the page's
        script then goes to the login)."""
        session = self._session(request)
        if session is None:
            return Response("log in again", 401, media_type="text/plain")
        listed = await self._listing(_query(request))
        return self._page("rows.html", session, **listed, filters=_filters(request))

    async def delivery(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _to_login()
        delivery_id = int(request.path_params["delivery_id"])
        delivery = await asyncio.to_thread(self.outbox.delivery, delivery_id)
        if delivery is None:
            return self._page("missing.html", session, delivery_id=delivery_id, status=404)
        attempts = await asyncio.to_thread(self.outbox.attempts, delivery_id)
        return self._page(
            "delivery.html",
            session,
            delivery=delivery,
            state=_state(delivery),
            attempts=attempts,
            done=request.query_params.get("done", ""),
            can_export=self._exports(delivery.connector),
        )

    async def request_view(self, request: Request) -> Response:
        """The delivery's requests as its connector renders them now for its chat (the dry run:
        nothing is sent), redacted, with a link to the chat's PDF."""
        session = self._session(request)
        if session is None:
            return _to_login()
        found = await self._delivery_plan(request)
        if isinstance(found, Response):
            return found
        delivery, plan, body = found
        shown = await asyncio.to_thread(rendered, plan, body, self.env)
        return self._page("request.html", session, delivery=delivery, shown=shown)

    async def transcript(self, request: Request) -> Response:
        """The chat's PDF transcript as the delivery sends it (``$report``), to download."""
        if self._session(request) is None:
            return _to_login()
        found = await self._delivery_plan(request)
        if isinstance(found, Response):
            return found
        delivery, plan, body = found
        try:
            pdf = await asyncio.to_thread(transcript, plan, body)
        except ExportDslError as error:
            return Response(f"no transcript: {error.message}", 422, media_type="text/plain")
        name = f"delivery-{delivery.id}.pdf"
        disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(pdf, media_type="application/pdf", headers=disposition)

    async def _delivery_plan(self, request: Request) -> tuple[Delivery, Plan, bytes] | Response:
        """The delivery asked for, its connector's plan and its chat as stored; or the answer
        saying which of them is missing (404, as text)."""
        delivery_id = int(request.path_params["delivery_id"])
        delivery = await asyncio.to_thread(self.outbox.delivery, delivery_id)
        if delivery is None:
            return Response(f"no delivery {delivery_id}", 404, media_type="text/plain")
        endpoint = self.served().get(delivery.connector)
        if endpoint is None:
            why = f"connector {delivery.connector} is not served by this console"
            return Response(why, 404, media_type="text/plain")
        try:
            body = await asyncio.to_thread(
                self.outbox.chat_body, delivery.connector, delivery.chat_id, delivery.end_at
            )
        except OutboxError:
            return Response("its chat is no longer stored", 404, media_type="text/plain")
        return delivery, endpoint.plan, body

    async def connector_list(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _to_login()
        views = sorted(self.connectors(), key=lambda view: view.name)
        return self._page("connectors.html", session, connectors=views)

    async def playground(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _to_login()
        return self._page("playground.html", session, example=EXAMPLE)

    async def playground_check(self, request: Request) -> Response:
        """The page's connector and chat, checked and rendered (`playground.check_source`): JSON
        in and out, the session's CSRF token in ``X-CSRF-Token`` (a POST like the others)."""
        session = self._session(request)
        if session is None:
            return JSONResponse({"error": "log in again"}, 401)
        if not same_token(request.headers.get("x-csrf-token", ""), session.csrf):
            return JSONResponse({"error": "not this session's page: reload it"}, 403)
        given = await _json(request, MAX_SOURCE + MAX_CHAT + 4096)
        source, chat = (given or {}).get("source"), (given or {}).get("chat", "")
        if not isinstance(source, str) or not isinstance(chat, str):
            return JSONResponse({"error": 'expected {"source": "…", "chat": "…"}'}, 400)
        if len(source) > MAX_SOURCE or len(chat) > MAX_CHAT:
            return JSONResponse({"error": "the connector or the chat is too large"}, 413)
        return JSONResponse(await asyncio.to_thread(check_source, source, chat))

    # --- actions (POST, each with the session's CSRF token) --------------------------------------

    async def retry(self, request: Request) -> Response:
        return await self._act(request, self._retry)

    async def purge(self, request: Request) -> Response:
        return await self._act(request, self._purge)

    async def report_export(self, request: Request) -> Response:
        """The Report Export button, as jtel shows it to an agent: a new delivery of the
        delivery's chat (its latest version), with a key of its own."""
        return await self._act(request, self._report_export)

    async def _act(
        self, request: Request, action: Callable[[int], Awaitable[tuple[str, str]]]
    ) -> Response:
        session = self._session(request)
        if session is None:
            return _to_login()
        form = await _form(request)
        if form is None or not same_token(form.get("csrf", ""), session.csrf):
            return self._page("refused.html", session, status=403)
        where, done = await action(int(request.path_params["delivery_id"]))
        return RedirectResponse(f"{where}?{urlencode({'done': done})}", 303)

    async def _retry(self, delivery_id: int) -> tuple[str, str]:
        count = await asyncio.to_thread(self.outbox.retry, [delivery_id])
        if count:
            self.wake()
        done = "queued again" if count else "not queued: being attempted right now, or gone"
        return f"{PREFIX}/deliveries/{delivery_id}", done

    async def _report_export(self, delivery_id: int) -> tuple[str, str]:
        here = f"{PREFIX}/deliveries/{delivery_id}"
        delivery = await asyncio.to_thread(self.outbox.delivery, delivery_id)
        endpoint = self.served().get(delivery.connector) if delivery is not None else None
        if delivery is None or endpoint is None or not endpoint.export_enabled:
            return here, "no Report Export: the connector is not served or has no export.url"
        try:
            made = await asyncio.to_thread(
                self.outbox.request_export, delivery.connector, delivery.chat_id, endpoint.target
            )
        except OutboxError:
            return here, "no Report Export: the chat is no longer stored"
        self.wake()
        return f"{PREFIX}/deliveries/{made}", f"Report Export pressed for chat {delivery.chat_id}"

    async def _purge(self, delivery_id: int) -> tuple[str, str]:
        count = await asyncio.to_thread(self.outbox.purge, [delivery_id])
        if count:
            return f"{PREFIX}/", f"delivery {delivery_id} purged"
        return f"{PREFIX}/deliveries/{delivery_id}", "not purged: pending work is never purged"

    # --- logging in and out ----------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        return self._login_page(request, "", 200)

    async def login(self, request: Request) -> Response:
        address = request.client.host if request.client else "?"
        wait = self.throttle.wait(address)
        if wait > 0:
            page = self._login_page(request, "too many failed logins: wait a minute", 429)
            page.headers["Retry-After"] = str(int(wait) + 1)
            return page
        form = await _form(request)
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if form is None or not expected or not same_token(form.get("csrf", ""), expected):
            return self._login_page(request, "the form expired: log in again", 403)
        if not same_token(form.get("secret", ""), self.secret):
            self.throttle.failed(address)
            return self._login_page(request, "wrong secret", 401)
        cookie, _ = self.sessions.issue()
        response = RedirectResponse(f"{PREFIX}/", 303)
        _set_cookie(response, COOKIE, cookie, SESSION_SECONDS, PREFIX)
        response.delete_cookie(LOGIN_COOKIE, path=f"{PREFIX}/login")
        return response

    async def logout(self, request: Request) -> Response:
        session = self._session(request)
        form = await _form(request)
        if session is not None and (
            form is None or not same_token(form.get("csrf", ""), session.csrf)
        ):
            return self._page("refused.html", session, status=403)
        response = _to_login()
        response.delete_cookie(COOKIE, path=PREFIX, secure=True, httponly=True, samesite="strict")
        return response

    def _login_page(self, request: Request, problem: str, status: int) -> Response:
        """The login form with a fresh CSRF token, also set as a cookie of the login's own: a
        page elsewhere cannot post a login (and so log the operator into its own session)."""
        token = request.cookies.get(LOGIN_COOKIE) or _token()
        page = self._render("login.html", problem=problem, csrf=token, status=status)
        _set_cookie(page, LOGIN_COOKIE, token, 3600, f"{PREFIX}/login")
        return page

    # --- helpers ---------------------------------------------------------------------------------

    def _exports(self, connector: str) -> bool:
        """Whether jtel shows the Report Export button for the connector: served, export.url."""
        endpoint = self.served().get(connector)
        return endpoint is not None and endpoint.export_enabled

    def _session(self, request: Request) -> Session | None:
        return self.sessions.read(request.cookies.get(COOKIE))

    async def _listing(self, query: DeliveryQuery) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            found = self.outbox.find(query)
            return {
                "rows": [(delivery, _state(delivery)) for delivery in found],
                "counts": self.outbox.counts(),
                "older": found[-1].id if len(found) == query.limit else None,
                "paged": query.before is not None,
            }

        return await asyncio.to_thread(read)

    def _page(self, name: str, session: Session, status: int = 200, **values: Any) -> Response:
        return self._render(name, csrf=session.csrf, status=status, **values)

    def _render(self, name: str, *, status: int = 200, **values: Any) -> Response:
        text = self.templates.get_template(name).render(prefix=PREFIX, **values)
        return HTMLResponse(text, status)


class _Headers:
    """Every answer of the console with `security.HEADERS` (the static files' too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _state(delivery: Delivery) -> str:
    """pending, retrying (pending, failed at least once: as `Outbox.counts`), delivered, dead."""
    if delivery.status == DeliveryStatus.PENDING and delivery.attempts > 0:
        return "retrying"
    return str(delivery.status)


def _filters(request: Request) -> dict[str, str]:
    """The list's filters as given (to show them back, and to keep them in its links)."""
    names = ("connector", "status", "chat", "since", "until")
    return {name: request.query_params.get(name, "").strip() for name in names}


def _before(query: DeliveryQuery) -> dict[str, str]:
    return {} if query.before is None else {"before": str(query.before)}


def _query(request: Request) -> DeliveryQuery:
    """The filters read leniently: a value that does not parse filters nothing (the form shows
    what was given), an unknown state too."""
    given = _filters(request)
    status = given["status"] if given["status"] in STATES else None
    before = request.query_params.get("before", "")
    return DeliveryQuery(
        connector=given["connector"] or None,
        status=status,
        chat_id=given["chat"] or None,
        since=_moment(given["since"]),
        until=_moment(given["until"]),
        before=int(before) if before.isdigit() else None,
        limit=PAGE,
    )


def _moment(text: str) -> float | None:
    """A time from the filter form (``2026-11-30T18:40``, taken as UTC); None when empty or
    not a time."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


async def _form(request: Request) -> Mapping[str, str] | None:
    """An urlencoded form (the console's only kind), at most `MAX_FORM` bytes; None otherwise."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return None


async def _json(request: Request, limit: int) -> dict[str, Any] | None:
    """A JSON object body of at most ``limit`` bytes; None otherwise."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    try:
        value = json.loads(b"".join(chunks))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _token() -> str:
    return secrets.token_urlsafe(32)


def _set_cookie(response: Response, name: str, value: str, seconds: int, path: str) -> None:
    response.set_cookie(
        name, value, max_age=seconds, path=path, secure=True, httponly=True, samesite="strict"
    )


def _to_login() -> Response:
    return RedirectResponse(f"{PREFIX}/login", 303)
