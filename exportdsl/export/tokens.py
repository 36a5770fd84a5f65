"""The token phase: a cached token while it lasts, else the token request rendered, sent and its
answer read as ``$tokenResponse``.

A token is cached per connector until shortly before its ``expires_in`` (`lifetime`, clamped to
`MAX_TOKEN_LIFETIME`), and only when the token request uses nothing but the connector's own
variables: one that uses ``$chat`` or ``$dateTime`` is a different request for every chat. Fetches
are single-flight per connector: exporters in several threads that need the token at once make one
request, the others wait for its answer (`TokenCache.flight`).

A token answer is secret material whatever its format (docs/design.md §8.5): JSON (a UTF-8 byte
order mark is skipped), form-encoded (GitHub's default, read into the same ``.body.JSON`` fields),
anything else, and whatever its status. Every value in it is registered with the export's
`Redactor` before anything else happens to it, and an answer that cannot be used is described by
its status, content type and length, never quoted.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import httpx

from exportdsl import strictjson
from exportdsl.compiler.plan import Plan, RenderedRequest, RequestPlan
from exportdsl.compiler.values import TextValue, list_names, looks_like_a_name
from exportdsl.errors import TokenAnswerError
from exportdsl.export.redact import Redactor, SecretSet, header_secrets, json_secrets
from exportdsl.export.results import Answer, PhaseResult
from exportdsl.export.sending import MAX_ANSWER_BYTES, retryable

__all__ = [
    "DEFAULT_TOKEN_LIFETIME",
    "MAX_TOKEN_LIFETIME",
    "TOKEN_MARGIN",
    "Send",
    "Token",
    "TokenCache",
    "TokenPhase",
    "expires_in_seconds",
    "form_fields",
    "form_pairs",
    "lifetime",
    "read_token_answer",
]

DEFAULT_TOKEN_LIFETIME = 300.0  # seconds, for a token answer without a readable expires_in
MAX_TOKEN_LIFETIME = 86_400.0  # a day: a longer expires_in is taken as this (a 401 renews sooner)
TOKEN_MARGIN = 30.0  # seconds before expires_in when a cached token is no longer used
_CONNECTOR_VARIABLES = frozenset({"ClientsID", "chatConnector", "pdata", "env"})
_NUMBER_PROBLEM = (
    "its JSON holds a number no request can carry (NaN, Infinity, beyond ±1.8e308, or more than "
    f"{strictjson.MAX_INTEGER_DIGITS} digits)"
)
_SHOWN_FIELDS = 12  # field names of an unusable answer named in its error
_HIDDEN_LINES = 64  # of an answer without fields, the lines hidden one by one (and it, whole)
# RFC 6749 §5.2: an error answer's "error" is one of these words, public by definition
_OAUTH_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)
# headers of the protocol, which say nothing of the token; any other header's value is secret
_PUBLIC_HEADERS = frozenset(
    {
        "age",
        "cache-control",
        "connection",
        "content-encoding",
        "content-language",
        "content-length",
        "content-type",
        "date",
        "expires",
        "keep-alive",
        "last-modified",
        "pragma",
        "referrer-policy",
        "retry-after",
        "server",
        "strict-transport-security",
        "transfer-encoding",
        "vary",
        "via",
        "x-content-type-options",
        "x-frame-options",
        "x-xss-protection",
    }
)
_FORM_TYPE = "application/x-www-form-urlencoded"
_Pairs = Sequence[tuple[str, object]]  # an answer's name-value pairs, a repeated name's every one
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]{0,63}/[A-Za-z0-9][\w.+-]{0,63}")
_FORM_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_SECONDS = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,9})?")

Send = Callable[[PhaseResult, RenderedRequest], Answer]  # the exporter's send with retries


@dataclass(frozen=True, slots=True)
class Token:
    """A usable token answer: ``$tokenResponse``, and its secrets with their forms worked out
    once, so every export that uses the cached token hides them at the cost of a set union."""

    response: Mapping[str, Any]
    secrets: SecretSet


@dataclass(frozen=True, slots=True)
class _Cached:
    token: Token
    expires: float  # on the exporter's monotonic clock


class TokenCache:
    """Tokens by connector, kept until shortly before their ``expires_in``.

    Share one between the exporters of a connector (one per thread) to share its token: they
    fetch it one at a time (`flight`), so a token is requested once however many need it at once.
    """

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], _Cached] = {}
        self._flights: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], now: float) -> Token | None:
        cached = self._tokens.get(key)
        return cached.token if cached is not None and now < cached.expires else None

    def put(self, key: tuple[str, str], token: Token, expires: float) -> None:
        self._tokens[key] = _Cached(token, expires)

    def drop(self, key: tuple[str, str]) -> None:
        self._tokens.pop(key, None)

    def flight(self, key: tuple[str, str]) -> threading.Lock:
        """The lock a connector's token is looked up and fetched under: one fetch at a time."""
        with self._lock:
            return self._flights.setdefault(key, threading.Lock())


class TokenPhase:
    """One connector's token phase, for one exporter, over a shared `TokenCache`."""

    def __init__(self, plan: Plan, cache: TokenCache, monotonic: Callable[[], float]) -> None:
        assert plan.token is not None  # a connector without a token section has no token phase
        self.request: RequestPlan = plan.token
        self.cache, self.monotonic = cache, monotonic
        self.key = (str(plan.connector_id), str(plan.client_id))
        self.cacheable = _uses_only(plan.token, _CONNECTOR_VARIABLES)

    def run(
        self,
        variables: Mapping[str, Any],
        phase: PhaseResult,
        send: Send,
        redact: Redactor,
        *,
        refused: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        """``$tokenResponse``: from the cache, else fetched (and cached); its secrets are made
        known to ``redact`` either way. ``refused``: the token the back end just refused (a 401):
        a newer one another exporter fetched meanwhile is taken, else one is fetched."""
        if not self.cacheable:
            return self._fetch(variables, phase, send, redact).response
        with self.cache.flight(self.key):
            cached = self.cache.get(self.key, self.monotonic())
            if cached is not None and refused is not None and cached.response is refused:
                self.cache.drop(self.key)  # revoked before it expired: nobody may use it again
                cached = None
            phase.cached = cached is not None
            if cached is not None:
                redact.include(cached.secrets)  # another export fetched it: this one must know it
                return cached.response
            token = self._fetch(variables, phase, send, redact)
            seconds = lifetime(token.response)
            if seconds > 0:
                self.cache.put(self.key, token, self.monotonic() + seconds)
            return token.response

    def _fetch(
        self, variables: Mapping[str, Any], phase: PhaseResult, send: Send, redact: Redactor
    ) -> Token:
        answer = send(phase, self.request.render(variables))
        return read_token_answer(answer, phase.attempts, redact)


def read_token_answer(answer: Answer, attempts: int, redact: Redactor) -> Token:
    """The token from a 2xx answer with a JSON or form-encoded body. Every value of the answer,
    usable or not, is made known to ``redact`` first; an unusable one is a `TokenAnswerError` that
    describes it (status, content type, length) without quoting any of it."""
    text = answer.body.decode("utf-8-sig", "replace")  # a byte order mark is no part of the JSON
    content_type = answer.header("content-type") or ""
    fields, pairs, problem = _parse_fields(text, content_type)
    secrets = _answer_secrets(answer, text, fields, pairs)
    redact.include(secrets)
    if not 200 <= answer.status < 300 or fields is None:
        raise _unusable(answer, attempts, fields, problem)
    response = {
        "status": answer.status,
        "headers": httpx.Headers(list(answer.headers)),
        "body": TextValue(text, {"JSON": fields}),
    }
    return Token(response, secrets)


# -- reading the answer ------------------------------------------------------------------------


def _parse_fields(text: str, content_type: str) -> tuple[Any, _Pairs, str]:
    """The answer's fields (``.body.JSON``), every name-value pair of them (a repeated name's
    every value: the fields keep one) and, when there are none, why: JSON whatever the type
    says (servers label JSON text/plain or text/html), else form-encoded pairs when the type says
    so or does not say otherwise (text/plain, none)."""
    try:
        return (*strictjson.loads_with_pairs(text), "")
    except strictjson.NumberError:  # its message quotes the number: an answer's, so not shown
        return None, [], _NUMBER_PROBLEM
    except RecursionError:
        return None, [], "its JSON is nested too deeply"
    except ValueError:
        pass
    media = content_type.partition(";")[0].strip().lower()
    if media in (_FORM_TYPE, "text/plain", ""):
        pairs = form_pairs(text.strip(), strict_names=media != _FORM_TYPE)
        if pairs is not None:
            return _first_values(pairs), pairs, ""
    return None, [], ""


def form_fields(text: str, strict_names: bool = True) -> dict[str, str] | None:
    """``name=value&…`` as fields (a repeated name keeps its first value); None when the text is
    not one (`form_pairs`)."""
    pairs = form_pairs(text, strict_names)
    return None if pairs is None else _first_values(pairs)


def form_pairs(text: str, strict_names: bool = True) -> list[tuple[str, str]] | None:
    """``name=value&…`` as its pairs, a repeated name's every one; None when the text is not
    one. Under a type that does not say form, the names must look like names, so plain text
    or a page with an ``=`` in it is not taken for a form."""
    if "=" not in text:
        return None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    if strict_names and not all(_FORM_NAME.fullmatch(name) for name, _ in pairs):
        return None
    return pairs


def _first_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def _answer_secrets(answer: Answer, text: str, fields: Any, pairs: _Pairs) -> SecretSet:
    """Every value of a token answer: each field (but the few that hold no secret: token_type,
    expires_in, scope, …, and an OAuth error code), each value of a repeated field too (the fields
    keep one; the back end may use, or echo, another), each header's (but the protocol's own:
    Content-Type, Date, …), and, when the body has no fields to tell them apart, the whole body."""
    found = json_secrets(fields, sensitive=True)
    for name, value in pairs:  # objects below have their own pairs: not walked again
        found += json_secrets({name: _without_objects(value)}, sensitive=True)
    values = [value for value in dict.fromkeys(found) if value not in _OAUTH_ERRORS]
    for name, value in answer.headers:  # $tokenResponse.headers.<name> may go in a template too
        if name.lower() not in _PUBLIC_HEADERS:  # a redirect's Location may carry a code, say
            values += [value, *header_secrets(name, value)]
    # the whole body of an unusable answer never enters a template: its literal forms suffice;
    # its lines too (a cut-off body still hides them), the first ones of a long page
    body = text.strip()
    lines = body.splitlines()[:_HIDDEN_LINES] if fields is None and "\n" in body else []
    whole = [body, *(line.strip() for line in lines)] if fields is None else []
    return SecretSet(values, literals=[*whole, *_odd_names(fields)])


def _without_objects(value: object) -> object:
    """``value`` with every object in it left out: each object's pairs are listed on their own, so
    walking them again below each of their parents would cost the depth times over."""
    if isinstance(value, Mapping):
        return None
    if isinstance(value, list):
        return [_without_objects(item) for item in value]
    return value


def _odd_names(value: Any) -> list[str]:
    """The field names, at any depth, that do not look like names (`looks_like_a_name`): a server
    may put its secret in a name (``{"PLAINSECRETTOKENVALUE": 1}``), so those are hidden too."""
    found: list[str] = []
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, Mapping):
            found += [str(name) for name in item if not looks_like_a_name(str(name))]
            pending += item.values()
        elif isinstance(item, list):
            pending += item
    return found


def _unusable(answer: Answer, attempts: int, fields: Any, problem: str) -> TokenAnswerError:
    """What was wrong with a token answer, told without a byte of its content: status, type,
    length, the names of its fields that look like names and an OAuth error code (both public),
    and why."""
    status = f"{answer.status} {_standard_reason(answer.status)}".rstrip()
    content_type = _media_type(answer.header("content-type"))
    size = f"more than {MAX_ANSWER_BYTES:,}" if answer.truncated else f"{len(answer.body):,}"
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    message = f"token request: the back end answered {status} ({content_type}, {size} bytes){tries}"
    if 300 <= answer.status < 400:
        return TokenAnswerError(
            f"{message}, a redirect",
            hint="redirects are never followed; set the token endpoint's final URL",
        )
    details = [problem] if problem else []
    if isinstance(fields, Mapping) and fields:
        # names that do not look like names are counted, not shown: a server may put a secret there
        details.append(f"its fields: {list_names([str(name) for name in fields], _SHOWN_FIELDS)}")
        code = fields.get("error")
        if isinstance(code, str) and code in _OAUTH_ERRORS:
            details.append(f"OAuth error {code}")
    expected = "expected a 2xx answer with a JSON or form-encoded body"
    shown = "; ".join([expected, *details])
    return TokenAnswerError(f"{message}; {shown}", hint=_hint(answer.status))


def _standard_reason(status: int) -> str:
    """The status's standard phrase: the server's own is free text, and may quote the token."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _media_type(content_type: str | None) -> str:
    """The media type alone (``application/json``): its parameters are free text."""
    if not content_type:
        return "no content type"
    media = content_type.partition(";")[0].strip()
    return media if _MEDIA_TYPE.fullmatch(media) else "an unreadable content type"


def _hint(status: int) -> str | None:
    if status in (400, 401, 403):
        return (
            "the token endpoint refused the request; check the token request's credentials "
            "($env secrets) and grant type"
        )
    if 200 <= status < 300:
        return "the answer is never shown, as it may hold the token; check the endpoint's format"
    if 400 <= status < 500 and not retryable(status):
        return "a 4xx answer means the request itself is wrong; it is not retried"
    return None


# -- how long a token lasts --------------------------------------------------------------------


def expires_in_seconds(value: Any) -> float:
    """A token answer's ``expires_in`` as seconds in [0, `MAX_TOKEN_LIFETIME`]: a number, or a
    string of decimal digits (some servers quote it); negative is 0 (already expired: not cached),
    beyond a day is a day; missing, non-finite, boolean or anything else is
    `DEFAULT_TOKEN_LIFETIME`."""
    if isinstance(value, bool) or value is None:
        return DEFAULT_TOKEN_LIFETIME
    if isinstance(value, str):
        text = value.strip()
        if not _SECONDS.fullmatch(text):
            return DEFAULT_TOKEN_LIFETIME
        value = float(text)
    if isinstance(value, int):  # compared as an int: float() of a huge one overflows
        return float(min(max(value, 0), int(MAX_TOKEN_LIFETIME)))
    if isinstance(value, float) and not math.isnan(value):
        return min(max(value, 0.0), MAX_TOKEN_LIFETIME)
    return DEFAULT_TOKEN_LIFETIME


def lifetime(response: Mapping[str, Any]) -> float:
    """Seconds a token may be used from the cache: its ``expires_in`` less a margin (10 %, at most
    `TOKEN_MARGIN`); 0 or less means it is not cached."""
    parsed = response["body"].fields["JSON"]
    seconds = expires_in_seconds(parsed.get("expires_in") if isinstance(parsed, Mapping) else None)
    return seconds - min(TOKEN_MARGIN, seconds / 10)


def _uses_only(request: RequestPlan, names: frozenset[str]) -> bool:
    return all(
        hole.reference.name in names for field_plan in request.fields for hole in field_plan.holes
    )
