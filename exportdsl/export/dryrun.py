"""The dry run: the requests an export would send, in order, as they would go on the wire.

It takes the exporter's own steps (`Exporter.variables`, `Exporter.build`,
`Exporter.render_export`, `Exporter.signer`) through the client `make_client` builds, with a
transport that cannot send: what ``exportdsl render`` prints is what ``exportdsl export`` sends.
What only a real export knows shows as a placeholder: ``<tokenResponse.body.JSON.access_token>``,
``<env.NAME>`` for an unset variable, ``<time of sending>`` for an unsigned request's timestamp.
`RenderCheck` is the same dry run made cheap for the intake, which checks every hook's chat with it.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from exportdsl.chat.reader import ChatSession
from exportdsl.compiler.plan import FieldPlan, Plan, RenderedRequest, RequestPlan
from exportdsl.compiler.values import StandIn
from exportdsl.connector.transcript import TranscriptSettings
from exportdsl.errors import ExportDslError
from exportdsl.export.build import enabled_export, idempotency_key
from exportdsl.export.client import make_client
from exportdsl.export.exporter import Exporter, located
from exportdsl.export.redact import Redactor, redact_error
from exportdsl.export.results import Answer
from exportdsl.export.timing import Clock, Timing
from exportdsl.export.tokens import read_token_answer
from exportdsl.language.nodes import Foreach, If, Reference, Set, references_in, walk
from exportdsl.vocabulary import Phase

__all__ = ["DryRun", "RenderCheck", "dry_run", "placeholder"]

# What renders the same for every chat in a render check: the connector's own values, and $env,
# for which the check has stand-ins only. A request that reads nothing else ($chat, $dateTime, a
# #set or loop variable, ...) renders the same way, or fails the same way, for every hook.
_SAME_FOR_EVERY_CHAT = frozenset({"ClientsID", "pdata", "chatConnector", "env"})

# "<env.NAME>", "Bearer <tokenResponse.body.JSON.access_token>", "<v1,signature with $env.NAME>"
_PLACEHOLDER = re.compile(r"(?:^|\s)<[A-Za-z][\w.]*>\Z|\A<v1,signature with \$env\.\w+>\Z")


@dataclass(frozen=True, slots=True)
class DryRun:
    """The requests an export would send, in order, as they would go on the wire.

    Nothing was sent.
    """

    requests: tuple[tuple[Phase, httpx.Request], ...]  # (phase, request)
    redact: Redactor
    missing_env: tuple[str, ...]  # shown as <env.NAME>
    xml_template: str | None = None  # the XML template as rendered ($xmlTemplate), unredacted


def dry_run(
    plan: Plan,
    chat: ChatSession,
    *,
    env: Mapping[str, str] | None = None,
    now: Clock | None = None,
    token_answer: bytes | None = None,
) -> DryRun:
    """Both requests rendered exactly as an export would send them.

    They go through a client that cannot send.

    Without ``token_answer`` (the token endpoint's JSON body) every ``$tokenResponse`` value shows
    as ``<tokenResponse.body.JSON.access_token>`` and so on; an unset ``$env`` variable as
    ``<env.NAME>``.
    """
    dry_env = _DryRunEnv(os.environ if env is None else env)
    redact = _DryRunRedactor()
    timing = Timing() if now is None else Timing(now=now)
    xml: list[str] = []  # the XML template as `_requests` rendered it (none without one)
    with make_client(transport=_NoNetwork()) as client:
        exporter = Exporter(plan, client, env=dry_env, timing=timing, redactor=redact)
        try:
            requests = tuple(_requests(exporter, chat, token_answer, xml))
        except ExportDslError as error:
            redact_error(redact, error)  # made before every secret was known, like an export's
            raise
    return DryRun(requests, redact, tuple(dry_env.missing), next(iter(xml), None))


class RenderCheck:
    """The dry run of one connector for chat after chat, cheap enough for every hook the intake
    takes: it raises the `RenderError` (or other `ExportDslError`) the export would meet with a
    chat's values, and sends nothing. Unlike `dry_run` it never makes the PDF (an empty one stands
    in for ``$report``), every ``$env`` value is a stand-in like ``$tokenResponse``'s (they are
    the export's to know, not the chat's), and it keeps nothing of one chat for the next: no
    secret is registered. It renders the requests (the exporter's steps: the token request, the
    XML template, the export request) but does not build them for the wire: what building checks,
    the URL as built and its host, no chat value reaches (a chat value is percent-encoded in the
    path and query, and refused before the path at compile time, XD209), and it was half the cost.
    Thread-safe: an exporter per thread."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.export = enabled_export(plan)
        self._local = threading.local()
        # A token request that reads no chat value is rendered for the first chat only: its
        # outcome, None when it rendered, else its error (raised again for every chat)
        self._token_same_for_every_chat = plan.token is not None and _same_for_every_chat(
            plan.token
        )
        self._token_outcome: tuple[ExportDslError | None] | None = None

    def __call__(self, chat: ChatSession) -> None:
        """Render every request of an export of ``chat``."""
        exporter = self._exporter()
        variables = exporter.variables(chat)
        if self.plan.token is not None:
            self._render_token(variables)
            variables["tokenResponse"] = _token_placeholder()
        with located(self.plan, Phase.EXPORT):
            exporter.render_export(self.export, variables, chat)

    def _render_token(self, variables: dict[str, Any]) -> None:
        token = self.plan.token
        assert token is not None
        if not self._token_same_for_every_chat:
            with located(self.plan, Phase.TOKEN):
                token.render(variables)
            return
        if self._token_outcome is None:  # two threads may both render it: the same outcome
            try:
                with located(self.plan, Phase.TOKEN):
                    token.render(variables)
            except ExportDslError as error:
                self._token_outcome = (error,)
            else:
                self._token_outcome = (None,)
        (failure,) = self._token_outcome
        if failure is not None:
            # the same error each time (read, never changed), its traceback dropped: each raise
            # would add to it
            raise failure.with_traceback(None)

    def _exporter(self) -> Exporter:
        exporter: Exporter | None = getattr(self._local, "exporter", None)
        if exporter is None:
            exporter = self._local.exporter = Exporter(
                self.plan,
                _offline_client(),
                env=_DryRunEnv({}),
                redactor=_Forgetful(),
                render_pdf=_no_pdf,
            )
        return exporter


def _same_for_every_chat(request: RequestPlan) -> bool:
    """Whether ``request`` reads only what is the same for every chat (`_SAME_FOR_EVERY_CHAT`):
    every reference of every field, those of directives (conditions, loop sources, #set
    values) included."""
    return all(name in _SAME_FOR_EVERY_CHAT for field in request.fields for name in _read(field))


def _read(field: FieldPlan) -> set[str]:
    """The names of the variables ``field`` reads."""
    names = {hole.reference.name for hole in field.holes}
    if field.program is None:
        return names
    for node in walk(field.program.nodes):
        if isinstance(node, Reference):
            names.add(node.name)
        elif isinstance(node, If):
            for branch in node.branches:
                if branch.condition is not None:
                    names.update(reference.name for reference in references_in(branch.condition))
        elif isinstance(node, Foreach):
            names.update(reference.name for reference in references_in(node.source))
        elif isinstance(node, Set):
            names.update(reference.name for reference in references_in(node.value))
    return names


@functools.cache
def _offline_client() -> httpx.Client:
    """One client for every render check's exporters, which never use it."""
    return make_client(transport=_NoNetwork())


def _no_pdf(chat: ChatSession, settings: TranscriptSettings) -> bytes:
    return b""  # base64 of nothing: a value every place a report may land takes


class _Forgetful(Redactor):
    """The render check's: nothing it renders is shown anywhere, so nothing is kept (a long-lived
    redactor that learned every chat's secret-looking header values would only grow)."""

    def add(self, secret: str) -> None:
        pass

    def add_literal(self, value: str) -> None:
        pass


def _requests(
    exporter: Exporter, chat: ChatSession, token_answer: bytes | None, xml: list[str]
) -> Iterator[tuple[Phase, httpx.Request]]:
    plan = exporter.plan
    export = enabled_export(plan)
    variables = exporter.variables(chat)
    if exporter.token is not None:
        with located(plan, Phase.TOKEN):
            token_request = exporter.build(exporter.token.request.render(variables))
        yield Phase.TOKEN, token_request
        variables["tokenResponse"] = (
            _token_placeholder()
            if token_answer is None
            else read_token_answer(
                Answer(200, "OK", (), token_answer),  # unlabelled: read as JSON, else as a form
                1,
                exporter.redact,
            ).response
        )
    with located(plan, Phase.EXPORT):
        rendered = exporter.render_export(export, variables, chat)
        if "xmlTemplate" in variables:  # what `render_export` made of the XML template
            xml.append(str(variables["xmlTemplate"]))
        export_request = _signed(exporter, rendered, idempotency_key(plan, chat))
    yield Phase.EXPORT, export_request


def _signed(exporter: Exporter, rendered: RenderedRequest, key: str) -> httpx.Request:
    """The export request, signed as an export signs it; with the signing secret unset,
    placeholders stand for the signature headers (in the place the real ones go)."""
    signing = exporter.plan.signing
    if signing is None or signing.env in exporter.env:
        return exporter.build(rendered, key, exporter.signer(), exporter.export_destinations)
    return exporter.build(rendered, key, _UnsetSigner(signing.env), exporter.export_destinations)


class _UnsetSigner:
    """Signs with placeholders: the secret in ``$env.<name>`` is not set for the dry run."""

    def __init__(self, name: str) -> None:
        self.name = name

    def headers(self, message_id: str, body: bytes) -> dict[str, str]:
        return {
            "webhook-id": message_id,
            "webhook-timestamp": "<time of sending>",
            "webhook-signature": f"<v1,signature with $env.{self.name}>",
        }


class _DryRunRedactor(Redactor):
    """A placeholder is never a secret: "Bearer <tokenResponse...>" hides nothing, and shows what
    the real export will put there."""

    def add(self, secret: str) -> None:
        if not _PLACEHOLDER.search(secret):
            super().add(secret)


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


def placeholder(path: str) -> StandIn:
    """A value only the real export knows, shown as ``<path>`` in a dry run (as
    ``https://path.invalid`` where the URL needs an origin)."""
    return StandIn(f"<{path}>", _PlaceholderFields(path))


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
