"""The console's guards: the admin secret, signed session cookies with their CSRF token, the
throttle on failed logins, and the headers every page is sent with.

The session is a cookie the server signs (HMAC-SHA256, a key derived from the admin secret), so
it holds across nodes and restarts; changing the secret ends every session. It carries its id,
its expiry and the session's CSRF token, which every POST form echoes. Logging out revokes the
id: the process keeps the ids logged out until they would have expired (`Sessions.revoke`), so a
copy of the cookie taken before the logout opens nothing here any more.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from exportdsl.errors import ServeError

__all__ = [
    "COOKIE",
    "HEADERS",
    "LOGIN_COOKIE",
    "MIN_SECRET",
    "SESSION_SECONDS",
    "LoginThrottle",
    "Session",
    "Sessions",
    "client_bucket",
    "console_secret",
    "same_token",
]

COOKIE = "exportdsl_console"  # the session
LOGIN_COOKIE = "exportdsl_console_login"  # the login form's CSRF token, before any session
MIN_SECRET = 16
SESSION_SECONDS = 8 * 3600  # a working day; then the operator logs in again

# Every console answer: no script or style but the console's own files (no inline script, no
# inline style, no eval), nothing framed, nothing sent elsewhere, nothing cached.
HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def console_secret(variable: str, env: Mapping[str, str]) -> str:
    """The admin secret from the environment variable named (never from the command line, where
    every user of the machine can read it), at least `MIN_SECRET` characters."""
    secret = env.get(variable, "")
    if len(secret) < MIN_SECRET:
        problem = "not set" if not secret else f"shorter than {MIN_SECRET} characters"
        raise ServeError(
            f"--console-secret-env: environment variable {variable} is {problem}",
            hint="set it to a long random value (openssl rand -hex 24): operators log in with it",
        )
    return secret


def same_token(given: str, expected: str) -> bool:
    """Constant-time equality of two texts (a secret, a CSRF token)."""
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True)
class Session:
    expires: float
    csrf: str  # what every POST form of this session must carry
    id: str = ""  # what a logout revokes


class Sessions:
    """Signed session cookies: ``payload.signature``, both base64url; the payload is the session's
    id, expiry and CSRF token as JSON. The ids logged out are kept until their expiry (then the
    signature refuses the cookie anyway): a table no larger than the logouts of 8 hours."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self._key = hmac.new(secret.encode(), b"exportdsl console session v2", "sha256").digest()
        self.clock = clock
        self._revoked: dict[str, float] = {}  # session id -> when it would have expired
        self._lock = threading.Lock()

    def issue(self) -> tuple[str, Session]:
        session = Session(
            self.clock() + SESSION_SECONDS, secrets.token_urlsafe(32), secrets.token_urlsafe(16)
        )
        data = {"sid": session.id, "exp": session.expires, "csrf": session.csrf}
        payload = _b64(json.dumps(data).encode())
        return f"{payload}.{self._sign(payload)}", session

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie carries; None when it is missing, forged, damaged, expired or
        logged out."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, signature = cookie.split(".")
        if not same_token(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(float(data["exp"]), str(data["csrf"]), str(data["sid"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires <= self.clock() or not session.id:
            return None
        with self._lock:
            return None if session.id in self._revoked else session

    def revoke(self, session: Session) -> None:
        """End ``session`` here: its cookie, wherever a copy of it is, opens nothing any more."""
        now = self.clock()
        with self._lock:
            for stale in [sid for sid, expires in self._revoked.items() if expires <= now]:
                del self._revoked[stale]  # expired: the cookie is refused for that already
            self._revoked[session.id] = session.expires

    @property
    def revoked(self) -> int:
        """How many logged-out sessions are remembered now (those not yet expired)."""
        return len(self._revoked)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())


def client_bucket(address: str) -> str:
    """What a client's failed logins count against: an IPv4 address itself (an IPv4-mapped IPv6
    one too), an IPv6 address's /64 (a host, or a home line, gets a /64: its addresses are
    one client's), any other text (a socket path, "?") as it is."""
    try:
        parsed = ipaddress.ip_address(address.split("%")[0])  # no zone index (fe80::1%eth0)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class LoginThrottle:
    """Login attempts by client address: at most ``allowed`` failures within ``window`` seconds,
    then every login from that address is refused until the oldest failure leaves the window.
    An IPv6 client counts by its /64 (`client_bucket`): one host is given a whole /64, so each
    of its addresses counting apart would give it 2**64 times the guesses.

    An attempt is counted *before* its secret is read (`reserve`, atomic: no await between the
    check and the count), so guesses sent at once cannot all slip in before the first one fails;
    the right secret gives its reservation back (`forgive`), and so does a request that never
    reached the secret (an expired form). A successful login does not clear earlier failures (a
    guesser who once knew the secret gains nothing).

    Bounded and cheap: an address's failures are pruned when it is looked at, and at most a few
    stale addresses are dropped per call from the front of a table ordered by last failure; past
    ``max_addresses`` the address failing least recently is forgotten (the peer address of the
    socket is what counts, not a client's X-Forwarded-For: only a very large botnet fills it)."""

    def __init__(
        self,
        allowed: int = 5,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 10_000,
    ) -> None:
        self.allowed, self.window, self.clock = allowed, window, clock
        self.max_addresses = max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()  # the event loop's thread, mostly; tests call from others

    def wait(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0 when it may now."""
        with self._lock:
            return self._wait(client_bucket(address), self.clock())

    def reserve(self, address: str) -> tuple[float, float]:
        """Count an attempt from ``address`` now, unless it must wait: (seconds to wait, 0.0)
        when refused, (0.0, the attempt's stamp) when counted (give it to `forgive`)."""
        bucket = client_bucket(address)
        with self._lock:
            now = self.clock()
            wait = self._wait(bucket, now)
            if wait > 0:
                return wait, 0.0
            self._count(bucket, now)
            return 0.0, now

    def forgive(self, address: str, stamp: float) -> None:
        """Take back an attempt `reserve` counted (the right secret, or a request that never
        reached the secret)."""
        with self._lock:
            failures = self._failures.get(client_bucket(address))
            if failures is not None and stamp in failures:
                failures.remove(stamp)

    def failed(self, address: str) -> None:
        with self._lock:
            self._count(client_bucket(address), self.clock())

    @property
    def addresses(self) -> int:
        """How many addresses the table holds now (bounded: ``max_addresses``)."""
        return len(self._failures)

    def _count(self, address: str, now: float) -> None:
        self._failures.setdefault(address, deque()).append(now)
        self._failures.move_to_end(address)  # the front: the addresses failing least recently
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)

    def _wait(self, address: str, now: float) -> float:
        self._drop_stale(now)
        failures = self._failures.get(address)
        if failures is None:
            return 0.0
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) < self.allowed:
            return 0.0
        return max(failures[0] + self.window - now, 0.0)

    def _drop_stale(self, now: float, at_most: int = 8) -> None:
        """Forget a few addresses whose last failure left the window (the front holds the
        oldest): amortised O(1) a call, never a walk over the whole table."""
        for _ in range(at_most):
            oldest = next(iter(self._failures.items()), None)
            if oldest is None:
                return
            address, failures = oldest
            if failures and failures[-1] > now - self.window:
                return
            del self._failures[address]
