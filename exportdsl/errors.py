"""Every error exportdsl raises on purpose, and the diagnostics a connector file can get.

Each error says what went wrong, where (a `Location` when there is a file), what was expected and,
where we can tell, a hint. Foreign errors (YAML, Lark, JSON, httpx, sqlite3) are converted at the
edge of the module that calls the foreign library, never left to escape as tracebacks.

The tree, with each class's code (a code has one meaning; `exportdsl rules CODE` documents it)::

    ExportDslError              XD000  the root; a connector file's errors together are one of
     |                                 its `ConnectorError`s, whose diagnostics carry the codes
     +-- LoadError              XD001  a file cannot be read as YAML/JSON
     +-- ConfigError            XD002  a connector file of the wrong shape
     +-- SettingsError          XD003  bad lint settings ([tool.exportdsl], --select, ...)
     +-- TemplateSyntaxError    XD100  a template that does not follow the language
     +-- CompileError           XD200  a template that cannot work where it stands
     |                                 (its diagnostics: XD201 and up, `compiler.rules`)
     +-- ConnectorError         XD000  all of one file's diagnostics
     +-- RenderError            XD300  a value that cannot be rendered where it lands
     |    +-- MissingValue      XD300  a referenced value is missing or null
     +-- ChatError              XD400  a chat that does not match the Smartsupp model
     +-- ExportError            XD600  the back end failed or refused the export
     |    +-- ExportDisabled    XD601  the connector has no export.url
     |    +-- TokenAnswerError  XD602  the token answer cannot be used
     |    +-- SigningError      XD603  the signing secret is missing or not a whsec_ secret
     +-- OutboxError            XD700  the queue database cannot be used
     +-- ServeError             XD701  a connector folder that cannot be served

Lint findings (XD5xx, XD900) are `Diagnostic`s only: one module a rule in `lint.rules`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from exportdsl.source import Location, Span

__all__ = [
    "ChatError",
    "Code",
    "CompileError",
    "ConfigError",
    "ConnectorError",
    "Diagnostic",
    "ExportDisabled",
    "ExportDslError",
    "ExportError",
    "LoadError",
    "MissingValue",
    "OutboxError",
    "RenderError",
    "ServeError",
    "SettingsError",
    "Severity",
    "SigningError",
    "TemplateSyntaxError",
    "TokenAnswerError",
    "closest",
    "error_classes",
]


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice a misspelt ``word`` most likely meant, for "did you mean" hints."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Code:
    """A diagnostic code: its stable name, default severity and documentation (the anti-pattern
    and the better way). Defined once, next to what reports it; `lint.registry` gathers them all."""

    code: str
    name: str
    severity: Severity
    doc: str

    def __post_init__(self) -> None:
        if not self.doc.strip():
            raise ValueError(f"code {self.code} needs documentation: its anti-pattern and the fix")

    @property
    def summary(self) -> str:
        """The documentation's first paragraph, on one line."""
        return " ".join(self.doc.strip().split("\n\n")[0].split())


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding: a stable code, a message, a place and an optional hint."""

    code: str
    message: str
    location: Location | None = None
    hint: str | None = None
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.message} [{self.code}]"

    @property
    def order(self) -> tuple[int, int, str]:
        """Sort key: file order, then code."""
        location = self.location
        return (location.line, location.column, self.code) if location else (0, 0, self.code)


class ExportDslError(Exception):
    """An error of exportdsl's own.

    The classes below have codes of their own (``code``, ``name``; `ConnectorError`, a container of
    diagnostics, keeps this one); a class's docstring is its code's documentation, shown by
    `exportdsl rules CODE`."""

    code: str = "XD000"
    name: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
        code: str | None = None,
        span: Span | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint
        self.span = span  # offsets inside one template, when the error is about a template
        if code is not None:  # a compile problem raised as an error keeps its rule's code
            self.code = code

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return (Diagnostic(self.code, self.message, self.location, self.hint),)

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        return f"{text} (hint: {self.hint})" if self.hint else text


class LoadError(ExportDslError):
    """The file cannot be read as a connector: missing, not UTF-8, too large, YAML or JSON syntax.

    Anti-pattern::

        export:
          url: https://crm.example/
           body: oops          # indented differently: a YAML syntax error

    Better: fix the file where the message points; keep connector files UTF-8, one connector each,
    well under 1 MiB. Reported by the loader, so nothing else in the file can be checked until then.
    """

    code = "XD001"
    name = "load-error"


class ConfigError(ExportDslError):
    """A connector key is unknown, missing or of the wrong type.

    Anti-pattern::

        expot:                 # a typo: the export section is silently ignored elsewhere
          url: https://crm.example/
        connector: {id: 7}     # the name is missing

    Better: the keys of README "Connector files", spelled as there (the message says "did you
    mean"). Header names must be RFC 9110 tokens, `method` one of POST, PUT, PATCH (GET too for
    the token request, without a body), `timezone` an IANA name.
    """

    code = "XD002"
    name = "config-key"


class SettingsError(ExportDslError):
    """The linter's settings cannot be used: ``[tool.exportdsl]`` in pyproject.toml, or an option.

    Anti-pattern::

        [tool.exportdsl]
        ignore = "XD506"          # a list of codes is expected: ["XD506"]

    Better: README "Linting" lists the settings. `exportdsl check` exits with 2 (a usage error).
    """

    code = "XD003"
    name = "lint-settings"


class TemplateSyntaxError(ExportDslError):
    """A template does not follow the template language.

    Anti-pattern::

        url: https://crm.example/${pdata.tenant        # '${' never closed
        body: "cost: ${ pdata.price }"                  # no spaces inside ${…}

    Better: ``${pdata.tenant}``, ``${pdata.price}``; write ``\\$`` for a literal dollar sign and
    ``#[[ … ]]#`` for text that must not be parsed at all.
    """

    code = "XD100"
    name = "syntax-error"


class CompileError(ExportDslError):
    """A template parses but cannot work where it stands: its own codes (XD201 and up) say why."""

    code = "XD200"
    name = "compile-error"


class ConnectorError(ExportDslError):
    """A connector file has one or more errors; all of them are in `diagnostics`."""

    def __init__(self, file: str, diagnostics: tuple[Diagnostic, ...]) -> None:
        count = len(diagnostics)
        super().__init__(f"{file}: {count} error{'s' if count != 1 else ''}")
        self._diagnostics = diagnostics

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return self._diagnostics

    def __str__(self) -> str:
        return "\n".join(str(d) for d in self._diagnostics)


class RenderError(ExportDslError):
    """A value cannot be rendered where it lands: missing or null, a line break in a header, a bad
    final URL, a character the body's format cannot carry. Nothing is sent.

    Better: a quiet reference (``$!{chat.visitor.email}``) for a chat value that may be missing,
    never for a credential (``$tokenResponse``, ``$env``): a quiet one that is missing sends the
    credential empty (a bare ``Bearer``) without a word; fix the name or set the variable instead.
    The message names the reference and its place in the connector file.
    """

    code = "XD300"
    name = "render-error"
    hole: int | None = None  # set while the error travels out of a plan, to locate the reference
    # the part of its request an error is about when its message names no field ("url": the URL
    # as built); the exporter places it at that field's first reference
    about: str | None = None


class MissingValue(RenderError):
    """A referenced value is missing or null. Raised where values are looked up; the plan, which
    knows the reference, words the message (`compiler.values.describe_missing`)."""

    def __init__(self, depth: int, null: bool, keys: tuple[str, ...] = ()) -> None:
        super().__init__("a referenced value is missing")
        self.depth = depth  # how many path segments (head first) exist before the first missing one
        self.null = null
        self.keys = keys  # the names the value where the path broke off does have (no values)


class ChatError(ExportDslError):
    """A chat file does not match the Smartsupp POST-hook model; the message gives the JSON path.

    Better: the chat as Smartsupp posts it (README "Variables" lists the fields); the message says
    what was expected at that path and what was found.
    """

    code = "XD400"
    name = "chat-error"

    def __init__(
        self, message: str, *, json_path: str = "", file: str | None = None, hint: str | None = None
    ) -> None:
        where = f"{json_path}: " if json_path else ""
        prefix = f"{file}: " if file else ""
        super().__init__(f"{prefix}{where}{message}", hint=hint)
        self.json_path = json_path
        self.file = file


class ExportError(ExportDslError):
    """The export failed: the back end was unreachable, timed out, redirected or refused it.
    Messages are redacted before they are made. Transient failures were retried first
    (docs/export.md). Better: the message names the phase and the answer; `exportdsl render` shows
    the requests as they would go out, and `exportdsl queue show` a delivery's last error."""

    code = "XD600"
    name = "export-failed"


class ExportDisabled(ExportError):
    """The connector has no ``export.url``, so its export is disabled (and jtel shows no Report
    Export button). Better: set ``export.url``."""

    code = "XD601"
    name = "no-export-url"


class TokenAnswerError(ExportError):
    """The token request's answer cannot be used: not a 2xx answer with a JSON or form-encoded
    body, or one holding a number no request can carry (NaN, Infinity, beyond ±1.8e308, more than
    300 digits). The message gives its status, content type, length and the field names that look
    like names, never its content, which may hold the token.

    Also the destination refusal: a report whose URL starts with a token-answer value
    (``url: $tokenResponse.body.JSON.instance_url/…``) goes only to a public address; a host that
    resolves to a loopback, link-local (the cloud metadata service), private or otherwise
    non-public address is refused unless the connector's ``allow_hosts`` admits it. The message
    names the kind of address and its ranges, never the host or the address; it is not retried.

    Better: check the token request against the token endpoint's documentation; `exportdsl render
    --token-response FILE` shows what the export would send with a given answer. For a back end
    on a private network, list its host name or CIDR range under ``allow_hosts`` (docs/export.md,
    "Destinations").
    """

    code = "XD602"
    name = "token-answer"


class SigningError(ExportError):
    """The connector signs its reports (``signing: {secret: $env.NAME}``) but the variable is not
    set, or not a ``whsec_`` secret in base64. Better: set it to the secret the back end gave."""

    code = "XD603"
    name = "signing-secret"


class OutboxError(ExportDslError):
    """The queue database cannot be used: not an exportdsl queue, unreadable, or no such chat or
    delivery. Better: point ``--db`` at the file `exportdsl serve` writes (docs/serve.md)."""

    code = "XD700"
    name = "outbox-error"


class ServeError(ExportDslError):
    """A connector folder cannot be served: no connector files, a name that cannot be part of a
    URL, or a connector without an intake secret (docs/serve.md). Better: `exportdsl check` on the
    folder first; give each connector an ``intake: {secret: $env.NAME}`` and a file name of
    letters, digits, ``.``, ``-`` and ``_`` (starting with a letter or digit)."""

    code = "XD701"
    name = "serve-error"


def error_classes() -> list[type[ExportDslError]]:
    """Every error class that defines a code of its own, root first (for the code registry)."""
    found: list[type[ExportDslError]] = []
    pending: list[type[ExportDslError]] = [ExportDslError]
    while pending:
        cls = pending.pop(0)
        if "code" in vars(cls):
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return found
