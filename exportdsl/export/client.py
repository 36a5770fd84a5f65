"""The HTTP client exports go through, built in one place: keep-alive, redirects never followed,
exportdsl's ``User-Agent``, no cookies kept between requests, TLS set up only when the first https
request goes out, and destinations checked where a request's host comes from a token answer.

**Destinations** (docs/design.md §8.5). A request built with the `DESTINATIONS` extension (an
`AllowedHosts`; `build.checked_destinations` decides which requests get it) connects only to
public addresses and to what its connector's ``allow_hosts`` admits, the smokescreen way: the
host is resolved once, every address is checked, and the connection goes to a checked address,
so no second lookup can be raced (DNS rebinding). TLS (SNI, the certificate) and the ``Host``
header keep the name. Such requests use connection pools of their own, one per `AllowedHosts`
(`checked.CheckedTransport`, loaded with the first of them): a connection opened without the check,
or under another connector's allowance, never serves them.

The dry run builds its client here too, with a transport that cannot send, so the headers it shows
are the headers an export sends.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Sequence
from http.cookiejar import Cookie, CookieJar, CookiePolicy
from typing import Any

import httpx

from exportdsl.connector.model import AllowedHosts, IPAddress
from exportdsl.export.sending import DestinationRefused

__all__ = [
    "DESTINATIONS",
    "NetworkTransport",
    "Resolve",
    "checked_addresses",
    "make_client",
    "refusal",
    "resolve",
]

DESTINATIONS = "exportdsl.destinations"  # request extension: the `AllowedHosts` to check against
_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
Resolve = Callable[[str, int], Sequence[str]]  # (host, port) -> addresses, as getaddrinfo gives


def make_client(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The client the CLI and the delivery workers use; ``transport`` replaces the network (the dry
    run's refuses to send; tests pass an `httpx.MockTransport`, or a `NetworkTransport` with a
    resolver of their own)."""
    from exportdsl import __version__

    headers = {"User-Agent": f"exportdsl/{__version__}"}
    common: dict[str, Any] = {
        "follow_redirects": False,
        "headers": headers,
        "cookies": CookieJar(_NoCookies()),
    }
    if transport is not None:
        return httpx.Client(transport=transport, **common)
    if any(name.lower() in _PROXY_VARIABLES for name in os.environ):
        # httpx sets the proxies up from them; the proxy resolves the name itself, so the check
        # can only be made before the request goes to it
        return httpx.Client(event_hooks={"request": [_check_before_proxy]}, **common)
    # A plain-http transport needs no CA bundle: verify=False only skips loading one (~35 ms) for a
    # transport that never speaks TLS.
    return httpx.Client(
        transport=NetworkTransport(verify=True),
        mounts={"http://": NetworkTransport(verify=False)},
        **common,
    )


class _NoCookies(CookiePolicy):
    """Cookies are neither kept nor sent: one client serves every connector of a worker, so a
    cookie one back end set (a tenant's session) would otherwise go with the next connector's
    report. A connector that needs a cookie writes the ``Cookie`` header itself."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = True

    def set_ok(self, cookie: Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Cookie, request: Any) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: Any) -> bool:
        return False

    def path_return_ok(self, path: str, request: Any) -> bool:
        return False


# -- destinations -------------------------------------------------------------------------------

_PRIVATE = tuple(
    ipaddress.ip_network(network)
    for network in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # IPv4 addresses reached through a NAT64 gateway
_KINDS: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("an unspecified address (0.0.0.0, ::)", lambda a: a.is_unspecified),
    ("a loopback address (127.0.0.0/8, ::1)", lambda a: a.is_loopback),
    ("a link-local address (169.254.0.0/16, fe80::/10)", lambda a: a.is_link_local),
    ("a multicast address", lambda a: a.is_multicast),
    (
        "a private address (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7)",
        lambda a: any(a in network for network in _PRIVATE),
    ),
    (
        "an address that is not public (shared, reserved or documentation ranges)",
        lambda a: a.is_reserved or not a.is_global,
    ),
)


def refusal(address: IPAddress, allowed: AllowedHosts) -> str | None:
    """Why a request checked against ``allowed`` may not connect to ``address``: the kind of
    address and its ranges (never the address: it may be a part of a token answer); None when it
    may. An IPv6 form that carries an IPv4 address (mapped, 6to4, NAT64) is judged by that."""
    if allowed.admits_address(address):
        return None
    candidates: list[IPAddress] = [*_embedded_ipv4(address)] or [address]
    for candidate in candidates:
        if allowed.admits_address(candidate):
            return None
        for kind, applies in _KINDS:
            if applies(candidate):
                return kind
    return None


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    embedded = [address.ipv4_mapped, address.sixtofour]
    if address in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [candidate for candidate in embedded if candidate is not None]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order (`socket.getaddrinfo`)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:  # socket.gaierror is an OSError
        raise httpx.ConnectError(str(error)) from None  # passes through httpcore as it is
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(
    host: str, port: int, allowed: AllowedHosts, resolver: Resolve = resolve
) -> list[IPAddress]:
    """The addresses of ``host`` a checked request may connect to: all of them, or a
    `DestinationRefused` when any one is refused (a name that also resolves to a private address
    is not trusted with the public ones)."""
    try:
        addresses = [ipaddress.ip_address(host)]  # an address written as the host
    except ValueError:
        addresses = [ipaddress.ip_address(address) for address in resolver(host, port)]
    if allowed.admits_name(host):
        return addresses
    for address in addresses:
        why = refusal(address, allowed)
        if why is not None:
            raise DestinationRefused(
                f"its host, from the token answer, resolves to {why}, "
                "which the connector does not allow"
            )
    return addresses


def _check_before_proxy(request: httpx.Request) -> None:
    """Behind a proxy: the request's host is checked before the request goes to the proxy."""
    allowed = request.extensions.get(DESTINATIONS)
    if isinstance(allowed, AllowedHosts):
        port = request.url.port or _DEFAULT_PORTS.get(request.url.scheme, 443)
        checked_addresses(request.url.host, port, allowed)


class NetworkTransport(httpx.BaseTransport):
    """The network: httpx's transport, made when the first request goes out (a TLS transport loads
    the CA bundle, ~35 ms, which a one-shot export to a plain-http URL should not pay), and one
    checked transport for each `AllowedHosts` its requests carry (`DESTINATIONS`)."""

    def __init__(self, verify: bool, resolver: Resolve = resolve) -> None:
        self._verify, self._resolver = verify, resolver
        self._transport: httpx.HTTPTransport | None = None
        self._checked: dict[AllowedHosts, httpx.HTTPTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        import h11  # loaded with httpx's transport anyway; `render` never sends

        transport = self._transport_for(request.extensions.get(DESTINATIONS))
        try:
            return transport.handle_request(request)
        except h11.LocalProtocolError as error:
            # h11 refused our request while writing its body (more bytes than a Content-Length
            # the connector set): httpcore lets that escape unconverted
            raise httpx.LocalProtocolError(str(error), request=request) from None

    def _transport_for(self, allowed: object) -> httpx.HTTPTransport:
        if isinstance(allowed, AllowedHosts):
            checked = self._checked.get(allowed)
            if checked is None:
                from exportdsl.export.checked import CheckedTransport  # httpcore, when needed

                checked = self._checked[allowed] = CheckedTransport(
                    self._verify, allowed, self._resolver
                )
            return checked
        if self._transport is None:
            self._transport = httpx.HTTPTransport(verify=self._verify)
        return self._transport

    def close(self) -> None:
        for transport in (self._transport, *self._checked.values()):
            if transport is not None:
                transport.close()
