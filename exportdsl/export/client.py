"""The HTTP client exports go through, built in one place: keep-alive, redirects never followed,
exportdsl's ``User-Agent``, no cookies kept between requests, and TLS set up only when the first
https request goes out.

The dry run builds its client here too, with a transport that cannot send, so the headers it shows
are the headers an export sends.
"""

from __future__ import annotations

import os
from http.cookiejar import Cookie, CookieJar, CookiePolicy
from typing import Any

import h11
import httpx

__all__ = ["make_client"]

_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy"})


def make_client(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The client the CLI and the delivery workers use; ``transport`` replaces the network (the dry
    run's refuses to send; tests pass an `httpx.MockTransport`)."""
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
        return httpx.Client(**common)  # httpx sets the proxies up from them
    # A plain-http transport needs no CA bundle: verify=False only skips loading one (~35 ms) for a
    # transport that never speaks TLS.
    return httpx.Client(
        transport=_LazyTransport(verify=True),
        mounts={"http://": _LazyTransport(verify=False)},
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


class _LazyTransport(httpx.BaseTransport):
    """httpx's transport, made when the first request goes out: a TLS transport loads the CA bundle
    (~35 ms), which a one-shot export to a plain-http URL should not pay."""

    def __init__(self, verify: bool) -> None:
        self._verify = verify
        self._transport: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            self._transport = httpx.HTTPTransport(verify=self._verify)
        try:
            return self._transport.handle_request(request)
        except h11.LocalProtocolError as error:
            # h11 refused our request while writing its body (more bytes than a Content-Length
            # the connector set): httpcore lets that escape unconverted
            raise httpx.LocalProtocolError(str(error), request=request) from None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
