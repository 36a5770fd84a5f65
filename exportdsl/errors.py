"""One root error type; everything the library raises on bad input is an `ExportDslError`.

Each error says what went wrong, where (a `Location` when there is a file), what was expected
and, where we can tell, a hint. Foreign errors (YAML, Lark, JSON, httpx) are converted at the edge
of the module that calls the foreign library, never left to escape as tracebacks.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from exportdsl.source import Location, Span


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice a misspelt ``word`` most likely meant, for "did you mean" hints."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


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
    """The root of every error exportdsl raises on purpose."""

    code = "XD000"

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
        if code is not None:
            self.code = code

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return (Diagnostic(self.code, self.message, self.location, self.hint),)

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        return f"{text} (hint: {self.hint})" if self.hint else text


class LoadError(ExportDslError):
    """A file could not be read or parsed as YAML/JSON."""

    code = "XD001"


class ConfigError(ExportDslError):
    """A connector file has the wrong shape: unknown, missing or wrongly typed keys."""

    code = "XD002"


class TemplateSyntaxError(ExportDslError):
    """A template does not follow the template language."""

    code = "XD100"


class CompileError(ExportDslError):
    """A template parses but cannot work where it stands (unknown variable, wrong phase, bad body)."""

    code = "XD200"


class ConnectorError(ExportDslError):
    """A connector file has one or more errors; all of them are in `diagnostics`."""

    code = "XD000"

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
    """A value cannot be rendered where it lands (missing, null, CR/LF in a header, ...)."""

    code = "XD300"
    hole: int | None = None  # set while the error travels out of a plan, to locate the reference


class ChatError(ExportDslError):
    """A chat session file does not match the Smartsupp model; `json_path` says where."""

    code = "XD400"

    def __init__(
        self, message: str, *, json_path: str = "", file: str | None = None, hint: str | None = None
    ) -> None:
        where = f"{json_path}: " if json_path else ""
        prefix = f"{file}: " if file else ""
        super().__init__(f"{prefix}{where}{message}", hint=hint)
        self.json_path = json_path
        self.file = file


class ExportError(ExportDslError):
    """An export could not be done: disabled (no export.url), the back end unreachable or refusing,
    an unusable token answer, a missing signing secret. Messages are redacted before they are made."""

    code = "XD600"  # XD601 export disabled, XD602 unusable token answer, XD603 signing secret
