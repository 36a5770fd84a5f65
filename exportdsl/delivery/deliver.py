"""One delivery attempt: the stored chat through the connector's export, and what came of it.

Each worker thread has its own keep-alive `httpx.Client` and `Exporter`s (they are not
thread-safe); the token caches are shared per connector, and fetch a connector's token once for
all its workers (single-flight). The exporter makes exactly one attempt with the delivery's own
Idempotency-Key; the outbox decides about the next one from the `Outcome`. The PDF transcript is
rendered by a `rendering.Renderer`: in the worker's thread, or in render processes.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import httpx

from exportdsl.chat.reader import parse_chat_bytes
from exportdsl.compiler.plan import Plan
from exportdsl.connector.model import RetryPolicy
from exportdsl.delivery.outbox import MAX_ANSWER_CHARS, MAX_REQUEST_CHARS, Delivery
from exportdsl.delivery.rendering import InThread, Renderer, RenderProcessLost
from exportdsl.delivery.workers import Outcome
from exportdsl.errors import ExportDslError
from exportdsl.export.client import make_client
from exportdsl.export.exporter import Exporter
from exportdsl.export.redact import cut
from exportdsl.export.results import ExportResult, PhaseResult, decoded
from exportdsl.export.sending import retry_after, retryable_phase
from exportdsl.export.shown import format_sent
from exportdsl.export.tokens import TokenCache
from exportdsl.vocabulary import Phase

__all__ = ["ONE_ATTEMPT", "ExportDeliverer", "answer_kept", "outcome", "requests_sent"]

ONE_ATTEMPT = RetryPolicy(attempts=1, backoff=0.0, max_delay=0.0)
_ANSWER_READ = 4 * MAX_ANSWER_CHARS  # bytes of an answer redacted for its first KiB


class ExportDeliverer:
    def __init__(
        self,
        plans: Mapping[str, Plan],
        *,
        env: Mapping[str, str] | None = None,
        client_factory: Callable[[], httpx.Client] = make_client,
        render: Renderer | None = None,
    ) -> None:
        self.plans = plans  # may change while serving (a reload): looked up at each delivery
        self.env = env
        self.client_factory = client_factory
        self._tokens: dict[str, tuple[Plan, TokenCache]] = {}  # a changed plan gets a new cache
        self._tokens_lock = threading.Lock()
        self._local = threading.local()
        self.render: Renderer = render if render is not None else InThread()  # the PDF transcript

    def __call__(self, delivery: Delivery, body: bytes) -> Outcome:
        plan = self.plans.get(delivery.connector)
        if plan is None:  # it stopped being served after the claim: held until it is served again
            return Outcome(
                False, error=f"connector {delivery.connector!r} is not served", held=True
            )
        try:
            chat = parse_chat_bytes(body)
        except (
            ExportDslError
        ) as error:  # accepted chats were valid; a changed model could refuse one
            return Outcome(
                False, error=f"the stored chat no longer reads: {error.message}", permanent=True
            )
        try:
            result = self._exporter(delivery.connector, plan).run(
                chat, key=delivery.idempotency_key
            )
        except RenderProcessLost as lost:  # the attempt failed, not the chat: worth another try
            return Outcome(False, error=str(lost))
        return outcome(result)

    def _exporter(self, name: str, plan: Plan) -> Exporter:
        exporters: dict[str, tuple[Plan, Exporter]] | None = getattr(self._local, "exporters", None)
        if exporters is None:
            exporters = self._local.exporters = {}
            self._local.client = self.client_factory()
        made = exporters.get(name)
        if made is None or made[0] is not plan:  # new, or the connector was changed and reloaded
            exporter = Exporter(
                dataclasses.replace(plan, retry=ONE_ATTEMPT),  # the outbox schedules the next one
                self._local.client,
                env=self.env,
                tokens=self._token_cache(name, plan),
                render_pdf=self.render,
            )
            made = exporters[name] = (plan, exporter)
        return made[1]

    def _token_cache(self, name: str, plan: Plan) -> TokenCache:
        """One per connector for all the workers, new when the connector's plan changes (its token
        request may have changed)."""
        with self._tokens_lock:
            cached = self._tokens.get(name)
            if cached is None or cached[0] is not plan:
                cached = self._tokens[name] = (plan, TokenCache())
            return cached[1]


def outcome(result: ExportResult) -> Outcome:
    """Delivered; failed but worth another try (`retryable_phase`: no answer for a reason that may
    pass, 408, 425, 429, 5xx); or failed for good (a request the client refuses to send, a
    destination the connector does not allow, most 4xx)."""
    failed = result.phase(result.failed_phase) if result.failed_phase else None
    last = failed or (result.phases[-1] if result.phases else None)
    status = last.status if last is not None else None
    answer = answer_kept(result, last)
    request = requests_sent(result)
    if result.ok:
        return Outcome(True, status=status, answer=answer, request=request)
    error = str(result.error)
    if (
        last is None or last.attempts == 0
    ):  # stopped before sending: the connector or the chat is wrong
        return Outcome(False, error=error, permanent=True, request=request)
    if retryable_phase(last):
        wait = (
            retry_after(last.answer.header("retry-after"), datetime.now(UTC))
            if last.answer is not None
            else None
        )
        return Outcome(
            False, status=status, error=error, retry_after=wait, answer=answer, request=request
        )
    return Outcome(
        False, status=status, error=error, permanent=True, answer=answer, request=request
    )


def requests_sent(result: ExportResult) -> str | None:
    """Every request the attempt sent (the token's, when it was fetched, and the report's), as
    it went out: redacted with the export's secrets, each long base64 (the PDF) a placeholder
    naming its size (`shown.format_sent`). None when nothing was sent."""
    texts = [
        format_sent(str(phase.name), request, result.redact, MAX_REQUEST_CHARS // 2)
        for phase in result.phases
        for request in phase.sent
    ]
    return "\n\n".join(texts) or None


def answer_kept(result: ExportResult, phase: PhaseResult | None) -> str | None:
    """The first `MAX_ANSWER_CHARS` of the phase's answer body, redacted with the export's
    secrets (its token, the connector's ``$env`` values) for the attempt's history; None without
    an answer, and for the token phase's: a token answer is never quoted (XD602), it may be
    the token itself. Only the start is redacted (an answer may be a MiB): a little more than is
    kept, less its end, which may hold the first part of a secret cut off
    (`Redactor.without_cut_off_tail`)."""
    answer = phase.answer if phase is not None and phase.name == Phase.EXPORT else None
    if answer is None:
        return None
    head = answer.body[:_ANSWER_READ]
    text = result.redact(decoded(head, answer.header("content-type")))  # by its charset
    if len(head) < len(answer.body) or answer.truncated:
        text = result.redact.without_cut_off_tail(text)
    return cut(text, MAX_ANSWER_CHARS)
