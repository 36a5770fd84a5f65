"""The token phase: a cached token while it lasts, else the token request rendered, sent and its
answer read as ``$tokenResponse``.

A token is cached per connector until shortly before its ``expires_in`` (`lifetime`), and only
when the token request uses nothing but the connector's own variables: one that uses ``$chat`` or
``$dateTime`` is a different request for every chat. Every secret in a token answer is registered
with the exporter's `Redactor` before anything else happens to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from exportdsl.compiler.plan import Plan, RenderedRequest, RequestPlan
from exportdsl.compiler.values import TextValue
from exportdsl.export.redact import Redactor
from exportdsl.export.results import Answer, PhaseResult
from exportdsl.export.sending import refused
from exportdsl.vocabulary import Phase

__all__ = [
    "DEFAULT_TOKEN_LIFETIME",
    "TOKEN_MARGIN",
    "Send",
    "TokenCache",
    "TokenPhase",
    "lifetime",
]

DEFAULT_TOKEN_LIFETIME = 300.0  # seconds, for a token answer without expires_in
TOKEN_MARGIN = 30.0  # seconds before expires_in when a cached token is no longer used
_CONNECTOR_VARIABLES = frozenset({"ClientsID", "chatConnector", "pdata", "env"})

Send = Callable[[PhaseResult, RenderedRequest], Answer]  # the exporter's send with retries


@dataclass(frozen=True, slots=True)
class _Token:
    response: Mapping[str, Any]  # $tokenResponse
    expires: float  # on the exporter's monotonic clock


class TokenCache:
    """Tokens by connector, kept until shortly before their ``expires_in``.

    Share one between exporters of the same connector to share its token.
    """

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], _Token] = {}

    def get(self, key: tuple[str, str], now: float) -> Mapping[str, Any] | None:
        token = self._tokens.get(key)
        return token.response if token is not None and now < token.expires else None

    def put(self, key: tuple[str, str], response: Mapping[str, Any], expires: float) -> None:
        self._tokens[key] = _Token(response, expires)

    def drop(self, key: tuple[str, str]) -> None:
        self._tokens.pop(key, None)


class TokenPhase:
    """One connector's token phase, for one exporter (its redactor) over a shared `TokenCache`."""

    def __init__(
        self,
        plan: Plan,
        cache: TokenCache,
        redact: Redactor,
        monotonic: Callable[[], float],
    ) -> None:
        assert plan.token is not None  # a connector without a token section has no token phase
        self.request: RequestPlan = plan.token
        self.cache, self.redact, self.monotonic = cache, redact, monotonic
        self.key = (str(plan.connector_id), str(plan.client_id))
        self.cacheable = _uses_only(plan.token, _CONNECTOR_VARIABLES)

    def run(
        self, variables: Mapping[str, Any], phase: PhaseResult, send: Send, *, fresh: bool = False
    ) -> Mapping[str, Any]:
        """``$tokenResponse``: from the cache unless ``fresh``, else fetched (and cached)."""
        cached = None if fresh or not self.cacheable else self.cache.get(self.key, self.monotonic())
        phase.cached = cached is not None
        if cached is not None:
            self._register(
                cached
            )  # another exporter fetched it: this one's redactor must know it too
            return cached
        answer = send(phase, self.request.render(variables))
        response = self.read(answer, phase.attempts)
        if self.cacheable:
            self.cache.put(self.key, response, self.monotonic() + lifetime(response))
        return response

    def drop(self) -> None:
        """The token was refused (a 401) before it expired: the next one is fetched anew."""
        self.cache.drop(self.key)

    def read(self, answer: Answer, attempts: int) -> dict[str, Any]:
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
            raise refused(Phase.TOKEN, answer, attempts, expected="a 2xx answer with a JSON body")
        headers = httpx.Headers(list(answer.headers))
        return {
            "status": answer.status,
            "headers": headers,
            "body": TextValue(text, {"JSON": parsed}),
        }

    def _register(self, response: Mapping[str, Any]) -> None:
        for name, value in response["headers"].multi_items():
            self.redact.add_header(name, value)
        self.redact.add_json(response["body"].fields["JSON"])


def lifetime(response: Mapping[str, Any]) -> float:
    """Seconds a token may be used from the cache: its ``expires_in`` less a margin."""
    parsed = response["body"].fields["JSON"]
    expires_in = parsed.get("expires_in") if isinstance(parsed, dict) else None
    try:
        seconds = float(expires_in) if expires_in is not None else DEFAULT_TOKEN_LIFETIME
    except (TypeError, ValueError):
        seconds = DEFAULT_TOKEN_LIFETIME
    return seconds - min(TOKEN_MARGIN, seconds / 10)


def _uses_only(request: RequestPlan, names: frozenset[str]) -> bool:
    return all(
        hole.reference.name in names for field_plan in request.fields for hole in field_plan.holes
    )
