"""A connector as the rest of the pipeline sees it: typed, checked, every template located.

`reader` makes one from a file; nothing here reads files. Each template field keeps a `SourceMap`,
so a problem found later (by the compiler, the linter, a render) points into the file itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from exportdsl.connector.transcript import TranscriptSettings
from exportdsl.source import LineIndex, Location, SourceMap, Span
from exportdsl.vocabulary import Phase

__all__ = [
    "AllowedHosts",
    "BasicAuth",
    "Connector",
    "Header",
    "IPAddress",
    "IPNetwork",
    "Request",
    "RetryPolicy",
    "Signing",
    "TemplateField",
    "Timeouts",
]


@dataclass(frozen=True, slots=True)
class TemplateField:
    """One template as written in the file: ``name`` is its dotted key, e.g. ``export.body``."""

    name: str
    source: str
    origin: SourceMap
    key_line: int  # where the value starts in the file: the `key: |` line of a block scalar

    def location(self, span: Span | None = None) -> Location:
        return self.origin.location(span or Span(0, len(self.source)))


@dataclass(frozen=True, slots=True)
class Header:
    name: str
    value: TemplateField


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """HTTP Basic credentials (request key ``auth``), sent as ``Authorization: Basic …``.

    ``basic: {username, password}`` joins them as RFC 7617 says (UTF-8); ``client_secret_basic:
    {client_id, client_secret}`` is OAuth's client authentication (RFC 6749 §2.3.1), which
    form-urlencodes each before they are joined (``form_encoded``).
    """

    username: TemplateField
    password: TemplateField
    form_encoded: bool = False


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request of the export: the token request (phase 1) or the report (phase 2)."""

    phase: Phase  # TOKEN or EXPORT
    url: TemplateField | None
    method: str
    headers: tuple[Header, ...]
    body: TemplateField | None
    location: Location
    auth: BasicAuth | None = None

    @property
    def fields(self) -> Iterator[TemplateField]:
        """The request's templates in order: url, header values, body, the auth's user name and
        password."""
        if self.url:
            yield self.url
        yield from (header.value for header in self.headers)
        if self.body:
            yield self.body
        if self.auth:
            yield from (self.auth.username, self.auth.password)

    def header(self, name: str) -> Header | None:
        wanted = name.lower()
        return next((h for h in self.headers if h.name.lower() == wanted), None)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a request is tried again (connector key ``retry``).

    The defaults suit the one-shot CLI: at most 3 attempts, waits of at most 5 s each, so a
    flaky back end costs at most ~10 s of waiting before the export is reported as failed.
    """

    attempts: int = 3
    backoff: float = (
        0.5  # seconds; the wait before attempt n+1 is uniform in [0, backoff * 2**(n-1)]
    )
    max_delay: float = 5.0  # seconds; caps the exponential wait and the back end's Retry-After


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds (connector key ``timeout``): to connect, and for one whole attempt."""

    connect: float = 10.0
    total: float = 30.0


@dataclass(frozen=True, slots=True)
class Signing:
    """Standard Webhooks signing of the report request; the secret comes from ``$env.<env>``."""

    env: str


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class AllowedHosts:
    """Destinations beyond the public internet (connector key ``allow_hosts``) that a request may go
    to when its host comes from the token answer: host names, and address ranges.

    Hashable: the client keeps one connection pool per distinct set, so a connection one
    connector's allowance opened never serves another connector's request.
    """

    names: frozenset[str] = frozenset()  # lower case, without a trailing dot
    networks: tuple[IPNetwork, ...] = ()

    def admits_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def admits_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


@dataclass(frozen=True)
class Connector:
    path: str
    id: int | str
    name: str
    client_id: int | str
    timezone: str
    pdata: Mapping[str, Any]
    pdata_locations: Mapping[str, Location]
    token: Request | None
    export: Request | None
    xml_template: TemplateField | None
    text: LineIndex = field(repr=False)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: Timeouts = field(default_factory=Timeouts)
    signing: Signing | None = None
    intake_secret_env: str | None = (
        None  # intake.secret: $env.NAME; None: the connector takes no hooks
    )
    allow_hosts: AllowedHosts = field(default_factory=AllowedHosts)
    transcript: TranscriptSettings = field(default_factory=TranscriptSettings)  # `transcript:`

    @property
    def fields(self) -> Iterator[TemplateField]:
        """Every template field: the token request's, the export request's, the XML template."""
        for request in (self.token, self.export):
            if request is not None:
                yield from request.fields
        if self.xml_template:
            yield self.xml_template
