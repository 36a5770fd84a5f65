"""Connections for checked requests (`client.DESTINATIONS`): a connection pool whose network
backend resolves a host once, checks every address (`client.checked_addresses`) and connects to a
checked one. Loaded by `client.NetworkTransport` with the first checked request (httpcore is not
loaded before a request goes out: `exportdsl render` never sends one).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from exportdsl.connector.model import AllowedHosts
from exportdsl.export.client import Resolve, checked_addresses
from exportdsl.export.sending import DestinationRefused

__all__ = ["CheckedTransport"]


class _CheckedNetwork(httpcore.NetworkBackend):
    """Opens connections for checked requests: resolve once, check every address, connect to a
    checked one (the name never goes to the resolver a second time)."""

    def __init__(self, allowed: AllowedHosts, resolver: Resolve) -> None:
        self.allowed, self.resolver = allowed, resolver
        self.network = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception | None = None
        for address in checked_addresses(host, port, self.allowed, self.resolver):
            try:
                return self.network.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error  # the next address may answer
        raise failure or httpcore.ConnectError("the host has no address")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise DestinationRefused("a checked request never goes to a Unix socket")

    def sleep(self, seconds: float) -> None:
        self.network.sleep(seconds)


class CheckedTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool whose connections are opened by `_CheckedNetwork`.
    (httpx takes no network backend, so the pool it built is replaced: ``_pool`` is the one
    attribute of httpx's own this relies on; tests/test_client.py covers it.)"""

    def __init__(self, verify: bool, allowed: AllowedHosts, resolver: Resolve) -> None:
        context = httpx.create_ssl_context(verify=verify)
        super().__init__(verify=context)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_CheckedNetwork(allowed, resolver),
        )
