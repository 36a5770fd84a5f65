"""The console: server-rendered pages (Starlette, Jinja2) for the operators of an outbox.

    GET  /console/                          deliveries: filters, keyset pages, live updates
    GET  /console/deliveries/rows           the same list's rows and counts (the page polls it)
    GET  /console/deliveries/{id}           a delivery and its attempt history
    POST /console/deliveries/{id}/retry     send it again now (a retrying or dead one)
    POST /console/deliveries/{id}/purge     remove a finished one
    GET  /console/connectors                the served connectors and what stops the others
    GET  /console/playground                a connector typed in the page; POST …/check its
                                            diagnostics and dry run, POST …/transcript.pdf its PDF
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
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exportdsl.compiler.plan import Plan
from exportdsl.console.dryrun import rendered, transcript
from exportdsl.console.playground import (
    EXAMPLE,
    MAX_CHAT,
    MAX_PLAYGROUND_BODY,
    MAX_SOURCE,
    check_source,
    transcript_of,
)
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
from exportdsl.delivery.logs import fields
from exportdsl.delivery.outbox import (
    RETRYABLE,
    Attempt,
    Delivery,
    DeliveryQuery,
    Outbox,
    failed_before,
    total_attempts,
)
from exportdsl.delivery.server import Endpoint
from exportdsl.errors import ExportDslError, OutboxError
from exportdsl.vocabulary import DeliveryStatus

__all__ = ["DONE", "MAX_ID", "PAGE", "PREFIX", "BadQuery", "ConnectorView", "Console"]

PREFIX = "/console"
PAGE = 50  # deliveries a page
MAX_FORM = 16 << 10  # bytes of a console form at most (a secret, a token)
MAX_ID = (1 << 63) - 1  # the largest id either back end stores (a 64-bit signed integer)
STATES = ("pending", "retrying", "delivered", "dead")
HERE = Path(__file__).parent
log = logging.getLogger("exportdsl.console")

# What an action's redirect says (``?done=KEY``): only these texts show, never one from the URL
DONE: Mapping[str, str] = {
    "queued": "queued again",
    "exported": "Report Export pressed: this is the new delivery of its chat",
    "no-export": "no Report Export: the connector is not served or has no export.url",
    "no-chat": "no Report Export: the chat is no longer stored",
    "purged": "the delivery was purged",
    "not-purged": "not purged: pending work is never purged",
}


class BadQuery(ValueError):
    """A query parameter the console cannot take (answered 400, saying which and why)."""


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
        self.throttle = throttle if throttle is not None else LoginThrottle()
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
            Route("/playground/transcript.pdf", self.playground_transcript, methods=["POST"]),
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
            return _to_login(request)
        try:
            query = _query(request)
        except BadQuery as problem:
            return self._bad(session, str(problem))
        listed = await self._listing(query)
        return self._page(
            "deliveries.html",
            session,
            **listed,
            filters=_filters(request),
            # the served ones' names: linting every file here would cost each page (and the loop)
            connector_names=sorted(self.served()),
            states=STATES,
            done=_done(request),
            rows_url=f"{PREFIX}/deliveries/rows?{urlencode(_filters(request) | _before(query))}",
        )

    async def rows(self, request: Request) -> Response:
        """The list's rows and counts for the live update: 401 without a session (the page's
        script then goes to the login)."""
        session = self._session(request)
        if session is None:
            return Response("log in again", 401, media_type="text/plain")
        try:
            query = _query(request)
        except BadQuery as problem:
            return Response(str(problem), 400, media_type="text/plain")
        listed = await self._listing(query)
        return self._page("rows.html", session, **listed, filters=_filters(request))

    async def delivery(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _to_login(request)
        return await self._delivery_page(session, _delivery_id(request), _done(request))

    async def _delivery_page(
        self, session: Session, delivery_id: int | None, done: str, status: int = 200
    ) -> Response:
        """A delivery and its history, ``done`` said above them; 404 for an unknown one."""
        found = await self._with_attempts(session, delivery_id)
        if isinstance(found, Response):
            return found
        delivery, attempts = found
        return self._page(
            "delivery.html",
            session,
            delivery=delivery,
            state=_state(delivery),
            attempts=attempts,
            total=total_attempts(delivery, len(attempts)),
            done=done,
            can_export=self._exports(delivery.connector),
            can_send=self._sends(delivery.connector),
            status=status,
        )

    async def request_view(self, request: Request) -> Response:
        """The requests each attempt sent, as recorded when they went out (redacted, the PDF a
        placeholder); an attempt made before they were recorded says so. ``?now=1``: what the
        connector renders now for its chat (the dry run: nothing is sent), said to be that."""
        session = self._session(request)
        if session is None:
            return _to_login(request)
        if request.query_params.get("now") != "1":
            return await self._requests_sent(session, _delivery_id(request))
        found = await self._delivery_plan(request)
        if isinstance(found, Response):
            return found
        delivery, plan, body = found
        shown = await asyncio.to_thread(rendered, plan, body, self.env)
        return self._page("rendered.html", session, delivery=delivery, shown=shown)

    async def _requests_sent(self, session: Session, delivery_id: int | None) -> Response:
        found = await self._with_attempts(session, delivery_id)
        if isinstance(found, Response):
            return found
        delivery, attempts = found
        return self._page("request.html", session, delivery=delivery, attempts=attempts)

    async def _delivery(self, delivery_id: int | None) -> Delivery | None:
        """The delivery of an id the URL gave; None for one that is not there (or no id)."""
        if delivery_id is None:
            return None
        return await asyncio.to_thread(self.outbox.delivery, delivery_id)

    async def _with_attempts(
        self, session: Session, delivery_id: int | None
    ) -> tuple[Delivery, list[Attempt]] | Response:
        """A delivery and its attempt history, or the 404 page for an unknown one."""
        delivery = await self._delivery(delivery_id)
        if delivery is None:
            return self._missing(session, delivery_id)
        return delivery, await asyncio.to_thread(self.outbox.attempts, delivery.id)

    async def transcript(self, request: Request) -> Response:
        """The chat's PDF transcript as the delivery sends it (``$report``), to download."""
        if self._session(request) is None:
            return _to_login(request)
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
        delivery_id = _delivery_id(request)
        delivery = await self._delivery(delivery_id)
        if delivery is None:
            shown = request.path_params["delivery_id"]
            return Response(f"no delivery {shown}", 404, media_type="text/plain")
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
            return _to_login(request)
        # each file checked (cached by its content, `views`), off the event loop
        views = sorted(await asyncio.to_thread(list, self.connectors()), key=lambda v: v.name)
        return self._page("connectors.html", session, connectors=views)

    async def playground(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _to_login(request)
        return self._page("playground.html", session, example=EXAMPLE, max_chat=MAX_CHAT)

    async def playground_check(self, request: Request) -> Response:
        """The page's connector and chat, checked and rendered (`playground.check_source`): JSON
        in and out, the session's CSRF token in ``X-CSRF-Token`` (a POST like the others)."""
        given = await self._playground_input(request)
        if isinstance(given, Response):
            return given
        return JSONResponse(await asyncio.to_thread(check_source, *given))

    async def playground_transcript(self, request: Request) -> Response:
        """The PDF transcript of the page's chat with its connector's transcript settings
        (`playground.transcript_of`), asked for as the check is (JSON, CSRF header, the same
        limits), to download; 422 saying why when there is none."""
        given = await self._playground_input(request)
        if isinstance(given, Response):
            return given
        try:
            pdf = await asyncio.to_thread(transcript_of, *given)
        except ExportDslError as error:
            return JSONResponse({"error": f"no transcript: {error}"}, 422)
        disposition = {"Content-Disposition": 'attachment; filename="playground.pdf"'}
        return Response(pdf, media_type="application/pdf", headers=disposition)

    async def _playground_input(self, request: Request) -> tuple[str, str] | Response:
        """The playground's connector and chat from a POST of the page (the session's, its CSRF
        token in ``X-CSRF-Token``, within the limits); or the JSON answer saying what is wrong."""
        session = self._session(request)
        if session is None:
            return JSONResponse({"error": "log in again"}, 401)
        if not same_token(request.headers.get("x-csrf-token", ""), session.csrf):
            return JSONResponse({"error": "not this session's page: reload it"}, 403)
        try:
            given = await _json(request, MAX_PLAYGROUND_BODY)
        except BadQuery as problem:
            return JSONResponse({"error": str(problem)}, 413)
        source, chat = (given or {}).get("source"), (given or {}).get("chat", "")
        if not isinstance(source, str) or not isinstance(chat, str):
            return JSONResponse({"error": 'expected {"source": "…", "chat": "…"}'}, 400)
        too_large = _too_large(source, chat)
        if too_large:
            return JSONResponse({"error": too_large}, 413)
        return source, chat

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
        self, request: Request, action: Callable[[Session, Delivery, str], Awaitable[Response]]
    ) -> Response:
        """An action on a delivery: the session's, its CSRF token checked, the delivery there
        (404 otherwise, never an error for an id out of range)."""
        session = self._session(request)
        if session is None:
            return _to_login()
        form = await _form(request)
        if form is None or not same_token(form.get("csrf", ""), session.csrf):
            return self._page("refused.html", session, status=403)
        delivery_id = _delivery_id(request)
        delivery = await self._delivery(delivery_id)
        if delivery is None:
            return self._missing(session, delivery_id)
        return await action(session, delivery, _client(request))

    async def _retry(self, session: Session, delivery: Delivery, client: str) -> Response:
        """Send it again now: a pending, retrying or dead one, never a delivered one, nor one
        being attempted (both checked in the UPDATE itself: `Outbox.retry`'s ``states``); nor one
        whose connector cannot send it (not served, no export.url): it could never succeed."""
        if not self._sends(delivery.connector):
            why = _cannot_send(delivery.connector)
            log.warning(
                "console: retry refused", extra=fields(client=client, delivery=delivery.id, why=why)
            )
            return await self._delivery_page(session, delivery.id, why, 409)
        count = await asyncio.to_thread(self.outbox.retry, [delivery.id], states=RETRYABLE)
        if count:
            self.wake()
            log.info("console: retry", extra=fields(client=client, delivery=delivery.id))
            return _redirect(f"{PREFIX}/deliveries/{delivery.id}", "queued")
        now = await asyncio.to_thread(self.outbox.delivery, delivery.id)
        why = _not_retried(now)
        log.warning(
            "console: retry refused", extra=fields(client=client, delivery=delivery.id, why=why)
        )
        return await self._delivery_page(session, delivery.id, why, 409)

    async def _report_export(self, session: Session, delivery: Delivery, client: str) -> Response:
        here = f"{PREFIX}/deliveries/{delivery.id}"
        endpoint = self.served().get(delivery.connector)
        if endpoint is None or not endpoint.export_enabled:
            return _redirect(here, "no-export")
        try:
            made = await asyncio.to_thread(
                self.outbox.request_export, delivery.connector, delivery.chat_id, endpoint.target
            )
        except OutboxError:
            return _redirect(here, "no-chat")
        self.wake()
        log.info(
            "console: Report Export",
            extra=fields(client=client, delivery=delivery.id, new_delivery=made),
        )
        return _redirect(f"{PREFIX}/deliveries/{made}", "exported")

    async def _purge(self, session: Session, delivery: Delivery, client: str) -> Response:
        count = await asyncio.to_thread(self.outbox.purge, [delivery.id])
        log.info(
            "console: purge" if count else "console: purge refused (pending)",
            extra=fields(client=client, delivery=delivery.id),
        )
        if count:
            return _redirect(f"{PREFIX}/", "purged")
        return _redirect(f"{PREFIX}/deliveries/{delivery.id}", "not-purged")

    # --- logging in and out ----------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        return self._login_page(request, "", 200, _next(request.query_params.get("next", "")))

    async def login(self, request: Request) -> Response:
        """The attempt is counted before its body is read (`LoginThrottle.reserve`): guesses
        sent at once cannot all be checked before the first one fails."""
        address = _client(request)
        wait, stamp = self.throttle.reserve(address)
        if wait > 0:
            log.warning("console: login throttled", extra=fields(client=address))
            page = self._login_page(request, "too many failed logins: wait a minute", 429)
            page.headers["Retry-After"] = str(int(wait) + 1)
            return page
        form = await _form(request)
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if form is None or not expected or not same_token(form.get("csrf", ""), expected):
            self.throttle.forgive(address, stamp)  # no secret was tried
            log.warning("console: login form expired", extra=fields(client=address))
            return self._login_page(request, "the form expired: log in again", 403)
        then = _next(form.get("next", ""))
        if not same_token(form.get("secret", ""), self.secret):
            log.warning("console: login failed (wrong secret)", extra=fields(client=address))
            return self._login_page(request, "wrong secret", 401, then)
        self.throttle.forgive(address, stamp)
        log.info("console: login", extra=fields(client=address))
        cookie, _ = self.sessions.issue()
        response = RedirectResponse(then, 303)
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
        if session is not None:
            self.sessions.revoke(session)  # a copy of the cookie opens nothing any more
        log.info("console: logout", extra=fields(client=_client(request)))
        response = _to_login()
        response.delete_cookie(COOKIE, path=PREFIX, secure=True, httponly=True, samesite="strict")
        return response

    def _login_page(
        self, request: Request, problem: str, status: int, then: str = f"{PREFIX}/"
    ) -> Response:
        """The login form with a fresh CSRF token, also set as a cookie of the login's own: a
        page elsewhere cannot post a login (and so log the operator into its own session).
        ``then``: the console page to go to once logged in (`_next`)."""
        token = request.cookies.get(LOGIN_COOKIE) or _token()
        page = self._render("login.html", problem=problem, csrf=token, status=status, then=then)
        _set_cookie(page, LOGIN_COOKIE, token, 3600, f"{PREFIX}/login")
        return page

    # --- helpers ---------------------------------------------------------------------------------

    def _exports(self, connector: str) -> bool:
        """Whether jtel shows the Report Export button for the connector: served, export.url."""
        endpoint = self.served().get(connector)
        return endpoint is not None and endpoint.export_enabled

    def _sends(self, connector: str) -> bool:
        """Whether sending a delivery of the connector again can succeed: a connector that is
        not served here holds it (it goes when served again: offered); one served without an
        export.url never sends it (not offered, refused)."""
        endpoint = self.served().get(connector)
        return endpoint is None or endpoint.export_enabled

    def _session(self, request: Request) -> Session | None:
        return self.sessions.read(request.cookies.get(COOKIE))

    def _missing(self, session: Session, delivery_id: int | None) -> Response:
        return self._page("missing.html", session, delivery_id=delivery_id, status=404)

    def _bad(self, session: Session, problem: str) -> Response:
        return self._page("bad.html", session, problem=problem, status=400)

    async def _listing(self, query: DeliveryQuery) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            found = self.outbox.find(query)  # one more than a page: is there another page?
            more = len(found) == query.limit
            shown = found[: query.limit - 1]
            if query.ascending:  # going forward: the page above the bound, shown latest first
                shown.reverse()
            counts = self.outbox.counts()
            # "pending" shown: waiting for a first attempt; each delivery in one state
            counts = {**counts, "pending": counts["pending"] - counts["retrying"]}
            recorded = self.outbox.recorded_attempts([delivery.id for delivery in shown])
            return {
                "rows": [
                    (each, _state(each), total_attempts(each, recorded.get(each.id, 0)))
                    for each in shown
                ],
                "counts": counts,
                **_pager(query, shown, more),
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
        started = False

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        except Exception:  # a bug: logged (redacted by serve's handler), the connection kept
            log.exception("console: the page failed", extra=fields(path=scope.get("path")))
            if not started and scope["type"] == "http":
                failed = Response("the console failed: see the server's log", 500)
                await failed(scope, receive, with_headers)


def _state(delivery: Delivery) -> str:
    """pending, retrying (pending, failed before: `outbox.failed_before`, as `Outbox.counts`
    has it; a dead one sent again too; not a first attempt still under way), delivered, dead."""
    return "retrying" if failed_before(delivery) else str(delivery.status)


def _cannot_send(connector: str) -> str:
    return (
        f"not sent again: connector {connector} has no export.url, so no attempt can succeed; "
        "give it one (and reload), then send it again"
    )


def _not_retried(delivery: Delivery | None) -> str:
    """Why `Outbox.retry` left a delivery alone, as the 409 page says it."""
    if delivery is None:
        return "not sent again: the delivery was purged meanwhile"
    if delivery.status == DeliveryStatus.DELIVERED:
        return (
            "not sent again: it was delivered already (Report Export sends its chat again, "
            "as a new delivery)"
        )
    return "not sent again: it is being attempted right now; look again in a moment"


def _redirect(where: str, done: str) -> Response:
    """After an action: the page to see, and which of `DONE` it says."""
    return RedirectResponse(f"{where}?{urlencode({'done': done})}", 303)


def _done(request: Request) -> str:
    """The `DONE` text the query string names (another key, or text, shows nothing)."""
    return DONE.get(request.query_params.get("done", ""), "")


def _client(request: Request) -> str:
    """The client's address: the socket's peer (uvicorn rewrites it from X-Forwarded-For only
    for the proxies ``--forwarded-allow-ips`` names)."""
    return request.client.host if request.client else "?"


def _delivery_id(request: Request) -> int | None:
    """The path's delivery id; None when no delivery can have it (beyond 64 bits)."""
    delivery_id = int(request.path_params["delivery_id"])
    return delivery_id if 0 < delivery_id <= MAX_ID else None


def _next(given: str) -> str:
    """Where a login goes on to: the console page asked for, only a path of this console (no
    other site, no scheme, no ``//host``), else the deliveries."""
    parts = urlsplit(given)
    same_site = not (parts.scheme or parts.netloc) and not given.startswith(("//", "/\\"))
    inside = parts.path == PREFIX or parts.path.startswith(f"{PREFIX}/")
    if same_site and inside and "\\" not in given and given.isprintable():
        return given
    return f"{PREFIX}/"


def _filters(request: Request) -> dict[str, str]:
    """The list's filters as given (to show them back, and to keep them in its links)."""
    names = ("connector", "status", "chat", "since", "until")
    return {name: request.query_params.get(name, "").strip() for name in names}


def _before(query: DeliveryQuery) -> dict[str, str]:
    """The page's bound, for its live update's rows."""
    if query.before is not None:
        return {"before": str(query.before)}
    return {} if query.after is None else {"after": str(query.after)}


def _pager(query: DeliveryQuery, shown: list[Delivery], more: bool) -> dict[str, Any]:
    """The keyset links of a page (its rows the latest first): ``older`` (before its last id)
    when older rows exist, ``newer`` (after its first id) when newer ones do, and ``paged`` (a
    link to the newest) on every page but the first. Going forward, ``more`` says whether newer
    rows are left; going back, the page came from a newer one (or is the first)."""
    if query.ascending:
        older = shown[-1].id if shown else None  # it came from an older page
        newer = shown[0].id if shown and more else None
    else:
        older = shown[-1].id if shown and more else None
        newer = shown[0].id if shown and query.before is not None else None
    return {"older": older, "newer": newer, "paged": query.before is not None or query.ascending}


def _query(request: Request) -> DeliveryQuery:
    """The filters, or `BadQuery` (400) saying which one is wrong: an unknown state, a time that
    does not parse, a text no stored value can hold (a control character: PostgreSQL refuses
    NUL) or a ``before`` that is not an id. None filters nothing silently: a list that looks
    filtered and is not would mislead."""
    given = _filters(request)
    for name, value in given.items():
        if not value.isprintable():
            raise BadQuery(f"{name}: a control character is in the filter; expected plain text")
    status = given["status"] or None
    if status is not None and status not in STATES:
        raise BadQuery(f"status: expected one of {', '.join(STATES)}, got {status[:40]!r}")
    if status == "pending":  # the console's pending: not retrying (each delivery in one state)
        status = "waiting"
    return DeliveryQuery(
        connector=given["connector"] or None,
        status=status,
        chat_id=given["chat"] or None,
        since=_moment("since", given["since"]),
        until=_moment("until", given["until"]),
        before=_before_id("before", request.query_params.get("before", "")),
        after=_before_id("after", request.query_params.get("after", "")),
        limit=PAGE + 1,  # one more: whether an older page exists (`_listing`)
    )


def _before_id(name: str, given: str) -> int | None:
    """A keyset page's bound (``before`` or ``after``): a delivery id, ASCII digits (``²`` is a
    digit to Python, not an id), at most `MAX_ID`; none when empty."""
    if not given:
        return None
    if not (given.isascii() and given.isdigit()) or int(given) > MAX_ID:
        raise BadQuery(f"{name}: expected a delivery id (1 to {MAX_ID}), got {given[:40]!r}")
    return int(given)


def _moment(name: str, text: str) -> float | None:
    """A time from the filter form (``2026-11-30T18:40``, taken as UTC); None when empty."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadQuery(
            f"{name}: expected a time such as 2026-11-30T18:40 (UTC), got {text[:40]!r}"
        ) from None
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
    """A JSON object body; None when it is not one; `BadQuery` when it is over ``limit`` bytes."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise BadQuery(
                f"the request is over {limit >> 20} MiB: the connector may have "
                f"{MAX_SOURCE >> 10} KiB and the chat {MAX_CHAT >> 20} MiB (UTF-8)"
            )
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


def _too_large(source: str, chat: str) -> str:
    """Which playground limit the texts are over (bytes of UTF-8, as a file and a hook have
    them); empty when neither."""
    for what, text, limit in (("connector", source, MAX_SOURCE), ("chat", chat, MAX_CHAT)):
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > limit:
            return f"the {what} is {size:,} bytes (UTF-8): at most {limit:,} bytes"
    return ""


def _to_login(request: Request | None = None) -> Response:
    """To the login; from a page asked for (a GET), with that page to come back to."""
    if request is None or request.method != "GET":
        return RedirectResponse(f"{PREFIX}/login", 303)
    asked = _next(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    if asked == f"{PREFIX}/":  # where a login goes anyway
        return RedirectResponse(f"{PREFIX}/login", 303)
    return RedirectResponse(f"{PREFIX}/login?{urlencode({'next': asked})}", 303)
