"""Sending a request until its answer is final: one attempt at a time, each answer read bounded
in size and time, then the retry decision and the wait.

`Sender.send` → `Sender._send_single_attempt` → `read_answer`, with `Sender._retry_delay` between
attempts. Only failures that may be transient are retried (`retryable`, `retryable_error`,
`retryable_phase`: the outbox decides with the same predicates), with exponential backoff and full
jitter, honouring ``Retry-After``. Redirects are never followed: a 3xx is a final answer (following
one could hand the report, or the token, to another host).

A request HTTP/1.1 cannot carry (a header value with a line break, a control character, white
space at either end) is a configuration error naming the field, found before anything is sent and
never retried. The errors made here are not redacted (the exporter redacts every error where it
leaves the export), so they never quote a URL, a header value or a foreign library's message that
may hold a part of one (`safe_detail`): a part of a secret is no longer recognisable as one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from exportdsl.connector.model import RetryPolicy
from exportdsl.errors import ExportDslError, ExportError, RenderError, TokenAnswerError
from exportdsl.export.redact import Redactor
from exportdsl.export.results import Answer, PhaseResult
from exportdsl.export.timing import Timing
from exportdsl.vocabulary import Phase

__all__ = [
    "MAX_ANSWER_BYTES",
    "SHOWN_ANSWER_CHARS",
    "DestinationRefused",
    "Sender",
    "check_sendable",
    "full_jitter",
    "read_answer",
    "refused",
    "refused_destination",
    "retry_after",
    "retryable",
    "retryable_error",
    "retryable_phase",
    "safe_detail",
]

MAX_ANSWER_BYTES = 1 << 20  # an answer is read up to this size; the rest is dropped
SHOWN_ANSWER_CHARS = 200  # of an answer's body, in an error message
_RETRY_STATUSES = frozenset({408, 425, 429})  # and every 5xx


class DestinationRefused(httpx.TransportError):
    """The request's host resolved to an address its connector does not allow (raised by the
    client's transport before connecting); the message names the kind of address, never the host
    or the address, which may be parts of a token answer."""


_NOT_RETRIED = (
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    DestinationRefused,
)  # our request is wrong, or may not go where it would: again is no help
# RFC 9110 field-value as h11 checks it: visible characters (UTF-8 bytes of non-ASCII ones
# included), single spaces and tabs inside, none at either end.
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_QUOTED = re.compile(r"""(?:^|\s)b?['"]""")  # where a quoted (repr) part starts


def retryable(status: int | None) -> bool:
    """Whether an outcome may be transient, so worth another attempt: no answer at all (None: a
    connection error or a timeout), 408, 425, 429 or a 5xx. The one place that decides it, for the
    exporter's retries and for the outbox's."""
    return status is None or status in _RETRY_STATUSES or 500 <= status < 600


def retryable_error(error: httpx.TransportError) -> bool:
    """A transport error is worth another attempt unless our own request caused it."""
    return not isinstance(error, _NOT_RETRIED)


def retryable_phase(phase: PhaseResult) -> bool:
    """Whether a phase that failed may succeed when tried again (the outbox asks): its last
    attempt's transport error decides when it had one, else the answer's status."""
    if phase.error is not None:
        return retryable_error(phase.error)
    return retryable(phase.status)


def check_sendable(phase: Phase, request: httpx.Request) -> None:
    """A `RenderError` naming the header (``export.headers.X-Tenant``) whose value HTTP/1.1 cannot
    carry; h11 would refuse it only while sending, as a protocol error. White space at either end,
    the other thing h11 refuses, cannot reach here: the plan trims every header value it renders,
    and the headers added to it (Idempotency-Key, the signature's) hold none."""
    for name, value in request.headers.raw:
        if _CONTROL.search(value):
            raise RenderError(
                f"{phase}.headers.{name.decode('latin-1')}: the value holds a line break or "
                "another control character, which no HTTP request can carry; nothing was sent",
                hint="check the values that fill it; a '|' block ends with a line break "
                "('|-' does not)",
            )


def safe_detail(error: BaseException) -> str:
    """A foreign error's message up to the first thing it quotes: httpx and h11 quote the URL's
    host or port and a header's value (``Invalid port: '…'``), which may be a part of a secret."""
    text = _QUOTED.split(str(error), maxsplit=1)[0]
    return text.strip(" ,.:") or type(error).__name__


def full_jitter(policy: RetryPolicy, number: int, jitter: float) -> float:
    """The wait after attempt ``number``: anywhere from 0 to the exponential ceiling."""
    ceiling: float = min(policy.max_delay, policy.backoff * 2.0 ** (number - 1))
    return jitter * ceiling


def retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` in seconds; None when absent or unreadable.

    The header is a number of seconds or an HTTP date.
    """
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


class _Attempt:
    """The outcome of one send: an answer or a transport error."""

    __slots__ = ("answer", "error", "request")

    def __init__(
        self, request: httpx.Request, answer: Answer | None, error: httpx.TransportError | None
    ) -> None:
        self.request, self.answer, self.error = request, answer, error


class Sender:
    """Sends one phase's request over an injected client, with the connector's retry policy."""

    def __init__(
        self, client: httpx.Client, policy: RetryPolicy, timing: Timing, total: float
    ) -> None:
        self.client, self.policy, self.timing = client, policy, timing
        self.total = total  # timeout.total: also bounds reading a trickling answer

    def send(self, phase: PhaseResult, build: Callable[[], httpx.Request]) -> Answer:
        """Sends until an answer that is not worth retrying, or the attempts are used up.
        ``build`` makes each attempt's request (a signed one is signed anew each time)."""
        started = time.perf_counter()
        attempts = self.policy.attempts
        try:
            for number in range(1, attempts + 1):
                request = build()
                check_sendable(phase.name, request)  # before counting: nothing goes out
                phase.attempts += 1
                attempt = self._send_single_attempt(request)
                phase.request, phase.answer, phase.error = (
                    attempt.request,
                    attempt.answer,
                    attempt.error,
                )
                phase.sent.append(attempt.request)
                delay = self._retry_delay(attempt, number)
                if delay is None or number == attempts:
                    break
                self.timing.sleep(delay)
        finally:
            phase.seconds += time.perf_counter() - started
        if attempt.answer is None:
            error = attempt.error or httpx.TransportError("no answer")
            raise _unreachable(phase.name, error, phase.attempts)
        return attempt.answer

    def _send_single_attempt(self, request: httpx.Request) -> _Attempt:
        try:
            response = self.client.send(request, stream=True, follow_redirects=False)
        except httpx.TransportError as error:
            return _Attempt(request, None, error)
        try:
            # the real monotonic clock, not the injected one: this bounds real network time
            return _Attempt(request, read_answer(response, time.monotonic() + self.total), None)
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
        if attempt.error is not None and not retryable_error(attempt.error):
            return None
        if attempt.answer is not None:
            if not retryable(attempt.answer.status):
                return None
            after = retry_after(attempt.answer.header("retry-after"), self.timing.now())
            if after is not None:
                return min(after, self.policy.max_delay)
        return full_jitter(self.policy, number, self.timing.jitter())


def read_answer(response: httpx.Response, deadline: float) -> Answer:
    """The answer's body up to `MAX_ANSWER_BYTES`.

    The attempt's total time bounds a trickling body.
    """
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


# -- errors ------------------------------------------------------------------------------------


def refused(phase: Phase, answer: Answer, attempts: int, redact: Redactor) -> ExportError:
    """The error for a final answer that is not a 2xx (the token phase describes its own unusable
    answers without quoting them: `tokens.read_token_answer`). The excerpt of the answer is
    redacted before it is cut (`Redactor.shorten`): a secret cut in two would show its first
    part, as the redaction of the whole error later no longer recognises it."""
    where = f"{phase} request: the back end answered {answer.status} {answer.reason}".rstrip()
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    if 300 <= answer.status < 400:
        location = answer.header("location") or "nowhere"
        return ExportError(
            f"{where}{tries}, a redirect to {location}",
            hint="redirects are never followed; set the final URL in the connector",
        )
    content_type = answer.header("content-type") or "no content type"
    body = redact.shorten(answer.text.strip(), SHOWN_ANSWER_CHARS) or "(empty body)"
    return ExportError(
        f"{where} ({content_type}){tries}; expected a 2xx answer: {body}",
        hint=_status_hint(answer.status),
    )


def refused_destination(phase: Phase, error: DestinationRefused) -> TokenAnswerError:
    """The error for a request whose host, from the token answer, the connector does not allow."""
    return TokenAnswerError(
        f"{phase} request: {error}; nothing was sent",
        hint="if the back end really lives there, list its host name or address range "
        "under allow_hosts: in the connector",
    )


def _unreachable(phase: Phase, error: httpx.TransportError, attempts: int) -> ExportDslError:
    """The error for an attempt without an answer. It names neither the host nor the URL: they may
    hold a part of a secret (an `$env` base URL, a token answer's ``instance_url``)."""
    if isinstance(error, DestinationRefused):
        return refused_destination(phase, error)
    if isinstance(error, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
        return RenderError(
            f"{phase} request: HTTP/1.1 cannot carry it ({safe_detail(error)}); "
            "the client stopped it, and it is not retried",
            hint="check the request's headers (Content-Length, Host, Transfer-Encoding are the "
            "client's) and its URL",
        )
    kind = "timed out" if isinstance(error, httpx.TimeoutException) else "failed"
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    name = type(error).__name__
    detail = f"{name}: {safe_detail(error)}" if str(error) else name
    return ExportError(f"{phase} request {kind}{tries}: {detail}")


def _status_hint(status: int) -> str | None:
    if status in (401, 403):
        return "the back end refused the credentials; check the token request and the $env secrets"
    if status == 410:
        return "410 Gone: the back end says this URL is gone for good; it is not retried"
    if 400 <= status < 500 and not retryable(status):
        return "a 4xx answer means the request itself is wrong; it is not retried"
    return None
