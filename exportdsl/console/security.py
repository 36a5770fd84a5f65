"""The console's guards: the admin secret, signed session cookies with their CSRF token, the
throttle on failed logins, and the headers every page is sent with.

The session is a cookie the server signs (HMAC-SHA256, a key derived from the admin secret), so
it needs no server-side store and holds across nodes and restarts; changing the secret ends every
session. It carries its expiry and the session's CSRF token, which every POST form echoes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
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


class Sessions:
    """Signed session cookies: ``payload.signature``, both base64url; the payload is the expiry
    and the CSRF token as JSON."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self._key = hmac.new(secret.encode(), b"exportdsl console session v1", "sha256").digest()
        self.clock = clock

    def issue(self) -> tuple[str, Session]:
        session = Session(self.clock() + SESSION_SECONDS, secrets.token_urlsafe(32))
        payload = _b64(json.dumps({"exp": session.expires, "csrf": session.csrf}).encode())
        return f"{payload}.{self._sign(payload)}", session

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie carries; None when it is missing, forged, damaged or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, signature = cookie.split(".")
        if not same_token(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(float(data["exp"]), str(data["csrf"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > self.clock() else None

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class LoginThrottle:
    """Failed logins by client address: at most ``allowed`` within ``window`` seconds, then every
    login from that address is refused until the oldest failure leaves the window. A
    successful login does not clear the count (a guesser who once knew the secret gains nothing).
    Addresses are forgotten once their failures are old, so the table stays small."""

    def __init__(
        self, allowed: int = 5, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.allowed, self.window, self.clock = allowed, window, clock
        self._failures: dict[str, deque[float]] = {}

    def wait(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0 when it may now."""
        failures = self._recent(address)
        if len(failures) < self.allowed:
            return 0.0
        return max(failures[0] + self.window - self.clock(), 0.0)

    def failed(self, address: str) -> None:
        self._failures.setdefault(address, deque()).append(self.clock())

    def _recent(self, address: str) -> deque[float]:
        now = self.clock()
        for known in list(self._failures):  # the whole table: old addresses go too
            failures = self._failures[known]
            while failures and failures[0] <= now - self.window:
                failures.popleft()
            if not failures:
                del self._failures[known]
        return self._failures.get(address, deque())
