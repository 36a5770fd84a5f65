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
import threading
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
    "SecretSet",
    "guard_logs",
    "header_secrets",
    "is_sensitive_name",
    "json_secrets",
    "redact_error",
    "release_logs",
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


class SecretSet:
    """Secrets with their forms worked out once, to hand to many redactors: a token is registered
    with every export that uses it, and working out a secret's forms costs far more than adding
    them (`Redactor.include`)."""

    __slots__ = ("forms", "secrets")

    def __init__(self, secrets: Iterable[str] = (), literals: Iterable[str] = ()) -> None:
        self.secrets: frozenset[str] = frozenset(
            value for value in (*secrets, *literals) if len(value) >= MIN_SECRET_LENGTH
        )
        forms: set[str] = set()
        for secret in secrets:
            forms |= _forms(secret) if len(secret) >= MIN_SECRET_LENGTH else set()
        for literal in literals:
            forms |= _literal_forms(literal) if len(literal) >= MIN_SECRET_LENGTH else set()
        self.forms: frozenset[str] = frozenset(forms)

    def __bool__(self) -> bool:
        return bool(self.forms)


class Redactor:
    """Collects secrets and blanks them out of text. Cheap when there is nothing to hide.

    Bounded for the life of a process: an exporter keeps one for the connector's own secrets (its
    ``$env`` values, the signing secret) and gives each export a `scope` of it, which holds what
    that export alone met (the token, signatures, the back end's cookies) and goes when the export
    is done with. No regular expression: a secret's forms are literal strings, replaced longest
    first, so adding one costs a set insertion, never a recompilation (docs/design.md §8.5).
    """

    def __init__(self, secrets: Iterable[str] = (), *, parent: Redactor | None = None) -> None:
        self.parent = parent
        self._forms: set[str] = set()
        self._secrets: set[str] = set()  # as added, so adding one again costs a set lookup
        self._version = 0  # one more at each addition
        # (version, the parent's ordered forms, every form of this one and its parents, longest
        # first): one tuple, replaced whole, so a thread that redacts a log record while the
        # export's thread adds a secret never pairs a version with forms that lack it
        self._sorted: tuple[int, tuple[str, ...], tuple[str, ...]] = (0, (), ())
        for secret in secrets:
            self.add(secret)

    def scope(self) -> Redactor:
        """A redactor that knows this one's secrets and its own: one export's, dropped with it."""
        return type(self)(parent=self)

    def knows(self, secret: str) -> bool:
        return secret in self._secrets or (self.parent is not None and self.parent.knows(secret))

    def add(self, secret: str) -> None:
        """Hide ``secret`` (and its encoded forms) from now on; too short values are ignored."""
        if len(secret) < MIN_SECRET_LENGTH or self.knows(secret):
            return
        self._secrets.add(secret)
        self._add_forms(_forms(secret))

    def add_literal(self, value: str) -> None:
        """Hide a value that never enters a template (a signature, a back end's cookie): only the
        forms an answer or a log can show it in (as is, percent-encoded, JSON-escaped)."""
        if len(value) < MIN_SECRET_LENGTH or self.knows(value):
            return
        self._secrets.add(value)
        self._add_forms(_literal_forms(value))

    def include(self, secrets: SecretSet) -> None:
        """Hide a `SecretSet`: its forms are already worked out, so this is a set union."""
        if secrets.secrets - self._secrets:
            self._secrets |= secrets.secrets
            self._add_forms(secrets.forms)

    def merge(self, other: Redactor) -> None:
        """Hide everything ``other`` hides, its parents' secrets included (to print the results
        of several exports with one redactor)."""
        layer: Redactor | None = other
        while layer is not None:
            self._secrets |= layer._secrets
            self._add_forms(layer._forms)
            layer = layer.parent

    def _add_forms(self, forms: Iterable[str]) -> None:
        new = set(forms) - self._forms
        if new:
            self._forms |= new
            self._version += 1

    def add_header(self, name: str, value: str, *, literal: bool = False) -> None:
        """A header's value when its name says it is a secret.

        The credential after an auth scheme too. ``literal``: a header of an answer (its value
        never enters a template), hidden by `add_literal`.
        """
        for secret in header_secrets(name, value):
            if literal:
                self.add_literal(secret)
            else:
                self.add(secret)

    def add_json(self, value: Any, sensitive: bool = False) -> None:
        """Every text or number below a secret-looking key of a JSON answer (access_token, ...)."""
        for secret in json_secrets(value, sensitive):
            self.add(secret)

    def __bool__(self) -> bool:
        return bool(self._forms) or (self.parent is not None and bool(self.parent))

    def ordered_forms(self) -> tuple[str, ...]:
        """Every form this redactor hides, its parents' included, longest first: a secret's base64
        is not half-replaced by a shorter form inside it. Sorted again only after an addition."""
        inherited = self.parent.ordered_forms() if self.parent is not None else ()
        version, parents, ordered = self._sorted
        if version != self._version or parents is not inherited:
            version = self._version  # read before the forms: an addition meanwhile sorts again
            ordered = tuple(sorted(self._forms.union(inherited), key=len, reverse=True))
            self._sorted = (version, inherited, ordered)
        return ordered

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for form in self.ordered_forms():
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def data(self, value: Any) -> Any:
        """A JSON-like value with every text inside redacted (keys included)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {self(str(key)): self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


def header_secrets(name: str, value: str) -> list[str]:
    """The secrets a header carries when its name says it carries any: the value, the credential
    after an auth scheme ("Bearer [REDACTED]" still says which scheme), each cookie's value."""
    if not is_sensitive_name(name):
        return []
    scheme = _AUTH_SCHEME.match(value)
    secrets = [scheme.group(1) if scheme else value]
    lowered = name.lower()
    if lowered in ("cookie", "set-cookie"):  # each cookie's value is a secret on its own
        pairs = value.split(";")[:1] if lowered == "set-cookie" else value.split(";")
        secrets += [pair.partition("=")[2].strip() for pair in pairs]
    return secrets


def json_secrets(value: Any, sensitive: bool = False) -> list[str]:
    """Every text or number below a secret-looking key (or everywhere, with ``sensitive``) of a
    JSON value, but those under keys that hold no secret (`token_type`, `expires_in`, ...)."""
    found: list[str] = []
    _collect_json(value, sensitive, found)
    return found


def _collect_json(value: Any, sensitive: bool, found: list[str]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if str(key).lower() not in _PUBLIC_KEYS:
                _collect_json(item, sensitive or is_sensitive_name(str(key)), found)
    elif isinstance(value, list):
        for item in value:
            _collect_json(item, sensitive, found)
    elif sensitive and isinstance(value, str | int | float) and not isinstance(value, bool):
        found.append(value if isinstance(value, str) else _number_text(value))


def _number_text(number: int | float) -> str:
    try:
        return str(number)
    except ValueError:  # an int beyond str()'s digit limit: no template can print it either
        return ""


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


def _literal_forms(value: str) -> set[str]:
    forms = {
        value,
        quote(value, safe=""),
        quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
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
    """Redacts the records of the loggers that may see requests (httpx logs each request's URL).

    Exports register their scope while they run and release it when done, from many threads: the
    set is copied under a lock, so no thread iterates it while another changes it."""

    def __init__(self) -> None:
        super().__init__()
        self.redactors: weakref.WeakSet[Redactor] = weakref.WeakSet()
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        with self.lock:
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
    with _LOG_FILTER.lock:
        if not _LOG_FILTER.redactors:
            for name in LOGGERS:
                logger = logging.getLogger(name)
                if _LOG_FILTER not in logger.filters:
                    logger.addFilter(_LOG_FILTER)
        _LOG_FILTER.redactors.add(redactor)


def release_logs(redactor: Redactor) -> None:
    """``redactor`` no longer sees log records: its export is over (its records went out)."""
    with _LOG_FILTER.lock:
        _LOG_FILTER.redactors.discard(redactor)


def redact_error(redact: Redactor, error: ExportDslError) -> ExportDslError:
    """``error`` with its message and hint redacted, in place: errors are made where the secrets
    they may quote are not all known yet, and redacted where they leave the export."""
    error.message = redact(error.message)
    error.args = (error.message,)
    error.hint = redact(error.hint) if error.hint else error.hint
    return error
