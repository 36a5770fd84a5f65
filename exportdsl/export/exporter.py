"""Running a plan: the PDF, the token phase, the XML template, the export phase (the report POST).

`Exporter` runs one connector's exports over an injected, keep-alive `httpx.Client`; the time,
the waits, the randomness and the environment are injected too, so tests are exact and fast.

An export reads, step by step: the token phase (`tokens`) → build and sign the request (`build`)
→ send it with retries (`sending`) → read the answer. The dry run (`dryrun`) takes the same
public steps (`variables`, `build`, `render_export`, `signer`) with a client that cannot send.
Every error that leaves an export is redacted by `Redactor` first: the redactor of that export
alone (`Redactor.scope`), which knows the connector's secrets and what the export met (the token,
signatures, the back end's cookies), and is dropped with the export, so a process that runs
exports for months hides as much on the last as on the first, at the same cost.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from exportdsl.chat.reader import ChatSession
from exportdsl.compiler.plan import Plan, RenderedRequest, RequestPlan, compile_blocks
from exportdsl.compiler.values import SafeText, TextValue
from exportdsl.connector.model import AllowedHosts
from exportdsl.connector.transcript import TranscriptSettings
from exportdsl.errors import ExportDslError, RenderError
from exportdsl.export.build import (
    Signer,
    Signs,
    build_request,
    checked_destinations,
    enabled_export,
    idempotency_key,
    make_signer,
    request_timeout,
)
from exportdsl.export.redact import Redactor, guard_logs, redact_error, release_logs
from exportdsl.export.results import Answer, ExportResult, PhaseResult
from exportdsl.export.sending import Sender, refused
from exportdsl.export.timing import Timing
from exportdsl.export.tokens import TokenCache, TokenPhase
from exportdsl.vocabulary import Phase

__all__ = ["DATE_FORMAT", "Exporter", "env_names", "located"]

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"  # $dateTime: yyyy-MM-dd HH:mm:ss


class Exporter:
    """Exports chats with one connector's plan.

    Not thread-safe; one per thread (share a `TokenCache`).

    The plan's retry policy applies; the queue's workers give it a plan of one attempt, since the
    outbox schedules the next one itself.
    """

    def __init__(
        self,
        plan: Plan,
        client: httpx.Client,
        *,
        env: Mapping[str, str] | None = None,
        timing: Timing | None = None,
        tokens: TokenCache | None = None,
        redactor: Redactor | None = None,
        render_pdf: Callable[[ChatSession, TranscriptSettings], bytes] | None = None,
    ) -> None:
        self.plan, self.client = plan, client
        self.render_pdf = render_pdf  # (chat, settings) -> PDF; the transcript by default
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.timing = timing if timing is not None else Timing()
        # the connector's own secrets, for the life of the exporter; each export gets a scope
        self.secrets = redactor if redactor is not None else Redactor()
        # the redactor of the export under way, or of the last one (what prints its result uses
        # it); the connector's until the first export (the dry run takes the steps without one)
        self.redact = self.secrets
        guard_logs(self.secrets)
        self.zone = ZoneInfo(plan.timezone)
        self.timeout = request_timeout(plan)
        self.sender = Sender(client, plan.retry, self.timing, plan.timeout.total)
        # a report whose host comes from the token answer goes only where the connector allows
        self.export_destinations = checked_destinations(plan, plan.export)
        # forward mode: the export request without its body, which is the chat as posted
        export = plan.export
        forwards = export is not None and export.url is not None and export.forwards_chat
        self.forward = _without_body(export) if export is not None and forwards else None
        self.token = (
            None
            if plan.token is None
            else TokenPhase(
                plan, tokens if tokens is not None else TokenCache(), self.timing.monotonic
            )
        )
        for name in env_names(plan):
            if name in self.env:
                self.secrets.add(self.env[name])

    # -- the export ----------------------------------------------------------------------------
    def export(self, chat: ChatSession) -> ExportResult:
        """Export one chat; raises the `ExportDslError` that stopped it.

        `run` keeps the details.
        """
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
        scope = result.redact = self.redact = self.secrets.scope()
        guard_logs(scope)
        try:
            self._run(chat, result)
        except ExportDslError as error:
            result.error = redact_error(scope, error)
        finally:
            release_logs(scope)
        result.seconds = time.perf_counter() - started
        return result

    def _run(self, chat: ChatSession, result: ExportResult) -> None:
        export = enabled_export(self.plan)
        variables = self.variables(chat)
        key = result.idempotency_key = result.idempotency_key or idempotency_key(self.plan, chat)
        if self.token is not None:
            with located(self.plan, Phase.TOKEN):
                variables["tokenResponse"] = self.token.run(
                    variables, result.begin(Phase.TOKEN), self._send, self.redact
                )
        exported = result.begin(Phase.EXPORT)
        answer = self._export_phase(export, variables, chat, key, exported)
        if answer.status == 401 and self.token is not None:
            # the token may have been revoked before it expired: one new token, one more try
            with located(self.plan, Phase.TOKEN):
                variables["tokenResponse"] = self.token.run(
                    variables,
                    result.begin(Phase.TOKEN),
                    self._send,
                    self.redact,
                    refused=variables["tokenResponse"],
                )
            answer = self._export_phase(export, variables, chat, key, result.begin(Phase.EXPORT))
        if not 200 <= answer.status < 300:
            raise refused(Phase.EXPORT, answer, exported.attempts, self.redact)
        result.failed_phase = None

    def _export_phase(
        self,
        export: RequestPlan,
        variables: dict[str, Any],
        chat: ChatSession,
        key: str,
        phase: PhaseResult,
    ) -> Answer:
        with located(self.plan, Phase.EXPORT):
            rendered = self.render_export(export, variables, chat)
            answer = self._send(phase, rendered, key, self.signer(), self.export_destinations)
        for name, value in answer.headers:  # the back end's cookies: this export's, not ours
            self.redact.add_header(name, value, literal=True)
        return answer

    def _send(
        self,
        phase: PhaseResult,
        rendered: RenderedRequest,
        key: str | None = None,
        sign: Signer | None = None,
        destinations: AllowedHosts | None = None,
    ) -> Answer:
        # built for each attempt: a signature carries the time of its sending
        return self.sender.send(phase, lambda: self.build(rendered, key, sign, destinations))

    # -- the steps, public: the dry run takes them too -----------------------------------------
    def variables(self, chat: ChatSession) -> dict[str, Any]:
        """Every variable but $tokenResponse and $xmlTemplate, with $dateTime frozen now."""
        if self.render_pdf is not None:
            pdf = self.render_pdf(chat, self.plan.transcript)
        else:
            from exportdsl.transcript.pdf import (
                render_transcript,
            )  # reportlab loads only when a PDF is made

            pdf = render_transcript(chat, self.plan.transcript)
        variables = self.plan.connector_variables()
        # SafeText: ours, of a known alphabet, so it goes in unescaped where that alphabet is safe
        now = SafeText(self.timing.now().astimezone(self.zone).strftime(DATE_FORMAT))
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

    def render_export(
        self, export: RequestPlan, variables: dict[str, Any], chat: ChatSession
    ) -> RenderedRequest:
        """The XML template, then the export request; its secret-looking headers are registered.
        In forward mode the body is the chat's JSON as it was posted (`_forwarded`)."""
        self.add_xml_template(variables)
        if self.forward is not None and chat.posted is not None:
            rendered = self.forward.render(variables)._replace(body=_forwarded(chat.posted))
        else:
            rendered = export.render(variables)
        for name, value in rendered.headers:
            self.redact.add_header(name, value)
        return rendered

    def signer(self) -> Signer | None:
        """The connector's signer (XD603 when its secret is unset or malformed), or None."""
        sign = make_signer(self.plan, self.env, self.timing.now)
        if sign is not None:  # the connector's own; read now: the environment may have changed
            self.secrets.add(sign.secret)
        return sign

    def build(
        self,
        rendered: RenderedRequest,
        key: str | None = None,
        sign: Signs | None = None,
        destinations: AllowedHosts | None = None,
    ) -> httpx.Request:
        """A rendered request as it goes on the wire, with ``Idempotency-Key`` and the signature
        when given; the signature is hidden for the rest of this export (it can be replayed for
        minutes), as a literal: it never enters a template."""
        for name, value in rendered.headers:  # the token request's too: auth builds a Basic one
            self.redact.add_header(name, value)
        try:
            request = build_request(self.client, rendered, self.timeout, key, sign, destinations)
        except RenderError as error:  # the URL as built, which names no field: `located` does
            error.about = "url"
            raise
        if sign is not None:
            signature = request.headers["webhook-signature"]
            self.redact.add_header("webhook-signature", signature, literal=True)
        return request


def _without_body(export: RequestPlan) -> RequestPlan:
    """A forward connector's export request without its body (`$chat`): the URL and headers are
    rendered as ever, and the chat as posted takes the body's place, so it is never re-serialised
    (a 5 MB chat is not encoded again either)."""
    fields = [field for field in export.fields if field is not export.body]
    (block,) = compile_blocks([fields])
    return dataclasses.replace(export, body=None, block=block)


def _forwarded(posted: bytes) -> str:
    """The body forward mode sends: the chat's bytes as posted. They are UTF-8 (the reader took
    them), so encoding this text for the wire gives them back byte for byte; only a leading
    byte-order mark, which the reader allows and JSON on the wire may not have (RFC 8259 §8.1),
    is left out."""
    return posted.decode("utf-8-sig")


@contextmanager
def located(plan: Plan, phase: Phase) -> Iterator[None]:
    """A render error of ``phase``'s request that has no place yet (a check made at run time, on
    the values: a Basic user name with ``:``, a host name the resolver cannot take) gets the place
    of the field it is about, as the plan's own render errors do: the field its message names
    (``export.auth.basic.username: …``), or the request's URL for an error about the URL as built.
    The place is the field's first reference, where the value came from."""
    try:
        yield
    except RenderError as error:
        request = plan.token if phase is Phase.TOKEN else plan.export
        if error.location is None and request is not None:
            _place(error, request)
        raise


def _place(error: RenderError, request: RequestPlan) -> None:
    field = next((f for f in request.fields if error.message.startswith(f"{f.name}: ")), None)
    if field is None and error.about == "url" and request.url is not None:
        field = request.url
        error.message = f"{field.name}: {error.message}"
        error.args = (error.message,)
    if field is not None:
        error.location = next((h.location for h in field.holes if h.location), None)


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
    if plan.intake_env is not None:
        names.add(plan.intake_env)
    return names
