"""What an export did: each phase's requests and answer, and the outcome of the whole export.

Phases are named with the compiler's `Phase` (``token``, ``export``), the one vocabulary the
connector files, the lint messages and these results share.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

import httpx

from exportdsl.errors import ExportDslError
from exportdsl.export.redact import Redactor
from exportdsl.vocabulary import Phase

__all__ = ["Answer", "ExportResult", "PhaseResult", "decoded"]

_CHARSET = re.compile(r"""(?i);\s*charset\s*=\s*["']?([^"';\s]+)""")
# byte-order marks, the longest first (UTF-32's starts as UTF-16's does)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decoded(body: bytes, content_type: str | None) -> str:
    """An answer's body as text, read as its sender wrote it: by its byte-order mark, else by
    the charset its Content-Type declares (an unknown one, or a codec that is no text
    encoding, is ignored), else as UTF-8; bytes that do not decode as U+FFFD. A UTF-16 answer
    read as UTF-8 would hide an echoed secret between NULs, past every redaction."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(encoding, "replace")
    declared = _CHARSET.search(content_type or "")
    if declared is not None:
        try:
            return body.decode(declared.group(1), "replace")
        except LookupError:  # an unknown charset, or "base64" and its kind: not a text's
            pass
    return body.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class Answer:
    """A back end's answer, read up to `sending.MAX_ANSWER_BYTES`."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool = False

    @property
    def text(self) -> str:
        """The body as text, by its declared charset (`decoded`)."""
        return decoded(self.body, self.header("content-type"))

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


@dataclass(slots=True)
class PhaseResult:
    """What one phase did.

    Its last request and answer, how many attempts, how long (waits included).
    """

    name: Phase
    attempts: int = 0
    seconds: float = 0.0
    cached: bool = False  # the token came from the cache; nothing was sent
    request: httpx.Request | None = None
    answer: Answer | None = None
    error: httpx.TransportError | None = None  # the last attempt's, when it got no answer
    sent: list[httpx.Request] = field(default_factory=list)  # every attempt, in order

    @property
    def status(self) -> int | None:
        return self.answer.status if self.answer else None


@dataclass(slots=True)
class ExportResult:
    """One chat's export; `error` is None when the report was delivered (a 2xx answer)."""

    connector_id: int | str
    connector_name: str
    chat_id: int | str | None
    idempotency_key: str | None = None
    phases: list[PhaseResult] = field(default_factory=list)
    error: ExportDslError | None = None
    failed_phase: Phase | None = None  # the phase that was under way when the export stopped
    seconds: float = 0.0
    # what hides this export's secrets: the connector's and those the export met (its token,
    # signatures, cookies); print the result through it
    redact: Redactor = field(default_factory=Redactor, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def phase(self, name: Phase) -> PhaseResult | None:
        return next((phase for phase in self.phases if phase.name == name), None)

    def begin(self, name: Phase) -> PhaseResult:
        """The phase is under way: its result, added when it first begins. A phase that runs again
        (a fresh token after a 401) counts on in the same result."""
        self.failed_phase = name
        phase = self.phase(name)
        if phase is None:
            phase = PhaseResult(name)
            self.phases.append(phase)
        return phase
