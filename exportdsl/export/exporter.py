"""Running a plan: the PDF, phase 1 (token POST), the XML template, phase 2 (report POST).

`Exporter` runs one connector's exports over an injected, keep-alive `httpx.Client`; the clock,
the sleep, the randomness and the environment are injected too, so tests are exact and fast.

Delivery never duplicates silently: every report request carries an ``Idempotency-Key`` derived
from the connector and the chat, the same on every attempt and every run, so a back end can drop a
second copy when an answer was lost and we tried again. Only failures that may be transient are
retried (connection errors, timeouts, 408, 425, 429, 5xx), with exponential backoff and full
jitter, honouring ``Retry-After``; redirects are never followed (a 3xx is a failure: following one
could hand the report, or the token, to another host). Every message that leaves this module is
redacted by `Redactor` first.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from exportdsl.chat.reader import ChatSession
from exportdsl.compiler.plan import Plan, RenderedRequest, RequestPlan, RetryPolicy
from exportdsl.compiler.values import SafeText, TextValue
from exportdsl.errors import ExportDslError, ExportError
from exportdsl.export import webhooks
from exportdsl.export.redact import Redactor, guard_logs
from exportdsl.source import shorten

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"  # $dateTime: yyyy-MM-dd HH:mm:ss
RETRY_STATUSES = frozenset({408, 425, 429})  # and every 5xx
MAX_ANSWER_BYTES = 1 << 20  # an answer is read up to this size; the rest is dropped
SHOWN_ANSWER_CHARS = 200  # of an answer's body, in an error message
DEFAULT_TOKEN_LIFETIME = 300.0  # seconds, for a token answer without expires_in
TOKEN_MARGIN = 30.0  # seconds before expires_in when a cached token is no longer used
_KEY_NAMESPACE = uuid.UUID(
    "5b6f0d0e-2f7c-4d39-9a53-0c1d3e1f8a77"
)  # Idempotency-Key: UUIDv5 in here
_CONNECTOR_VARIABLES = frozenset({"ClientsID", "chatConnector", "pdata", "env"})
_NOT_RETRIED = (
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)  # our request is wrong: again is no help

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class Answer:
    """A back end's answer, read up to `MAX_ANSWER_BYTES`."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool = False

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


@dataclass(slots=True)
class PhaseResult:
    """What one phase did: its last request and answer, how many attempts, how long (waits included)."""

    name: str  # "token" or "report"
    attempts: int = 0
    seconds: float = 0.0
    cached: bool = False  # the token came from the cache; nothing was sent
    request: httpx.Request | None = None
    answer: Answer | None = None
    sent: list[httpx.Request] = field(default_factory=list)  # every attempt, in order

    @property
    def status(self) -> int | None:
        return self.answer.status if self.answer else None


@dataclass(slots=True)
class ExportResult:
    """One chat's export; `error` is None when the report was delivered (a 2xx answer)."""

    connector_id: int | str
    connector_name: str
    chat_id: int | str | None
    idempotency_key: str | None = None
    phases: list[PhaseResult] = field(default_factory=list)
    error: ExportDslError | None = None
    failed_phase: str | None = None  # the phase that was under way when the export stopped
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def phase(self, name: str) -> PhaseResult | None:
        return next((phase for phase in self.phases if phase.name == name), None)


@dataclass(frozen=True, slots=True)
class _Token:
    response: Mapping[str, Any]  # $tokenResponse
    expires: float  # on the exporter's monotonic clock


class TokenCache:
    """Tokens by connector, kept until shortly before their ``expires_in``; share one between exporters
    of the same connector to share its token."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], _Token] = {}

    def get(self, key: tuple[str, str], now: float) -> Mapping[str, Any] | None:
        token = self._tokens.get(key)
        return token.response if token is not None and now < token.expires else None

    def put(self, key: tuple[str, str], response: Mapping[str, Any], expires: float) -> None:
        self._tokens[key] = _Token(response, expires)

    def drop(self, key: tuple[str, str]) -> None:
        self._tokens.pop(key, None)


class _Attempt:
    """The outcome of one send: an answer or a transport error, and how long it took."""

    __slots__ = ("answer", "error", "request")

    def __init__(
        self, request: httpx.Request, answer: Answer | None, error: httpx.TransportError | None
    ) -> None:
        self.request, self.answer, self.error = request, answer, error


class Exporter:
    """Exports chats with one connector's plan. Not thread-safe; one per thread (share a `TokenCache`)."""

    def __init__(
        self,
        plan: Plan,
        client: httpx.Client,
        *,
        env: Mapping[str, str] | None = None,
        now: Clock | None = None,
        sleep: Sleep = time.sleep,
        jitter: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
        tokens: TokenCache | None = None,
        redactor: Redactor | None = None,
        retry: RetryPolicy | None = None,
        render_pdf: Callable[[ChatSession, str], bytes] | None = None,
    ) -> None:
        self.plan, self.client = plan, client
        self.render_pdf = render_pdf  # (chat, time zone) -> PDF; the transcript by default
        self.retry = (
            retry or plan.retry
        )  # the queue's workers make one attempt each: the outbox retries
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.now: Clock = now or (lambda: datetime.now(UTC))
        self.sleep, self.jitter, self.monotonic = sleep, jitter, monotonic
        self.tokens = tokens if tokens is not None else TokenCache()
        self.redact = redactor if redactor is not None else Redactor()
        guard_logs(self.redact)
        self.zone = ZoneInfo(plan.timezone)
        self.timeout = httpx.Timeout(
            plan.timeout.total, connect=min(plan.timeout.connect, plan.timeout.total)
        )
        self.token_key = (str(plan.connector_id), str(plan.client_id))
        self.token_cacheable = plan.token is not None and _uses_only(
            plan.token, _CONNECTOR_VARIABLES
        )
        for name in env_names(plan):
            if name in self.env:
                self.redact.add(self.env[name])

    # -- the export ----------------------------------------------------------------------------
    def export(self, chat: ChatSession) -> ExportResult:
        """Export one chat; raises the `ExportDslError` that stopped it (`run` keeps the details)."""
        result = self.run(chat)
        if result.error is not None:
            raise result.error
        return result

    def run(self, chat: ChatSession, key: str | None = None) -> ExportResult:
        """Export one chat; never raises for a failed export: the result's `error` says why.
        ``key`` is the Idempotency-Key when the caller keeps its own (the outbox does)."""
        started = time.perf_counter()
        result = ExportResult(self.plan.connector_id, self.plan.connector_name, chat.channel.id)
        result.idempotency_key = key
        try:
            self._run(chat, result)
        except ExportDslError as error:
            result.error = self._redacted(error)
        result.seconds = time.perf_counter() - started
        return result

    def _run(self, chat: ChatSession, result: ExportResult) -> None:
        export = self._export_plan()
        variables = self.variables(chat)
        result.idempotency_key = result.idempotency_key or idempotency_key(self.plan, chat)
        if self.plan.token is not None:
            result.failed_phase = "token"
            variables["tokenResponse"] = self._token(variables, result, fresh=False)
        report = PhaseResult("report")
        result.phases.append(report)
        result.failed_phase = "report"
        answer = self._deliver(export, variables, result.idempotency_key, report)
        if answer.status == 401 and self.plan.token is not None:
            # the token may have been revoked before it expired: one new token, one more try
            self.tokens.drop(self.token_key)
            result.failed_phase = "token"
            variables["tokenResponse"] = self._token(variables, result, fresh=True)
            result.failed_phase = "report"
            answer = self._deliver(export, variables, result.idempotency_key, report)
        if not 200 <= answer.status < 300:
            raise self._refused("report", answer, report.attempts)
        result.failed_phase = None

    def _export_plan(self) -> RequestPlan:
        export = self.plan.export
        if export is None or export.url is None:
            raise ExportError(
                f"connector {self.plan.connector_id} ({self.plan.connector_name}) has no export.url, "
                "so its export is disabled",
                code="XD601",
                hint="set export.url in the connector file; without it jtel shows no Report Export "
                "button either",
            )
        return export

    def variables(self, chat: ChatSession) -> dict[str, Any]:
        """Every variable but $tokenResponse and $xmlTemplate, with $dateTime frozen now."""
        if self.render_pdf is not None:
            pdf = self.render_pdf(chat, self.plan.timezone)
        else:
            from exportdsl.transcript.pdf import (
                render_transcript,
            )  # reportlab loads only when a PDF is made

            pdf = render_transcript(chat, timezone=self.plan.timezone)
        variables = self.plan.connector_variables()
        # SafeText: ours, of a known alphabet, so it goes in unescaped where that alphabet is safe
        now = SafeText(self.now().astimezone(self.zone).strftime(DATE_FORMAT))
        variables.update(
            chat=chat.raw,
            env=self.env,
            dateTime=now,
            report={
                "encoded": {"base64": SafeText(base64.b64encode(pdf).decode("ascii"))},
                "bytes": len(pdf),
            },
        )
        return variables

    def add_xml_template(self, variables: dict[str, Any]) -> None:
        xml = self.plan.render_xml_template(variables)
        if xml is not None:
            encoded = SafeText(base64.b64encode(xml.encode("utf-8")).decode("ascii"))
            variables["xmlTemplate"] = TextValue(xml, {"encoded": {"base64": encoded}})

    # -- phase 1 -------------------------------------------------------------------------------
    def _token(
        self, variables: Mapping[str, Any], result: ExportResult, fresh: bool
    ) -> Mapping[str, Any]:
        phase = result.phase("token")
        if phase is None:
            phase = PhaseResult("token")
            result.phases.append(phase)
        cached = (
            None
            if fresh or not self.token_cacheable
            else self.tokens.get(self.token_key, self.monotonic())
        )
        phase.cached = cached is not None
        if cached is not None:
            self._register(
                cached
            )  # another exporter fetched it: this one's redactor must know it too
            return cached
        assert self.plan.token is not None  # the caller checked
        rendered = self.plan.token.render(variables)
        answer = self._send(phase, lambda: self.build(rendered))
        response = self._token_response(answer, phase.attempts)
        if self.token_cacheable:
            self.tokens.put(self.token_key, response, self.monotonic() + _lifetime(response))
        return response

    def _register(self, response: Mapping[str, Any]) -> None:
        for name, value in response["headers"].multi_items():
            self.redact.add_header(name, value)
        self.redact.add_json(response["body"].fields["JSON"])

    def _token_response(self, answer: Answer, attempts: int) -> dict[str, Any]:
        """$tokenResponse from a 2xx JSON answer; its secrets are registered for redaction first."""
        for name, value in answer.headers:
            self.redact.add_header(name, value)
        text = answer.text
        try:
            parsed = json.loads(text) if 200 <= answer.status < 300 else None
        except (ValueError, RecursionError):
            parsed = None
        self.redact.add_json(parsed)
        if parsed is None:
            raise self._refused("token", answer, attempts, expected="a 2xx answer with a JSON body")
        headers = httpx.Headers(list(answer.headers))
        return {
            "status": answer.status,
            "headers": headers,
            "body": TextValue(text, {"JSON": parsed}),
        }

    # -- phase 2 -------------------------------------------------------------------------------
    def _deliver(
        self, export: RequestPlan, variables: dict[str, Any], key: str, phase: PhaseResult
    ) -> Answer:
        self.add_xml_template(variables)
        rendered = export.render(variables)
        for name, value in rendered.headers:
            self.redact.add_header(name, value)
        secret = self._signing_secret()
        answer = self._send(
            phase, lambda: self.build(rendered, key, secret)
        )  # signed anew for each attempt
        for name, value in answer.headers:
            self.redact.add_header(name, value)
        return answer

    def report_request(self, rendered: RenderedRequest, key: str) -> httpx.Request:
        """The report request as it goes on the wire (signed when the connector says so)."""
        return self.build(rendered, key, self._signing_secret())

    def build(
        self, rendered: RenderedRequest, key: str | None = None, secret: bytes | None = None
    ) -> httpx.Request:
        # UTF-8 where a value is not ASCII (httpx would refuse it): chat data such as names may land here
        headers = httpx.Headers(
            [(name.encode("ascii"), value.encode("utf-8")) for name, value in rendered.headers]
        )
        body = rendered.body.encode("utf-8") if rendered.body is not None else b""
        if key is not None and "idempotency-key" not in headers:
            headers["Idempotency-Key"] = key
        if secret is not None:
            message_id = headers.get("idempotency-key", key or "")
            headers.update(webhooks.headers(secret, message_id, int(self.now().timestamp()), body))
            self.redact.add_header(
                "webhook-signature", headers["webhook-signature"]
            )  # replayable for minutes
        try:
            return self.client.build_request(
                rendered.method, rendered.url, headers=headers, content=body, timeout=self.timeout
            )
        except (
            httpx.InvalidURL,
            UnicodeError,
            ValueError,
        ) as error:  # what the plan's checks let through
            raise ExportError(
                self.redact(f"cannot build the request to {rendered.url}: {error}")
            ) from None

    def _signing_secret(self) -> bytes | None:
        if self.plan.signing is None:
            return None
        name = self.plan.signing.env
        secret = self.env.get(name, "") if name in self.env else ""
        if not secret:
            raise ExportError(
                f"signing: the environment variable {name} is not set",
                code="XD603",
                hint="set it to the whsec_... secret the back end gave you",
            )
        self.redact.add(secret)
        try:
            return webhooks.key_bytes(secret, strict=True)
        except ValueError:
            raise ExportError(
                f"signing: {name} is not a whsec_ secret in base64", code="XD603"
            ) from None

    # -- sending -------------------------------------------------------------------------------
    def _send(self, phase: PhaseResult, build: Callable[[], httpx.Request]) -> Answer:
        """Sends until an answer that is not worth retrying, or the attempts are used up."""
        started = time.perf_counter()
        policy = self.retry
        try:
            for number in range(1, policy.attempts + 1):
                phase.attempts += 1
                attempt = self._attempt(build())
                phase.request, phase.answer = attempt.request, attempt.answer
                phase.sent.append(attempt.request)
                delay = self._retry_delay(attempt, number)
                if delay is None or number == policy.attempts:
                    break
                self.sleep(delay)
        finally:
            phase.seconds += time.perf_counter() - started
        if attempt.answer is None:
            raise self._unreachable(phase.name, attempt, phase.attempts)
        return attempt.answer

    def _attempt(self, request: httpx.Request) -> _Attempt:
        try:
            response = self.client.send(request, stream=True, follow_redirects=False)
        except httpx.TransportError as error:
            return _Attempt(request, None, error)
        try:
            return _Attempt(
                request, _read(response, time.monotonic() + self.plan.timeout.total), None
            )
        except httpx.DecodingError:  # e.g. "gzip" that is not: the status still says how it went
            headers = tuple(response.headers.multi_items())
            return _Attempt(
                request, Answer(response.status_code, response.reason_phrase, headers, b""), None
            )
        except httpx.TransportError as error:
            return _Attempt(request, None, error)
        finally:
            response.close()

    def _retry_delay(self, attempt: _Attempt, number: int) -> float | None:
        """Seconds to wait before trying again, or None when this outcome is final."""
        policy = self.retry
        if isinstance(attempt.error, _NOT_RETRIED):
            return None
        if attempt.answer is not None:
            status = attempt.answer.status
            if status not in RETRY_STATUSES and not 500 <= status < 600:
                return None
            after = retry_after(attempt.answer.header("retry-after"), self.now())
            if after is not None:
                return min(after, policy.max_delay)
        ceiling: float = min(policy.max_delay, policy.backoff * 2.0 ** (number - 1))
        return self.jitter() * ceiling  # full jitter: anywhere from 0 to the exponential ceiling

    # -- errors --------------------------------------------------------------------------------
    def _refused(
        self, name: str, answer: Answer, attempts: int, expected: str = "a 2xx answer"
    ) -> ExportError:
        where = f"{name} request: the back end answered {answer.status} {answer.reason}".rstrip()
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        if 300 <= answer.status < 400:
            location = answer.header("location") or "nowhere"
            return ExportError(
                self.redact(f"{where}{tries}, a redirect to {location}"),
                hint="redirects are never followed; set the final URL in the connector",
            )
        content_type = answer.header("content-type") or "no content type"
        body = shorten(answer.text.strip(), SHOWN_ANSWER_CHARS) or "(empty body)"
        return ExportError(
            self.redact(f"{where} ({content_type}){tries}; expected {expected}: {body}"),
            code="XD602" if name == "token" else None,
            hint=_status_hint(answer.status),
        )

    def _unreachable(self, name: str, attempt: _Attempt, attempts: int) -> ExportError:
        error = attempt.error
        kind = "timed out" if isinstance(error, httpx.TimeoutException) else "failed"
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return ExportError(
            self.redact(f"{name} request to {attempt.request.url.host} {kind}{tries}: {detail}")
        )

    def _redacted(self, error: ExportDslError) -> ExportDslError:
        error.message = self.redact(error.message)
        error.args = (error.message,)
        error.hint = self.redact(error.hint) if error.hint else error.hint
        return error


# -- the dry run ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DryRun:
    """The requests an export would send, in order, as they would go on the wire (nothing was sent)."""

    requests: tuple[tuple[str, httpx.Request], ...]  # (phase, request)
    redact: Redactor
    missing_env: tuple[str, ...]  # shown as <env.NAME>


def dry_run(
    plan: Plan,
    chat: ChatSession,
    *,
    env: Mapping[str, str] | None = None,
    now: Clock | None = None,
    token_answer: bytes | None = None,
) -> DryRun:
    """Both requests rendered exactly as an export would send them, through a client that cannot send.

    Without ``token_answer`` (the token endpoint's JSON body) every ``$tokenResponse`` value shows as
    ``<tokenResponse.body.JSON.access_token>`` and so on; an unset ``$env`` variable as ``<env.NAME>``.
    """
    dry_env = _DryRunEnv(os.environ if env is None else env)
    with httpx.Client(transport=_NoNetwork()) as client:
        exporter = Exporter(plan, client, env=dry_env, now=now)
        export = exporter._export_plan()
        variables = exporter.variables(chat)
        requests: list[tuple[str, httpx.Request]] = []
        if plan.token is not None:
            rendered = plan.token.render(variables)
            requests.append(("token", exporter.build(rendered)))
            variables["tokenResponse"] = (
                _token_placeholder()
                if token_answer is None
                else exporter._token_response(
                    Answer(200, "OK", (("content-type", "application/json"),), token_answer), 1
                )
            )
        exporter.add_xml_template(variables)
        rendered = export.render(variables)
        for name, value in rendered.headers:
            if not _ENDS_IN_PLACEHOLDER.search(value):  # "Bearer <tokenResponse...>" hides nothing
                exporter.redact.add_header(name, value)
        requests.append(
            ("report", exporter_report(exporter, rendered, idempotency_key(plan, chat)))
        )
    return DryRun(tuple(requests), exporter.redact, tuple(dry_env.missing))


def exporter_report(exporter: Exporter, rendered: RenderedRequest, key: str) -> httpx.Request:
    """The report request; with the signing secret unset, placeholders stand for the signature headers."""
    signing = exporter.plan.signing
    if signing is None or signing.env in exporter.env:
        return exporter.report_request(rendered, key)
    request = exporter.build(rendered, key)
    request.headers.update(
        {
            "webhook-id": request.headers["idempotency-key"],
            "webhook-timestamp": "<time of sending>",
            "webhook-signature": f"<v1,signature with $env.{signing.env}>",
        }
    )
    return request


_ENDS_IN_PLACEHOLDER = re.compile(r"(?:^|\s)<[A-Za-z][\w.]*>\Z")


class _PlaceholderFields(Mapping[str, Any]):
    """Below a placeholder, every path exists and is a placeholder itself."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __getitem__(self, key: str) -> Any:
        return placeholder(f"{self.path}.{key}")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def placeholder(path: str) -> TextValue:
    """A value only the real export knows, shown as ``<path>`` in a dry run."""
    return TextValue(f"<{path}>", _PlaceholderFields(path))


def _token_placeholder() -> dict[str, Any]:
    return {
        "status": placeholder("tokenResponse.status"),
        "headers": _PlaceholderFields("tokenResponse.headers"),
        "body": placeholder("tokenResponse.body"),
    }


class _DryRunEnv(Mapping[str, str]):
    """The environment, with a placeholder (and a note) for each variable that is not set."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.missing: list[str] = []

    def __getitem__(self, key: str) -> str:
        if key in self.env:
            return self.env[key]
        if key not in self.missing:
            self.missing.append(key)
        return placeholder(f"env.{key}")

    def __contains__(self, key: object) -> bool:
        return key in self.env

    def __iter__(self) -> Iterator[str]:
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)


class _NoNetwork(httpx.BaseTransport):
    """The dry run's transport: sending anything is a bug, never a request."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError("the dry run must not send anything")


# -- helpers ------------------------------------------------------------------------------------


def _read(response: httpx.Response, deadline: float) -> Answer:
    """The answer's body up to `MAX_ANSWER_BYTES`; the attempt's total time bounds a trickling body."""
    chunks: list[bytes] = []
    size, truncated = 0, False
    for chunk in response.iter_bytes():
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout(
                "the answer took longer than timeout.total", request=response.request
            )
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_ANSWER_BYTES:
            truncated = True
            break
    body = b"".join(chunks)[:MAX_ANSWER_BYTES]
    return Answer(
        response.status_code,
        response.reason_phrase,
        tuple(response.headers.multi_items()),
        body,
        truncated,
    )


def retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` in seconds (a number of seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]{1,9}", value):  # ASCII digits only: str.isdigit() takes '²' too
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _lifetime(response: Mapping[str, Any]) -> float:
    """Seconds a token may be used from the cache: its ``expires_in`` less a margin."""
    parsed = response["body"].fields["JSON"]
    expires_in = parsed.get("expires_in") if isinstance(parsed, dict) else None
    try:
        seconds = float(expires_in) if expires_in is not None else DEFAULT_TOKEN_LIFETIME
    except (TypeError, ValueError):
        seconds = DEFAULT_TOKEN_LIFETIME
    return seconds - min(TOKEN_MARGIN, seconds / 10)


def _status_hint(status: int) -> str | None:
    if status in (401, 403):
        return "the back end refused the credentials; check the token request and the $env secrets"
    if status == 410:
        return "410 Gone: the back end says this URL is gone for good; it is not retried"
    if 400 <= status < 500 and status not in RETRY_STATUSES:
        return "a 4xx answer means the request itself is wrong; it is not retried"
    return None


def _uses_only(request: RequestPlan, names: frozenset[str]) -> bool:
    return all(
        hole.reference.name in names for field_plan in request.fields for hole in field_plan.holes
    )


def env_names(plan: Plan) -> set[str]:
    """The environment variables a plan reads: their values are secrets, redacted everywhere."""
    names = {
        str(hole.reference.path[1])
        for field_plan in plan.fields
        for hole in field_plan.holes
        if hole.reference.name == "env" and len(hole.reference.path) > 1
    }
    if plan.signing is not None:
        names.add(plan.signing.env)
    return names


def idempotency_key(plan: Plan, chat: ChatSession) -> str:
    """Stable for a connector and a chat: the same on every attempt and every run (a UUIDv5)."""
    if chat.account_id is not None and chat.channel.id is not None:
        identity = f"{chat.account_id}/{chat.channel.id}"
    else:  # no ids: the chat's content is its identity
        canonical = json.dumps(chat.raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        identity = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    return str(
        uuid.uuid5(
            _KEY_NAMESPACE, json.dumps([str(plan.connector_id), str(plan.client_id), identity])
        )
    )


def make_client() -> httpx.Client:
    """The client the CLI uses: keep-alive, no redirects, our User-Agent, TLS set up on first use."""
    from exportdsl import __version__

    headers = {"User-Agent": f"exportdsl/{__version__}"}
    if any(name.lower() in _PROXY_VARIABLES for name in os.environ):
        return httpx.Client(
            follow_redirects=False, headers=headers
        )  # httpx sets the proxies up from them
    # A plain-http transport needs no CA bundle: verify=False only skips loading one (~35 ms) for a
    # transport that never speaks TLS.
    return httpx.Client(
        follow_redirects=False,
        headers=headers,
        transport=_LazyTransport(verify=True),
        mounts={"http://": _LazyTransport(verify=False)},
    )


_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy"})


class _LazyTransport(httpx.BaseTransport):
    """httpx's transport, made when the first request goes out: a TLS transport loads the CA bundle
    (~35 ms), which a one-shot export to a plain-http URL or a dry run should not pay."""

    def __init__(self, verify: bool) -> None:
        self._verify = verify
        self._transport: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            self._transport = httpx.HTTPTransport(verify=self._verify)
        return self._transport.handle_request(request)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
