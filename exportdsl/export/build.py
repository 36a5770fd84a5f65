"""Building a request for the wire: the rendered template as an `httpx.Request`, the report's
``Idempotency-Key``, its Standard Webhooks signature, and the destinations it may go to.

Delivery never duplicates silently: every report request carries an ``Idempotency-Key`` derived
from the connector and the chat, the same on every attempt and every run, so a back end can drop a
second copy when an answer was lost and we tried again.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from exportdsl.chat.reader import ChatSession
from exportdsl.compiler.plan import Plan, RenderedRequest, RequestPlan
from exportdsl.connector.model import AllowedHosts
from exportdsl.errors import ExportDisabled, RenderError, SigningError
from exportdsl.export import webhooks
from exportdsl.export.client import DESTINATIONS, checked_addresses
from exportdsl.export.sending import DestinationRefused, refused_destination, safe_detail
from exportdsl.export.timing import Clock
from exportdsl.vocabulary import Context, Phase

__all__ = [
    "Signer",
    "Signs",
    "build_request",
    "checked_destinations",
    "enabled_export",
    "idempotency_key",
    "make_signer",
    "request_timeout",
]

_KEY_NAMESPACE = uuid.UUID(
    "5b6f0d0e-2f7c-4d39-9a53-0c1d3e1f8a77"
)  # Idempotency-Key: UUIDv5 in here


def enabled_export(plan: Plan) -> RequestPlan:
    """The export request's plan; a connector without ``export.url`` has its export disabled."""
    export = plan.export
    if export is None or export.url is None:
        raise ExportDisabled(
            f"connector {plan.connector_id} ({plan.connector_name}) has no export.url, "
            "so its export is disabled",
            hint="set export.url in the connector file; without it jtel shows no Report Export "
            "button either",
        )
    return export


def checked_destinations(plan: Plan, request: RequestPlan | None) -> AllowedHosts | None:
    """What the request's host must resolve to, when the token answer sets it: public addresses
    and the connector's ``allow_hosts`` (the client's transport checks, docs/design.md §8.5).
    None when the connector wrote the host itself (literally, or from `$pdata` or `$env`): its
    author chose it."""
    if request is None or request.url is None:
        return None
    from_answer = any(  # anywhere before the path: the origin, the host, the port
        hole.context is not Context.URL_COMPONENT and hole.reference.name == "tokenResponse"
        for hole in request.url.holes
    )
    return plan.allow_hosts if from_answer else None


def idempotency_key(plan: Plan, chat: ChatSession) -> str:
    """Stable for a connector and a chat: the same on every attempt and every run (a UUIDv5).
    A chat is its account, its id and its ``endAt``: a chat re-opened and finished again (a
    later ``endAt``) is new to the back end, and gets a key of its own."""
    if chat.account_id is not None and chat.channel.id is not None:
        identity = f"{chat.account_id}/{chat.channel.id}"
        if chat.end_at is not None:
            identity += f"@{chat.end_at}"
    else:  # no ids: the chat's content is its identity
        canonical = json.dumps(chat.raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        identity = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    return str(
        uuid.uuid5(
            _KEY_NAMESPACE, json.dumps([str(plan.connector_id), str(plan.client_id), identity])
        )
    )


def request_timeout(plan: Plan) -> httpx.Timeout:
    """Each network wait of an attempt is bounded by timeout.total.

    Connecting is bounded by timeout.connect.
    """
    return httpx.Timeout(plan.timeout.total, connect=min(plan.timeout.connect, plan.timeout.total))


class Signs(Protocol):
    """What signs a request: the signature headers for a message id and a body."""

    def headers(self, message_id: str, body: bytes) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class Signer:
    """Standard Webhooks signing: the key, and the clock that stamps each attempt anew."""

    secret: str = field(repr=False)  # the whsec_ secret as configured, for the redactor
    key: bytes = field(repr=False)
    now: Clock

    def headers(self, message_id: str, body: bytes) -> dict[str, str]:
        return webhooks.headers(self.key, message_id, int(self.now().timestamp()), body)


def make_signer(plan: Plan, env: Mapping[str, str], now: Clock) -> Signer | None:
    """The connector's signer, from the secret in the environment; None when it does not sign."""
    if plan.signing is None:
        return None
    name = plan.signing.env
    secret = env.get(name, "") if name in env else ""
    if not secret:
        raise SigningError(
            f"signing: the environment variable {name} is not set",
            hint="set it to the whsec_... secret the back end gave you",
        )
    try:
        return Signer(secret, webhooks.key_bytes(secret, strict=True), now)
    except ValueError:
        raise SigningError(f"signing: {name} is not a whsec_ secret in base64") from None


def build_request(
    client: httpx.Client,
    rendered: RenderedRequest,
    timeout: httpx.Timeout,
    key: str | None = None,
    sign: Signs | None = None,
    destinations: AllowedHosts | None = None,
) -> httpx.Request:
    """The request as it goes on the wire: the client's default headers, then the rendered ones,
    ``Idempotency-Key`` when ``key`` is given (unless the connector sets its own), and the
    signature headers when ``sign`` is given. With ``destinations`` (`checked_destinations`) the
    client's transport connects only to a public address or one they allow."""
    # UTF-8 where a value is not ASCII (httpx would refuse it): chat data such as names may
    # land here
    headers = httpx.Headers(
        [(name.encode("ascii"), value.encode("utf-8")) for name, value in rendered.headers]
    )
    body = rendered.body.encode("utf-8") if rendered.body is not None else b""
    if key is not None and "idempotency-key" not in headers:
        headers["Idempotency-Key"] = key
    if sign is not None:
        headers.update(sign.headers(headers.get("idempotency-key", key or ""), body))
    try:
        request = client.build_request(
            rendered.method,
            rendered.url,
            headers=headers,
            content=body,
            timeout=timeout,
            extensions={} if destinations is None else {DESTINATIONS: destinations},
        )
    except (
        httpx.InvalidURL,
        UnicodeError,
        ValueError,
    ) as error:  # what the plan's checks let through; the URL may hold a part of a secret
        raise RenderError(
            f"the request's URL is not valid ({safe_detail(error)}); nothing was sent",
            hint="`exportdsl render` shows the URL as rendered, redacted",
        ) from None
    _check_host_name(request.url.host)
    if destinations is not None:
        _check_written_address(request.url.host, destinations)
    return request


def _check_host_name(host: str) -> None:
    """A host name the resolver cannot take (a label longer than 63 characters, an empty one):
    httpx lets it through, and the socket's IDNA encoding would raise while connecting."""
    try:
        host.encode("idna")
    except UnicodeError:
        raise RenderError(
            "the request's host name is not valid: one of its labels is empty or longer than 63 "
            "characters; nothing was sent",
            hint="a host name is dot-separated labels of 1 to 63 characters",
        ) from None


def _check_written_address(host: str, destinations: AllowedHosts) -> None:
    """An address written as the host is refused here already, so the dry run, which resolves no
    names, fails where the export would (the transport checks every request again)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return  # a name: the transport resolves and checks it
    try:
        checked_addresses(host, 0, destinations)
    except DestinationRefused as error:
        raise refused_destination(Phase.EXPORT, error) from None
