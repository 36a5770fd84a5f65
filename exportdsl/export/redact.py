"""Secrets never leave the process in clear.

Every output, log line and error goes through `Redactor`.

A secret is known by value (an `$env` value a connector uses, a token from the token phase's
answer, the value of an Authorization-like header) and is replaced wherever it shows, in every form
a request can carry it in: raw, percent-encoded (URL and form), JSON- and XML-escaped, and base64
(standalone, and inside a longer base64 text at each of the three possible alignments, so an XML
template holding a secret does not leak it through ``$xmlTemplate.encoded.base64``).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import weakref
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from exportdsl.errors import ExportDslError

__all__ = [
    "LOGGERS",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "SENSITIVE_HEADERS",
    "Redactor",
    "guard_logs",
    "is_sensitive_name",
    "redact_error",
]

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 4
"""Shorter values are not treated as secrets: replacing every ``1`` or ``on`` would garble all
output and such a value protects nothing anyway."""

SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-access-token",
        "x-csrf-token",
        "x-amz-security-token",
        "webhook-signature",
    }
)
_SENSITIVE_NAME = re.compile(
    r"(?i)token|secret|passw|api.?key|auth|session|cookie|credential|signature|jwt"
)
_PUBLIC_KEYS = frozenset(
    {
        "token_type",
        "expires_in",
        "refresh_expires_in",
        "scope",
        "issued_token_type",
        "not-before-policy",
        "not_before_policy",
    }
)  # token-answer keys that hold no secret
_AUTH_SCHEME = re.compile(r"(?i)(?:bearer|basic|token|digest|negotiate|apikey)\s+(\S.*)\Z")


def is_sensitive_name(name: str) -> bool:
    """A header or JSON key whose value is a secret by its name.

    For example Authorization, access_token, ...
    """
    return name.lower() in SENSITIVE_HEADERS or _SENSITIVE_NAME.search(name) is not None


class Redactor:
    """Collects secrets and blanks them out of text. Cheap when there is nothing to hide."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: set[str] = set()
        self._secrets: set[str] = set()  # as added, so adding one again costs a set lookup
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Hide ``secret`` (and its encoded forms) from now on; too short values are ignored."""
        if len(secret) < MIN_SECRET_LENGTH or secret in self._secrets:
            return
        self._secrets.add(secret)
        forms = _forms(secret) - self._forms
        if forms:
            self._forms |= forms
            self._pattern = None

    def add_header(self, name: str, value: str) -> None:
        """A header's value when its name says it is a secret.

        The credential after an auth scheme too.
        """
        if not is_sensitive_name(name):
            return
        scheme = _AUTH_SCHEME.match(value)
        self.add(
            scheme.group(1) if scheme else value
        )  # "Bearer [REDACTED]" still says which scheme
        if name.lower() in ("cookie", "set-cookie"):  # each cookie's value is a secret on its own
            for pair in value.split(";")[:1] if name.lower() == "set-cookie" else value.split(";"):
                self.add(pair.partition("=")[2].strip())

    def add_json(self, value: Any, sensitive: bool = False) -> None:
        """Every text or number below a secret-looking key of a JSON answer (access_token, ...)."""
        if isinstance(value, Mapping):
            for key, item in value.items():
                if str(key).lower() not in _PUBLIC_KEYS:
                    self.add_json(item, sensitive or is_sensitive_name(str(key)))
        elif isinstance(value, list):
            for item in value:
                self.add_json(item, sensitive)
        elif sensitive and isinstance(value, str | int) and not isinstance(value, bool):
            self.add(str(value))

    def __bool__(self) -> bool:
        return bool(self._forms)

    def __call__(self, text: str) -> str:
        if not self._forms or not text:
            return text
        if self._pattern is None:
            # longest first, so a secret's base64 is not half-replaced by a shorter form inside it
            ordered = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, ordered)))
        return self._pattern.sub(REDACTED, text)

    def data(self, value: Any) -> Any:
        """A JSON-like value with every text inside redacted (keys included)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {self(str(key)): self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


def _forms(secret: str) -> set[str]:
    escaped_json = json.dumps(secret, ensure_ascii=False)[1:-1]
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        escaped_json,
        json.dumps(secret)[1:-1],
        _xml_escape(secret),
        quote(secret, safe="/:@"),
    }
    # base64 of each form a template can put the secret in: an XML template holding an escaped
    # secret is base64-encoded whole into $xmlTemplate.encoded.base64
    for text in (
        secret,
        _xml_escape(secret),
        escaped_json,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    ):
        for fragment in _base64_fragments(text.encode("utf-8")):
            forms |= {
                fragment,
                fragment.replace("+", "-").replace("/", "_"),
                quote(fragment, safe=""),
            }
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _base64_fragments(data: bytes) -> set[str]:
    """The base64 characters that encode only ``data``, for each alignment inside a longer text.

    With ``k`` bytes before the secret, the characters from ceil(8k/6) up to floor(8(k+n)/6) depend
    on the secret's bytes alone; the whole encoding (with padding) is the standalone form.
    """
    fragments = {base64.b64encode(data).decode("ascii")}
    for before in range(3):
        encoded = base64.b64encode(bytes(before) + data).decode("ascii")
        start, end = -(-8 * before // 6), 8 * (before + len(data)) // 6
        fragments.add(encoded[start:end])
    return fragments


def _xml_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


class _LogFilter(logging.Filter):
    """Redacts the records of the loggers that may see requests (httpx logs each request's URL)."""

    def __init__(self) -> None:
        super().__init__()
        self.redactors: weakref.WeakSet[Redactor] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        redactors = [redactor for redactor in self.redactors if redactor]
        if redactors:
            message = record.getMessage()
            for redactor in redactors:
                message = redactor(message)
            record.msg, record.args = message, None
        return True


_LOG_FILTER = _LogFilter()
# a logger's filters do not see its children's records, so httpcore's are named one by one
LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "exportdsl",
)


def guard_logs(redactor: Redactor) -> None:
    """From now on, and while ``redactor`` lives, log records of `LOGGERS` pass through it."""
    if not _LOG_FILTER.redactors:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            if _LOG_FILTER not in logger.filters:
                logger.addFilter(_LOG_FILTER)
    _LOG_FILTER.redactors.add(redactor)


def redact_error(redact: Redactor, error: ExportDslError) -> ExportDslError:
    """``error`` with its message and hint redacted, in place: errors are made where the secrets
    they may quote are not all known yet, and redacted where they leave the export."""
    error.message = redact(error.message)
    error.args = (error.message,)
    error.hint = redact(error.hint) if error.hint else error.hint
    return error
